"""Your task, trained as job.sh trains it: whatever task.py holds, these should pass.

They train on the data of tests/conftest.py's ``data_dir``: yours once data/dataset.tar is.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import task
from {{ cookiecutter.package_name }}.train import EXIT_BAD_INPUT, EXIT_CHECKPOINTED, parse_args

from helpers import child_env, read_metrics, stop_after, train_command

# Small batches: several steps per epoch even on a few samples, so a run can stop inside one.
# {{ "--deterministic: the same bits run after run, for the runs compared bit for bit." if cookiecutter.framework == "pytorch" else "NumPy runs give the same bits run after run." }}
SETTINGS = ("--batch-size", "4", "--epochs", "2"{{ ', "--deterministic"' if cookiecutter.framework == "pytorch" }})


def train(data_dir: Path, run_dir: Path, *extra: str, stop: int = 0) -> subprocess.CompletedProcess:
    command = train_command(data_dir, run_dir, *SETTINGS, *extra)
    if stop:
        command = stop_after(stop, command)
    return subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def finished(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that nothing interrupted."""
    run_dir = tmp_path_factory.mktemp("finished")
    done = train(data_dir, run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir


def test_the_data_loads(data_dir: Path) -> None:
    train_set, val_set = task.load_datasets(data_dir)
    assert len(train_set) > 0 and len(val_set) > 0


def test_the_flags_parse(data_dir: Path, tmp_path: Path) -> None:
    args = parse_args(["--data-dir", str(data_dir), "--run-dir", str(tmp_path)])
    assert args.epochs > 0 and args.batch_size > 0
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0


def test_a_run_trains_and_reports_its_metrics(finished: Path) -> None:
    metrics = read_metrics(finished)
    assert metrics["epoch"] == 2
    numbers = [v for k, v in metrics.items() if k == "train_loss" or k.startswith("val_")]
    assert len(numbers) > 1 and all(math.isfinite(v) for v in numbers), metrics


def test_a_stopped_run_resumes_to_the_same_numbers(
    data_dir: Path, tmp_path: Path, finished: Path
) -> None:
    """Stopped after its third step, as before a time limit, then started again: it ends with
    the numbers of the run nothing stopped (random draws in task.py included)."""
    stopped = train(data_dir, tmp_path, stop=3)
    assert stopped.returncode == EXIT_CHECKPOINTED, stopped.stdout + stopped.stderr
    resumed = train(data_dir, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from" in resumed.stdout
    assert read_metrics(tmp_path) == read_metrics(finished)


def test_a_run_with_another_seed_refuses_the_folder(data_dir: Path, finished: Path) -> None:
    """Runs never mix: another seed into the same run folder trains nothing and says why."""
    before = (finished / "metrics.json").read_bytes()
    again = train(data_dir, finished, "--seed", "1")
    assert again.returncode == EXIT_BAD_INPUT
    assert "--seed: 0 in the checkpoint, 1 now" in again.stderr
    assert (finished / "metrics.json").read_bytes() == before
