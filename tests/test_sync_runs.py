"""scripts/sync-runs.sh: offline W&B runs uploaded from the login node, each once (issue 9).
wandb's server is out of reach here: a stand-in `wandb` records what it is asked to sync."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


@pytest.fixture
def project(bakery, tmp_path) -> Path:
    baked = bakery.bake(cluster="narval", tracker="wandb", account="def-testlab")
    clone = tmp_path / baked.name
    shutil.copytree(baked, clone)
    return clone


def stand_in_wandb(folder: Path, fail: str = "") -> Path:
    folder.mkdir()
    script = folder / "wandb"
    script.write_text(f'#!/bin/sh\necho "$*" >>"{folder}/calls"\ncase "$2" in *{fail or "NEVER"}*) exit 1 ;; esac\n')
    script.chmod(0o755)
    return folder


def sync(project: Path, runs: Path, bin_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["scripts/sync-runs.sh", str(runs)], cwd=project, env=env, capture_output=True, text=True)


def offline_runs(runs: Path, *names: str, age: float = 3600) -> None:
    """Offline run folders with a file each, last written ``age`` seconds ago."""
    for name in names:
        folder = runs / name.split("/")[0] / "wandb" / name.split("/")[1]
        folder.mkdir(parents=True)
        (folder / "run.wandb").write_bytes(b"records")
        for path in (folder / "run.wandb", folder):
            os.utime(path, (time.time() - age, time.time() - age))


def test_each_offline_run_is_uploaded_once(project, tmp_path):
    runs = tmp_path / "runs"
    offline_runs(runs, "101/offline-run-20261125_1-a", "101/offline-run-20261125_2-a", "102_3/offline-run-x-b")
    bin_dir = stand_in_wandb(tmp_path / "bin")
    first = sync(project, runs, bin_dir)
    assert first.returncode == 0, first.stderr
    assert "3 run(s) uploaded, 0 already uploaded before, 0 failed" in first.stdout
    assert len((bin_dir / "calls").read_text().splitlines()) == 3
    offline_runs(runs, "103/offline-run-new-c")
    second = sync(project, runs, bin_dir)
    assert "1 run(s) uploaded, 3 already uploaded before, 0 failed" in second.stdout
    calls = (bin_dir / "calls").read_text().splitlines()
    assert len(calls) == 4 and calls[-1] == f"sync {runs}/103/wandb/offline-run-new-c"


def test_a_failed_upload_is_tried_again(project, tmp_path):
    runs = tmp_path / "runs"
    offline_runs(runs, "101/offline-run-good-a", "102/offline-run-bad-b")
    bin_dir = stand_in_wandb(tmp_path / "bin", fail="bad")
    first = sync(project, runs, bin_dir)
    assert first.returncode == 1 and "1 run(s) uploaded, 0 already uploaded before, 1 failed" in first.stdout
    again = sync(project, runs, bin_dir)
    assert "0 run(s) uploaded, 1 already uploaded before, 1 failed" in again.stdout


def test_a_run_still_being_written_is_left_for_next_time(project, tmp_path):
    runs = tmp_path / "runs"
    offline_runs(runs, "101/offline-run-done-a")
    offline_runs(runs, "102/offline-run-busy-b", age=60)  # its job is still writing it
    bin_dir = stand_in_wandb(tmp_path / "bin")
    first = sync(project, runs, bin_dir)
    assert first.returncode == 0 and "1 run(s) uploaded, 0 already uploaded before, 0 failed" in first.stdout
    assert f"not yet {runs}/102/wandb/offline-run-busy-b: written in the last 10 minutes" in first.stdout
    assert not (runs / "102" / "wandb" / "offline-run-busy-b.synced").exists()


def test_without_wandb_it_says_what_to_activate(project, tmp_path):
    done = sync(project, tmp_path, tmp_path / "nothing")
    assert done.returncode == 1 and "activate the login-node venv first" in done.stderr


def test_only_wandb_projects_have_it(bakery):
    assert not (bakery.bake(tracker="tensorboard", account="def-testlab") / "scripts" / "sync-runs.sh").exists()
