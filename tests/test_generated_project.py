"""A baked project set up as a user would on a laptop (tests/laptop.py): its setup script, its own
tests, its hooks."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.laptop import DEV_BIN, THIS_PYTHON, laptop_env, run

pytestmark = pytest.mark.xdist_group("laptop")  # one worker sets up each project once


@pytest.mark.slow
def test_setup_builds_a_venv_with_the_clusters_python(laptop_project):
    python = laptop_project / ".venv" / "bin" / "python"
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
    assert version.strip() == str(sys.version_info[:2])


@pytest.mark.slow
def test_setup_is_safe_to_run_again(laptop_project):
    again = run(["scripts/setup-laptop.sh"], laptop_project, extra_env=laptop_env(laptop_project.parent))
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.slow
def test_the_projects_own_tests_pass(laptop_project):
    result = run([".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"], laptop_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout


@pytest.mark.slow
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
    # the way on names a Python that is here (the tests' own, python3.X on PATH), never the missing one
    advice = f"for example: PYTHON=python{THIS_PYTHON} scripts/setup-laptop.sh"
    assert advice in result.stderr and f"PYTHON=python{missing}" not in result.stderr, result.stderr
    wrong = run(["scripts/setup-laptop.sh"], clone, extra_env={"PYTHON": "python3.9-nowhere"})
    assert wrong.returncode != 0 and "PYTHON=python3.9-nowhere: not found" in wrong.stderr
    assert f"python{THIS_PYTHON}" in wrong.stderr and not (clone / ".venv").exists()


@pytest.mark.slow
def test_setup_takes_torchs_cpu_build_on_a_linux_without_gpu(laptop_project):
    setup = run(["scripts/setup-laptop.sh"], laptop_project, extra_env=laptop_env(laptop_project.parent))
    pytorch = (laptop_project / "requirements.txt").read_text().count("torch") > 0
    assert ("torch's CPU build, from PyTorch's CPU index" in setup.stdout) == pytorch
    if pytorch:
        python = str(laptop_project / ".venv/bin/python")
        version = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert version.endswith("+cpu"), version


@pytest.mark.slow
def test_another_local_python_is_used_with_a_warning(bakery, tmp_path):
    """A student whose laptop lacks the cluster's Python uses another one, warned, rather than
    baking again with another cluster Python."""
    missing = next(v for v in ("3.14", "3.13", "3.12", "3.10") if not shutil.which(f"python{v}")
                   or subprocess.run([f"python{v}", "-V"], capture_output=True).returncode != 0)
    project = bakery.bake(framework="none", python_version=missing, account="def-testlab", gpus_per_node=0)
    clone = tmp_path / project.name
    shutil.copytree(project, clone)
    result = run(["scripts/setup-laptop.sh"], clone, extra_env={"PYTHON": f"python{THIS_PYTHON}"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"WARNING: .venv runs Python {THIS_PYTHON}, the cluster {missing}" in result.stdout
    # chosen once: later runs (Make it yours asks for one) need no PYTHON= again
    again = run(["scripts/setup-laptop.sh"], clone)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reusing .venv (Python {THIS_PYTHON})" in again.stdout and "WARNING: .venv runs" in again.stdout


# Names on both sides of the tests' own modules (conftest, helpers) and of the third-party ones
# (numpy, pytest, torch), in the order ruff's isort sorts them.
@pytest.mark.parametrize("package", ["abc_study", "graph_nets_for_molecules", "helios", "pandora", "zeta_study"])
@pytest.mark.parametrize("framework", ["none", "pytorch"])
def test_any_package_name_passes_the_projects_ruff(bakery, framework, package):
    project = bakery.bake(framework=framework, project_name=package.replace("_", " "), tracker="none")
    assert (project / "src" / package).is_dir()
    ruff = str(DEV_BIN / "ruff")  # the pin of the project's .pre-commit-config.yaml
    for command in ([ruff, "check", "--no-cache", "."], [ruff, "format", "--no-cache", "--check", "."]):
        result = run(command, project)
        assert result.returncode == 0, f"{package}: {' '.join(command[1:])}\n{result.stdout}{result.stderr}"
