"""Jobs on the local Slurm, as a lab submits them: baked projects in their own folders, their
datasets where the README puts them, job.sh submitted unchanged. Shared by the job tests."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import recipes
from tests.bakery import answers, resolve

ACCOUNT = "def-testlab"
FAST = {"account": ACCOUNT, "python_version": "3.11", "gpus_per_node": 0, "cpus_per_task": 1, "mem": "2G"}
# About 100 s of training: longer than what a 2-minute limit leaves once the venv is built and the
# warning comes 30 s before the limit (local Slurm checks limits every ~30 s, so it may come earlier).
SLOW = ["--epochs", "12", "--step-seconds", "1.2"]


@dataclass
class Submitted:
    project: Path
    job_id: str
    log: Path
    answers: dict
    extra: dict = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def make_dataset(project: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    package = resolve_package(project)
    subprocess.run(
        [sys.executable, "-m", f"{package}.make_dataset", str(archive)],
        cwd=project, env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"}, check=True,
    )


def resolve_package(project: Path) -> str:
    return answers(project)["package_name"]


def dataset_path(slurm, answers: dict) -> Path:
    """Where the generated README tells the user to put the archive: their own folder of the
    group's project space."""
    user_dir = slurm.home / "projects" / answers["account"] / getpass.getuser()
    return user_dir / answers["project_slug"] / "data" / "dataset.tar"


class Lab:
    """Bakes projects into their own folders (a user's clone each) and submits their job.sh."""

    def __init__(self, slurm, bakery, root: Path):
        self.slurm, self.bakery, self.root = slurm, bakery, root

    def project(self, name: str, **overrides) -> tuple[Path, dict]:
        answers = resolve({"project_name": name, **overrides})
        baked = self.bakery.bake(project_name=name, **overrides)
        clone = self.root / name.replace(" ", "_")
        shutil.copytree(baked, clone, symlinks=True)
        return clone, answers

    def submit(self, project: Path, answers: dict, args=(), *, dataset=True, **kw) -> Submitted:
        if dataset:
            archive = dataset_path(self.slurm, answers)
            if not archive.exists():
                make_dataset(project, archive)
        job_id = self.slurm.submit(project / "job.sh", cwd=project, args=list(args), **kw)
        return Submitted(project, job_id, project / f"{answers['project_slug']}-{job_id}.out", answers)

    def results(self, sub: Submitted, run_id: str | None = None) -> Path:
        return self.slurm.scratch / sub.answers["project_slug"] / "runs" / (run_id or sub.job_id)


@pytest.fixture(scope="module")
def lab(slurm, bakery, tmp_path_factory):
    lab = Lab(slurm, bakery, tmp_path_factory.mktemp("clones"))
    wheel_reqs = tmp_path_factory.mktemp("reqs") / "extra.txt"
    # and the recipes' Lightning and Transformers (tests/recipes.py), never in a default requirements.txt
    wheel_reqs.write_text("pip\n" + "".join(recipes.REQUIREMENTS.values()))
    none, _ = lab.project("wheel none", framework="none", **FAST)
    torch_, _ = lab.project("wheel torch", framework="pytorch", **FAST)
    slurm.wheelhouse(none / "requirements.txt", torch_ / "requirements.txt", wheel_reqs)
    return lab


def finished(slurm, sub: Submitted, timeout: float = 600) -> dict:
    result = slurm.wait(sub.job_id, timeout=timeout)
    print(sub.log_text())
    return result


def when(condition, timeout: float = 300, poll: float = 0.2) -> bool:
    """Wait until ``condition()`` holds: True, or False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def metrics(path: Path) -> dict:
    return json.loads((path / "metrics.json").read_text())
