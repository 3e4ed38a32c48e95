"""A baked project set up as a user would on a laptop (scripts/setup-laptop.sh), once a session for
each framework: tests/test_generated_project.py, test_engine.py and test_make_it_yours.py share it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def laptop_env(folder: Path) -> dict[str, str]:
    """torch pinned to the machine's CPU wheel, and a local stand-in for PyTorch's CPU index (which
    setup-laptop.sh uses on a GPU-less Linux; download.pytorch.org is out of reach here)."""
    constraints = folder / "constraints.txt"
    constraints.write_text(f"{TORCH_PIN}\n" if TORCH_PIN else "")
    index = folder / "cpu-index" / "torch"
    index.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{w.as_uri()}">{w.name}</a>\n' for w in TORCH_WHEELS.glob("torch-*.whl"))
    (index / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return {"PIP_CONSTRAINT": str(constraints), "TORCH_INDEX_URL": (folder / "cpu-index").as_uri()}


# Each framework with a tracker, so that the trackers' own tests run too (tracker none is what the
# jobs of tests/test_jobs.py train with).
@pytest.fixture(scope="session", params=["none", "pytorch"])
def laptop_project(request, bakery, tmp_path_factory) -> Path:
    framework = request.param
    if framework == "pytorch" and (TORCH_PIN is None or THIS_PYTHON != "3.11"):
        pytest.skip(f"no local CPU torch wheel for Python {THIS_PYTHON} in {TORCH_WHEELS}")
    tracker = {"none": "tensorboard", "pytorch": "wandb"}[framework]
    baked = bakery.bake(framework=framework, python_version=THIS_PYTHON, account="def-testlab", tracker=tracker)
    clone = tmp_path_factory.mktemp("laptop") / baked.name
    shutil.copytree(baked, clone)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=clone, check=True)
    setup = run(["scripts/setup-laptop.sh"], clone, extra_env=laptop_env(clone.parent))
    assert setup.returncode == 0, setup.stdout + setup.stderr
    return clone
