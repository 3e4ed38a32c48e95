"""A baked project set up as a user would on a laptop: its setup script, its tests, its hooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("laptop")  # one worker sets up each project once

THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
DEV_BIN = Path(sys.executable).parent  # virtualenv, as a laptop would have it


def run(cmd, cwd, extra_env=None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{DEV_BIN}:{os.environ['PATH']}", **(extra_env or {})}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)


# torch from the machine's CPU wheel (/opt/wheels, like the local Slurm's wheelhouse): a bare range
# would download a CUDA build of several GB.
TORCH_WHEELS = Path(os.environ.get("LOCAL_SLURM_TORCH_WHEELS", "/opt/wheels"))
TORCH_PIN = next((f"torch=={w.name.split('-')[1]}" for w in sorted(TORCH_WHEELS.glob("torch-*-cp311-*.whl"))), None)


@pytest.fixture(scope="module", params=["none", "pytorch"])
def laptop_project(request, bakery, tmp_path_factory) -> Path:
    framework = request.param
    if framework == "pytorch" and (TORCH_PIN is None or THIS_PYTHON != "3.11"):
        pytest.skip(f"no local CPU torch wheel for Python {THIS_PYTHON} in {TORCH_WHEELS}")
    baked = bakery.bake(framework=framework, python_version=THIS_PYTHON, account="def-testlab", tracker="none")
    clone = tmp_path_factory.mktemp("laptop") / baked.name
    shutil.copytree(baked, clone)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=clone, check=True)
    constraints = clone.parent / "constraints.txt"
    constraints.write_text(f"{TORCH_PIN}\n" if TORCH_PIN else "")
    setup = run(["scripts/setup-laptop.sh"], clone, extra_env={"PIP_CONSTRAINT": str(constraints)})
    assert setup.returncode == 0, setup.stdout + setup.stderr
    return clone


def test_setup_builds_a_venv_with_the_clusters_python(laptop_project):
    python = laptop_project / ".venv" / "bin" / "python"
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
    assert version.strip() == str(sys.version_info[:2])


def test_setup_is_safe_to_run_again(laptop_project):
    constraints = {"PIP_CONSTRAINT": str(laptop_project.parent / "constraints.txt")}
    again = run(["scripts/setup-laptop.sh"], laptop_project, extra_env=constraints)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_projects_own_tests_pass(laptop_project):
    result = run([".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], laptop_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_the_projects_pre_commit_hooks_pass(laptop_project):
    result = run([".venv/bin/pre-commit", "run", "--all-files"], laptop_project)
    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff", "shellcheck"):
        assert hook in result.stdout.lower()
    # the template check reports, without failing a commit (tests/test_regenerate.py: behind)
    assert "template is current" in result.stdout and "up to date with the template" in result.stdout


def test_setup_names_the_missing_python(bakery, tmp_path):
    missing = next(v for v in ("3.14", "3.13", "3.12", "3.10") if not shutil.which(f"python{v}")
                   or subprocess.run([f"python{v}", "-V"], capture_output=True).returncode != 0)
    project = bakery.bake(framework="none", python_version=missing, account="def-testlab")
    clone = tmp_path / project.name
    shutil.copytree(project, clone)
    result = run(["scripts/setup-laptop.sh"], clone)
    assert result.returncode != 0
    assert f"python{missing}" in result.stdout + result.stderr
    assert not (clone / ".venv").exists()
