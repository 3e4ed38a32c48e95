"""The training entry point, as job.sh uses it: runs, stops on a signal with exit 3, resumes.

A stopped-then-resumed run must end with exactly the metrics of a run never stopped.
"""

from __future__ import annotations

import argparse
import json
import os
{%- if cookiecutter.framework == "pytorch" %}
import re
{%- endif %}
import shutil
import signal
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
{%- if cookiecutter.framework == "pytorch" %}

torch = pytest.importorskip("torch", reason="PyTorch is not installed")
{%- endif %}

from {{ cookiecutter.package_name }} import task
from {{ cookiecutter.package_name }} import train as train_module
from {{ cookiecutter.package_name }}.engine import checkpoint as checkpoint_module
from {{ cookiecutter.package_name }}.engine import trainer as engine_module
from {{ cookiecutter.package_name }}.engine.checkpoint import Checkpointer, Progress
from {{ cookiecutter.package_name }}.engine.job import STOPPED_NAME, StopRequest
{%- if cookiecutter.framework == "pytorch" %}
from {{ cookiecutter.package_name }}.engine import ranks as ranks_module
from {{ cookiecutter.package_name }}.engine.ranks import Topology, gpu_index
{%- endif %}
from {{ cookiecutter.package_name }}.engine.trainer import Trainer as Engine
from {{ cookiecutter.package_name }}.train import EXIT_CHECKPOINTED

CHECKPOINT_NAME = Engine.CHECKPOINT_NAME

from helpers import (
    BATCH_SIZE,
    EXACT,
    STEPS_PER_EPOCH,
    child_env,
{%- if cookiecutter.framework == "pytorch" %}
    free_port,
{%- endif %}
    lines_starting,
    read_metrics,
    run_train,
{%- if cookiecutter.framework == "pytorch" %}
    stop_after,
{%- endif %}
    train_command,
)

EPOCHS = 4
STEPS = EPOCHS * STEPS_PER_EPOCH


def train_args(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "--data-dir",
        str(data_dir),
        "--run-dir",
        str(run_dir),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(BATCH_SIZE),
        *EXACT,
        *extra,
    ]


def run_in_process(argv: list[str]) -> int:
    """train.main() in this process; pytest's own signal handlers are put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    try:
        return train_module.main(argv)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def signal_after_steps(monkeypatch: pytest.MonkeyPatch, steps: int, signum: int) -> None:
    """From now on, the ``steps``-th training step of a run sends ``signum`` to this process."""
    original = Engine.train_step
    count = 0

    def train_step(self: Engine, batch: Any) -> int:
        nonlocal count
        consumed = original(self, batch)
        count += 1
        if count == steps:
            signal.raise_signal(signum)  # the handler has run when this returns
        return consumed

    monkeypatch.setattr(Engine, "train_step", train_step)


def signal_during_save(monkeypatch: pytest.MonkeyPatch, nth: int, signum: int) -> None:
    """The ``nth`` checkpoint written from now on gets ``signum`` halfway through its writing."""
    original = engine_module.atomic_write
    count = 0

    def atomic_write(path: Path, write: Any) -> None:
        nonlocal count
        count += 1
        if count != nth:
            return original(path, write)

        def interrupted_write(f: Any) -> None:
            f.write(b"")  # the temporary file is open, the old checkpoint still in place
            signal.raise_signal(signum)
            write(f)

        return original(path, interrupted_write)

    monkeypatch.setattr(engine_module, "atomic_write", atomic_write)


@pytest.fixture(scope="module")
def reference(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The metrics of a run that nothing interrupts."""
    run_dir = tmp_path_factory.mktemp("reference")
    assert run_in_process(train_args(data_dir, run_dir)) == 0
    return read_metrics(run_dir)


def test_reference_run_learns(reference: dict[str, Any]) -> None:
    assert reference["epoch"] == EPOCHS
    assert reference["steps"] == STEPS
    numbers = ["epoch", "steps", "train_loss", "val_accuracy", "val_loss"]
    assert sorted(reference) == sorted([*numbers, "settings"])
    assert reference["val_accuracy"] > 0.6  # three classes: chance is 1/3
    assert reference["train_loss"] < 1.0  # chance: ln 3 = 1.1


def test_short_run_writes_metrics(data_dir: Path, tmp_path: Path, reference: dict) -> None:
    env = child_env(SLURM_JOB_ID="4242", SLURM_RESTART_COUNT="2")
    result = run_train(data_dir, tmp_path, "--epochs", str(EPOCHS), *EXACT, env=env)
    assert result.returncode == 0, result.stderr
    (start,) = lines_starting(result.stdout, "start:")
    assert "SLURM_JOB_ID=4242" in start and "SLURM_RESTART_COUNT=2" in start
    assert len(lines_starting(result.stdout, "done:")) == 1
    assert not lines_starting(result.stdout, "resuming from")
    # a fresh process computes the very same numbers as the in-process reference run
    assert read_metrics(tmp_path) == reference
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    assert not (tmp_path / STOPPED_NAME).exists(), "stopped.json means a stop, not the end"
    assert not list(tmp_path.glob(".*.tmp"))


def test_start_line_defaults(data_dir: Path, tmp_path: Path, capsys, reference: dict) -> None:
    assert run_in_process(train_args(data_dir, tmp_path, "--epochs", "1")) == 0
    out = capsys.readouterr().out
    (start,) = lines_starting(out, "start:")
    assert "SLURM_RESTART_COUNT=0" in start and "SLURM_JOB_ID" not in start
{%- if cookiecutter.framework == "pytorch" %}
    (setup,) = lines_starting(out, "setup:")
    assert "device cpu, precision fp32," in setup and ", 0 loader workers," in setup


def test_bf16_autocast_on_request(data_dir: Path, tmp_path: Path, capsys) -> None:
    assert run_in_process(train_args(data_dir, tmp_path, "--precision", "bf16")) == 0
    assert "precision bf16," in capsys.readouterr().out
    assert read_metrics(tmp_path)["val_accuracy"] > 0.6


def test_loader_workers_from_the_tasks_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")
    assert train_module.parse_args(["--data-dir", "d", "--run-dir", "r"]).workers == 7


def test_torchrun_processes_share_the_tasks_cores() -> None:
    # srun -c 96 torchrun --nproc-per-node 8: 12 cores each, not 96 threads and 95 workers each
    torchrun = {"SLURM_CPUS_PER_TASK": "96", "TORCHELASTIC_RUN_ID": "x", "LOCAL_WORLD_SIZE": "8"}
    assert ranks_module.cpu_threads(torchrun) == 12
    assert ranks_module.default_workers(torchrun) == 11
    assert ranks_module.cpu_threads({"SLURM_CPUS_PER_TASK": "6"}) == 6
    assert ranks_module.default_workers({}) == 0  # outside a job


def test_another_world_size_takes_the_learning_rate_of_the_share_done(
    data_dir: Path, tmp_path: Path
) -> None:
    """Two ranks stopped one step into epoch 2 (their step 3 of 8); one rank goes on at its step
    6 of 16, the same share of the training, with the learning rate of that step."""
    args = train_module.parse_args(train_args(data_dir, tmp_path))
    two = Engine(args, *task.load_datasets(data_dir))
    with pytest.warns(UserWarning):  # scheduler steps without optimiser steps: on purpose here
        for _ in range(3):
            two.scheduler.step()
    path = tmp_path / CHECKPOINT_NAME
    progress = Progress(epoch=1, step=3, samples=2 * BATCH_SIZE)
    two.save(path, {"progress": asdict(progress)})
    saved = torch.load(path, weights_only=True)
    saved["ranks"] = saved["ranks"] * 2  # as two ranks leave it
    torch.save(saved, path)

    one = Engine(args, *task.load_datasets(data_dir))
    one.restore(Engine.read(path), progress)
    total = EPOCHS * STEPS_PER_EPOCH
    share_done = (1 * STEPS_PER_EPOCH + 2) / total
    assert one.optimizer.param_groups[0]["lr"] == pytest.approx(
        args.lr * 0.5 * (1 + np.cos(np.pi * share_done))
    )
    assert one.scheduler.last_epoch == 6
    one.scheduler.step()  # and the schedule goes on from there
    assert one.optimizer.param_groups[0]["lr"] == pytest.approx(
        args.lr * 0.5 * (1 + np.cos(np.pi * 7 / total))
    )
{%- endif %}


@pytest.mark.parametrize(
    "stops",
    [
        [1],  # in the first epoch
        [STEPS_PER_EPOCH + 1],  # in the middle of the second epoch
        [2 * STEPS_PER_EPOCH],  # on the last step of an epoch
        [3, 3, 3, 3, 3],  # again and again
    ],
    ids=["first-step", "mid-epoch", "epoch-end", "repeatedly"],
)
def test_stopped_and_resumed_run_matches(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, Any],
    stops: list[int],
) -> None:
    done = 0
    for steps in stops:
        signal_after_steps(monkeypatch, steps, signal.SIGUSR1)
        assert run_in_process(train_args(data_dir, tmp_path)) == EXIT_CHECKPOINTED
        done += steps
        out = capsys.readouterr().out
        (saved,) = lines_starting(out, "checkpoint saved:")
        assert f"step {done}," in saved and "SIGUSR1" in saved
        assert not (tmp_path / "metrics.json").exists()
    monkeypatch.undo()
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    out = capsys.readouterr().out
    (resumed,) = lines_starting(out, "resuming from")
    epoch = done // STEPS_PER_EPOCH
    assert resumed == f"resuming from {tmp_path / CHECKPOINT_NAME} (epoch {epoch}, step {done})"
    assert read_metrics(tmp_path) == reference


{%- if cookiecutter.framework == "pytorch" %}


def test_a_checkpoint_of_an_older_format_is_refused_in_one_line(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    signal_after_steps(monkeypatch, STEPS_PER_EPOCH + 1, signal.SIGUSR1)
    assert run_in_process(train_args(data_dir, tmp_path)) == EXIT_CHECKPOINTED
    monkeypatch.undo()
    path = tmp_path / CHECKPOINT_NAME
    torch.save(torch.load(path, weights_only=True) | {"format": 3}, path)
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path)) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert "format 3 of an older version" in error and "RUN_ID=<new name>" in error
{%- endif %}


def test_second_signal_during_the_save_loses_nothing(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, Any],
) -> None:
    signal_after_steps(monkeypatch, 6, signal.SIGUSR1)
    # saves: end of epoch 1, then the one SIGUSR1 asks for, which SIGTERM interrupts
    signal_during_save(monkeypatch, 2, signal.SIGTERM)
    assert run_in_process(train_args(data_dir, tmp_path)) == EXIT_CHECKPOINTED
    out = capsys.readouterr().out
    (saved,) = lines_starting(out, "checkpoint saved:")
    assert "step 6," in saved
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    monkeypatch.undo()
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    assert "(epoch 1, step 6)" in capsys.readouterr().out
    assert read_metrics(tmp_path) == reference


def test_signal_during_an_epoch_save_stops_at_the_next_step(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, Any],
) -> None:
    signal_during_save(monkeypatch, 2, signal.SIGUSR1)  # the checkpoint of epoch 2
    assert run_in_process(train_args(data_dir, tmp_path)) == EXIT_CHECKPOINTED
    (saved,) = lines_starting(capsys.readouterr().out, "checkpoint saved:")
    assert f"epoch 2, step {2 * STEPS_PER_EPOCH}," in saved
    monkeypatch.undo()
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    assert read_metrics(tmp_path) == reference


def test_signal_after_the_last_step_still_finishes(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, Any],
) -> None:
    signal_during_save(monkeypatch, EPOCHS, signal.SIGTERM)  # the final checkpoint
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    out = capsys.readouterr().out
    assert not lines_starting(out, "checkpoint saved:")
    assert len(lines_starting(out, "done:")) == 1
    assert read_metrics(tmp_path) == reference


def test_finished_run_is_not_trained_again(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: dict
) -> None:
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    written = (tmp_path / "metrics.json").read_bytes()
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"(epoch {EPOCHS}, step {STEPS})" in out and "done already" in out
    assert not lines_starting(out, "epoch ")
    assert (tmp_path / "metrics.json").read_bytes() == written  # not even rewritten
    assert read_metrics(tmp_path) == reference
    assert read_metrics(tmp_path)["settings"]["lr"] == 0.1  # what the numbers were made with


@pytest.mark.parametrize(
    "changed, named",
    [
        (("--lr", "0.01"), "--lr: 0.1 in the checkpoint, 0.01 now"),
        (("--seed", "1", "--batch-size", "32"), "--batch-size: 64 in the checkpoint, 32 now; "),
        (("--epochs", "2"), f"--epochs: {EPOCHS} in the checkpoint, 2 now"),
    ],
    ids=["lr", "seed-and-batch-size", "fewer-epochs"],
)
def test_a_run_with_other_settings_refuses_to_start_in_the_folder(
    data_dir: Path, tmp_path: Path, monkeypatch, capsys, changed: tuple[str, ...], named: str
) -> None:
    """Runs never mix: a stopped run started again with another hyperparameter trains nothing,
    writes nothing, and says which flags differ and the two ways on."""
    signal_after_steps(monkeypatch, STEPS_PER_EPOCH + 1, signal.SIGUSR1)
    assert run_in_process(train_args(data_dir, tmp_path)) == EXIT_CHECKPOINTED
    monkeypatch.undo()
    checkpoint = (tmp_path / CHECKPOINT_NAME).read_bytes()
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path, *changed)) == 2
    out, err = capsys.readouterr()
    (error,) = err.splitlines()
    assert named in error
    assert "RUN_ID=<new name>" in error and "another --run-dir" in error
    assert not lines_starting(out, "epoch ") and not (tmp_path / "metrics.json").exists()
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == checkpoint


def test_other_data_is_refused_and_the_same_data_elsewhere_is_not(
    data_dir: Path, tmp_path: Path, monkeypatch, capsys, reference: dict
) -> None:
    """The data is known by its files' names and sizes: the same archive extracted in another
    folder (another job's $SLURM_TMPDIR) goes on; other data is refused."""
    run_dir = tmp_path / "run"
    signal_after_steps(monkeypatch, STEPS_PER_EPOCH + 1, signal.SIGUSR1)
    assert run_in_process(train_args(data_dir, run_dir)) == EXIT_CHECKPOINTED
    monkeypatch.undo()
    other = shutil.copytree(data_dir, tmp_path / "other")
    (other / "notes.txt").write_text("one more file\n")
    capsys.readouterr()
    assert run_in_process(train_args(other, run_dir)) == 2
    assert "the data: " in capsys.readouterr().err
    same = shutil.copytree(data_dir, tmp_path / "elsewhere")
    assert run_in_process(train_args(same, run_dir)) == 0
    assert read_metrics(run_dir) == reference


def test_more_epochs_go_on_with_the_longer_schedule(
    data_dir: Path, tmp_path: Path, capsys, reference: dict
) -> None:
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path, "--epochs", str(EPOCHS + 1))) == 0
    assert "going on to --epochs" in capsys.readouterr().out
    metrics = read_metrics(tmp_path)
    assert metrics["epoch"] == EPOCHS + 1 and metrics["settings"]["epochs"] == EPOCHS + 1


def start_training(
    data_dir: Path, run_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """A slow run (a pause after each step) in a child process, as srun would start it."""
    return subprocess.Popen(
        train_command(data_dir, run_dir, "--epochs", str(EPOCHS), "--step-seconds", "0.05", *extra),
        env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], prefix: str) -> list[str]:
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line starting {prefix!r}: {lines} {process.stderr.read()}")


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGUSR1], [signal.SIGTERM], [signal.SIGUSR1, signal.SIGTERM]],
    ids=["SIGUSR1", "SIGTERM", "SIGUSR1-then-SIGTERM"],
)
def test_signalled_process_exits_3_and_resumes(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, Any],
    signals: list[int],
) -> None:
    process = start_training(data_dir, tmp_path, *EXACT)
    try:
        lines = wait_for_line(process, "epoch 1/")
        for signum in signals:
            os.kill(process.pid, signum)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    lines += out.splitlines()
    assert process.returncode == EXIT_CHECKPOINTED, err
    (saved,) = lines_starting("\n".join(lines), "checkpoint saved:")
    assert str(tmp_path / CHECKPOINT_NAME) in saved
    assert not (tmp_path / "metrics.json").exists()
    stopped = json.loads((tmp_path / STOPPED_NAME).read_text(encoding="utf-8"))
    assert f"step {stopped['step']}," in saved and stopped["signal"] == signals[0].name

    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    assert len(lines_starting(capsys.readouterr().out, "resuming from")) == 1
    assert read_metrics(tmp_path) == reference


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.08])
def test_a_signal_while_shutting_down_after_a_stop_is_ignored(
    data_dir: Path, tmp_path: Path, delay: float
) -> None:
    """srun terminates the other ranks once one exits 3, and Slurm may signal again: a signal
    that comes after "checkpoint saved", while the process shuts down, must not kill it."""
    process = start_training(data_dir, tmp_path)
    try:
        wait_for_line(process, "epoch 1/")
        os.kill(process.pid, signal.SIGUSR1)
        wait_for_line(process, "checkpoint saved:")
        time.sleep(delay)
        for _ in range(3):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
            time.sleep(0.01)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == EXIT_CHECKPOINTED, err
    assert (tmp_path / STOPPED_NAME).is_file()


def test_missing_data_says_how_to_make_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "no-data"
    result = run_train(data_dir, tmp_path / "run")
    assert result.returncode == 2
    (message,) = result.stderr.strip().splitlines()  # one line, no traceback
    assert "train.npz" in message and str(data_dir) in message
    assert ".make_dataset" in message
    assert not (tmp_path / "run").exists()


def test_incomplete_data_dir_names_the_missing_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train.npz").write_bytes((data_dir / "train.npz").read_bytes())
    assert run_in_process(train_args(tmp_path, tmp_path / "run")) == 2
    (message,) = capsys.readouterr().err.strip().splitlines()
    assert message.startswith("error: no val.npz in data directory")


def test_unreadable_checkpoint_is_reported(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    assert run_in_process(train_args(data_dir, tmp_path)) == 2
    assert "cannot resume from" in capsys.readouterr().err


def test_checkpoint_is_written_atomically(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Each checkpoint goes through atomic_write; a failed write keeps the previous checkpoint."""
    calls = []
    original = engine_module.atomic_write

    def failing_third_write(path: Path, write: Any) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk quota exceeded")
        original(path, write)

    monkeypatch.setattr(engine_module, "atomic_write", failing_third_write)
    with pytest.raises(OSError, match="quota"):
        run_in_process(train_args(data_dir, tmp_path))
    assert calls == [tmp_path / CHECKPOINT_NAME] * 3
    monkeypatch.undo()
    # the checkpoint of epoch 2 is intact: the run resumes from it
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    assert read_metrics(tmp_path)["steps"] == STEPS


def test_checkpoints_every_n_steps_and_resumes_after_a_crash(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, Any],
) -> None:
    """With --checkpoint-steps 3, a crash in the 8th step loses 2: the run resumes from step 6,
    LR schedule included, and ends as if nothing had happened."""
    original = Engine.train_step
    count = 0

    def crashing_train_step(self: Engine, batch: Any) -> int:
        nonlocal count
        count += 1
        if count == 8:
            raise RuntimeError("the node went down")
        return original(self, batch)

    monkeypatch.setattr(Engine, "train_step", crashing_train_step)
    with pytest.raises(RuntimeError, match="node went down"):
        run_in_process(train_args(data_dir, tmp_path, "--checkpoint-steps", "3"))
    monkeypatch.undo()
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path, "--checkpoint-steps", "3")) == 0
    assert "(epoch 1, step 6)" in capsys.readouterr().out
    assert read_metrics(tmp_path) == reference


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class Recorder:
    """A trainer that records the collectives the checkpointer asks for, and saves nothing."""

    CHECKPOINT_NAME = "checkpoint"

    def __init__(self, world_size: int) -> None:
        self.world_size, self.calls = world_size, 0

    def save(self, path: Path, common: dict[str, Any]) -> None:
        pass

    def agree(self, values: list[float]) -> list[float]:
        self.calls += 1
        return values


def pace(world_size: int, steps: int, stop_at: int, monkeypatch, **options: float):
    """Steps of 0.125 s through a Checkpointer: the steps where it checked, stopped and saved."""
    clock = FakeClock()
    monkeypatch.setattr(checkpoint_module, "time", clock)
    settings = {"check_seconds": 1.0, "checkpoint_minutes": 10.0, "checkpoint_steps": 0, "run_dir": Path("run")}
    engine, stop = Recorder(world_size), StopRequest()
    args = argparse.Namespace(**(settings | options))
    checkpointer = Checkpointer(engine, {}, args)
    checks, stops, saves = [], [], []
    for step in range(steps):
        if step == stop_at:
            stop.signum = signal.SIGUSR1
        calls = engine.calls
        stop_now, save_now = checkpointer.due(step, stop)
        checks += [step] if engine.calls > calls else []
        stops += [step] if stop_now else []
        if save_now:
            saves.append(step)
            checkpointer.save(Progress(step=step))
        clock.now += 0.125
    return checks, stops, saves
{%- if cookiecutter.framework == "pytorch" %}


def test_ranks_compare_notes_about_every_check_seconds(monkeypatch) -> None:
    checks, stops, saves = pace(2, 40, 12, monkeypatch, checkpoint_minutes=0.05)
    # 8 steps a second once the time per step is known; the stop waits for the next check
    assert checks == [0, 1, 9, 17, 25, 33]
    assert stops == [17, 25, 33]
    assert saves == [25]  # the first check 3 s (0.05 minutes) after the start
{%- endif %}


def test_one_process_looks_at_every_step_for_free(monkeypatch) -> None:
    checks, stops, saves = pace(1, 40, 12, monkeypatch, checkpoint_minutes=0.05)
    assert checks == list(range(40))
    assert stops == list(range(12, 40))
    assert saves == [24]  # 3 s after the start


def test_checkpoints_every_n_steps_without_a_check(monkeypatch) -> None:
    assert pace(4, 20, 99, monkeypatch, checkpoint_steps=6)[2] == [6, 12, 18]


def test_no_timed_checkpoint_with_checkpoint_minutes_0(monkeypatch) -> None:
    """0 turns the timed saves off, as 0 does for --checkpoint-steps (not: a save at every step)."""
    assert pace(1, 40, 99, monkeypatch, checkpoint_minutes=0)[2] == []


def model_numbers(data_dir: Path, run_dir: Path) -> tuple[np.ndarray, dict[str, float]]:
    """Under the model of run_dir's checkpoint: each training sample's loss, and the
    validation metrics that one process computes."""
    train_set, val_set = task.load_datasets(data_dir)
    engine = Engine(train_module.parse_args(train_args(data_dir, run_dir)), train_set, val_set)
    checkpoint = Engine.read(run_dir / CHECKPOINT_NAME)
    engine.restore(checkpoint, Progress(**checkpoint["progress"]))
{%- if cookiecutter.framework == "pytorch" %}
    inputs, targets = train_set.tensors
    with torch.no_grad():
        losses = task.metrics(engine.model(inputs), targets)["loss"].numpy()
{%- else %}
    losses = engine.model.metrics(train_set.x, train_set.y)["loss"]
{%- endif %}
    return losses.astype(np.float64), engine.evaluate()


def test_the_epoch_loss_is_a_mean_over_samples(data_dir: Path, tmp_path: Path) -> None:
    """At lr 0 the model stays as it started, and the epoch's loss is then the mean loss of the
    training samples: the short last batch (13 of 205) weighs 13/205, not a quarter."""
    assert run_in_process(train_args(data_dir, tmp_path, "--lr", "0", "--epochs", "1")) == 0
    losses, val = model_numbers(data_dir, tmp_path)
    metrics = read_metrics(tmp_path)
    assert metrics["train_loss"] == pytest.approx(losses.mean(), rel=1e-6)
    assert metrics["val_loss"] == val["val_loss"] and metrics["val_accuracy"] == val["val_accuracy"]
{%- if cookiecutter.framework == "pytorch" %}


def test_the_loss_sum_resumes_to_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Losses added up three at a time here, and a state saved after any step: loaded again, it
    adds up the same groups as a sum never saved, to the last bit, with a short batch between.
    The losses after the first are a quarter of the last bit of its float64 sum: added up one by
    one they vanish, three at a time they count, so any other grouping changes the total."""
    monkeypatch.setattr(engine_module.LossSum, "GROUP", 3)
    means = torch.tensor([1.0] + [2.0**-54] * 12)
    sizes = [64] * 7 + [13] + [64] * 5

    def summed(losses: engine_module.LossSum, start: int, stop: int) -> engine_module.LossSum:
        for mean, size in zip(means[start:stop], sizes[start:stop], strict=True):
            losses.add(mean, size)
        return losses

    cpu = torch.device("cpu")
    whole = summed(engine_module.LossSum(cpu), 0, len(sizes))
    total = whole.total().item()
    assert total > 64.0  # the small ones count
    for stop in range(len(sizes) + 1):
        resumed = engine_module.LossSum(cpu)
        resumed.load(summed(engine_module.LossSum(cpu), 0, stop).state())
        summed(resumed, stop, len(sizes))
        assert (resumed.total().item(), resumed.count) == (total, whole.count), stop
{%- endif %}
{%- if cookiecutter.tracker == "tensorboard" %}


def test_tensorboard_event_files(data_dir: Path, tmp_path: Path) -> None:
{%- if cookiecutter.framework == "pytorch" %}
    pytest.importorskip("tensorboard")
{%- else %}
    pytest.importorskip("tensorboardX")
{%- endif %}
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
{%- elif cookiecutter.tracker == "wandb" %}


def test_wandb_offline_run_keeps_its_id_across_resumption(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    # In child processes: wandb reads WANDB_MODE once per process (the other tests disable it).
    offline = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}  # as job.sh without internet
    process = start_training(data_dir, tmp_path, env=child_env(SLURM_JOB_ID="777", **offline))
    try:
        wait_for_line(process, "epoch 1/")
        os.kill(process.pid, signal.SIGUSR1)
        process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == EXIT_CHECKPOINTED
    run_id = (tmp_path / "wandb_run_id").read_text(encoding="utf-8").strip()
    assert run_id == f"{tmp_path.name}-777"
    # the requeued job, or a new job on the same run directory, logs to the same W&B run
    env = child_env(SLURM_JOB_ID="778", **offline)
    result = run_train(data_dir, tmp_path, "--epochs", str(EPOCHS), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "wandb_run_id").read_text(encoding="utf-8").strip() == run_id
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs and all(r.name.endswith(run_id) for r in runs)
{%- endif %}
{%- if cookiecutter.framework == "pytorch" %}


# Two ranks at batch size 16: 204 of the 205 samples, in 7 steps per epoch (6 of 32, one of 12).
TWO_RANKS = ("--batch-size", "16")


def start_ranks(
    data_dir: Path,
    run_dir: Path,
    *extra: str,
    world: int = 2,
    stop_last_after: int = 0,
    task: str = "",
) -> list[subprocess.Popen]:
    """The processes of one job, with the variables srun and job.sh give them. With
    ``stop_last_after``, the last rank raises SIGUSR1 after that many steps; with ``task``, each
    trains that module's task (helpers.STOP_AFTER)."""
    port, processes = str(free_port()), []
    checks = os.pathsep.join([str(Path(__file__).parent), child_env()["PYTHONPATH"]])
    for rank in range(world):
        env = child_env(
            CHECK_TASK=task,
            PYTHONPATH=checks,
            SLURM_PROCID=str(rank),
            SLURM_LOCALID=str(rank),
            SLURM_NTASKS=str(world),
            SLURM_NTASKS_PER_NODE=str(world),
            SLURM_CPUS_PER_TASK="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        command = train_command(data_dir, run_dir, "--epochs", str(EPOCHS), *extra)
        stops = stop_last_after if rank == world - 1 else 0
        if stops or task:
            command = stop_after(stops, command)
        processes.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    return processes


def finish(processes: list[subprocess.Popen], seen: str = "") -> list[tuple[int, str, str]]:
    results = []
    try:
        for i, process in enumerate(processes):
            out, err = process.communicate(timeout=300)
            results.append((process.returncode, (seen if i == 0 else "") + out, err))
    finally:
        for process in processes:
            process.kill()
    return results


@pytest.fixture(scope="module")
def distributed_reference(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("distributed")
    results = finish(start_ranks(data_dir, run_dir, *TWO_RANKS, *EXACT))
    for code, out, err in results:
        assert code == 0, out + err
    return run_dir, results


def test_two_ranks_train_together(distributed_reference) -> None:
    run_dir, results = distributed_reference
    for rank, (_, out, _) in enumerate(results):
        (check,) = lines_starting(out, f"rank {rank} of 2 on ")
        assert check.endswith(": all-reduce sum 3 (expected 3)")
    (_, out0, _), (_, out1, _) = results
    assert "world size 2, backend gloo" in out0
    assert len(lines_starting(out0, "done:")) == 1 and not lines_starting(out1, "done:")
    assert read_metrics(run_dir)["steps"] == EPOCHS * 7


def test_ranks_stop_together_and_resume(
    data_dir: Path, tmp_path: Path, distributed_reference
) -> None:
    """A signal to one rank: both stop at the same step, the next check (about a second later)."""
    processes = start_ranks(data_dir, tmp_path, *TWO_RANKS, *EXACT, "--step-seconds", "0.1")
    seen = "\n".join(wait_for_line(processes[0], "epoch 1/")) + "\n"
    os.kill(processes[1].pid, signal.SIGUSR1)  # rank 1 only: rank 0 must stop at the same step
    results = finish(processes, seen)
    assert [code for code, _, _ in results] == [EXIT_CHECKPOINTED] * 2, results
    (saved,) = lines_starting(results[0][1], "checkpoint saved:")
    assert "another rank" in saved
    assert not lines_starting(results[1][1], "checkpoint saved:")

    results = finish(start_ranks(data_dir, tmp_path, *TWO_RANKS, *EXACT))
    assert [code for code, _, _ in results] == [0, 0], results
    assert len(lines_starting(results[0][1], "resuming from")) == 1
    assert read_metrics(tmp_path) == read_metrics(distributed_reference[0])


def test_four_ranks_stopped_mid_run_resume_bit_for_bit(data_dir: Path, tmp_path: Path) -> None:
    """With more than 2 ranks the order of a gradient sum shows in the bits: a resumed run must
    sum as the uninterrupted one did (DDP's bucket layout, see engine/trainer.py)."""
    four = ("--batch-size", "16", "--epochs", "2", "--check-seconds", "0", *EXACT)
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    results = finish(start_ranks(data_dir, whole, *four, world=4))
    assert [code for code, _, _ in results] == [0] * 4, results
    results = finish(start_ranks(data_dir, stopped, *four, world=4, stop_last_after=4))
    assert [code for code, _, _ in results] == [EXIT_CHECKPOINTED] * 4, results
    results = finish(start_ranks(data_dir, stopped, *four, world=4))
    assert [code for code, _, _ in results] == [0] * 4, results
    assert read_metrics(stopped) == read_metrics(whole)


def saved_position(run_dir: Path) -> tuple[int, int, int]:
    progress = torch.load(run_dir / CHECKPOINT_NAME, weights_only=True)["progress"]
    return progress["epoch"], progress["step"], progress["samples"]


# At lr 0 the model stays as it started: each sample's loss is known, and an epoch's loss tells
# which samples it was trained on.
FROZEN = ("--lr", "0", "--batch-size", "16", "--epochs", "2", "--check-seconds", "0")


def test_two_ranks_resumed_by_one_go_on_from_the_same_sample(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = finish(start_ranks(data_dir, tmp_path, *EXACT, *FROZEN, stop_last_after=9))
    assert [code for code, _, _ in results] == [EXIT_CHECKPOINTED] * 2, results
    assert saved_position(tmp_path) == (1, 9, 2 * 32)  # 2 steps into the second epoch
    assert run_in_process(train_args(data_dir, tmp_path, *FROZEN)) == 0
    assert "resuming 2 ranks' run with 1" in capsys.readouterr().out
    metrics = read_metrics(tmp_path)
    assert metrics["steps"] == 9 + 9  # the 141 samples left, 16 at a time
    losses, _ = model_numbers(data_dir, tmp_path)
    # every sample once: the two ranks' 64, then all the rest
    assert metrics["train_loss"] == pytest.approx(losses.mean(), rel=1e-6)


def test_one_rank_resumed_by_two_goes_on_from_the_same_sample(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal_after_steps(monkeypatch, 16, signal.SIGUSR1)  # 13 steps per epoch of 205 samples
    assert run_in_process(train_args(data_dir, tmp_path, *FROZEN)) == EXIT_CHECKPOINTED
    monkeypatch.undo()
    assert saved_position(tmp_path) == (1, 16, 3 * 16)
    results = finish(start_ranks(data_dir, tmp_path, *EXACT, *FROZEN))
    assert [code for code, _, _ in results] == [0, 0], results
    assert "resuming 1 ranks' run with 2" in results[0][1]
    metrics = read_metrics(tmp_path)
    assert metrics["steps"] == 16 + 5  # 156 of the 157 left: 4 steps of 2 x 16, one of 2 x 14
    order = np.random.default_rng([0, 1]).permutation(205)  # the second epoch's, at seed 0
    losses, val = model_numbers(data_dir, tmp_path)
    assert metrics["train_loss"] == pytest.approx(losses[order[: 48 + 156]].mean(), rel=1e-6)
    # each rank evaluated half of the validation set: added up, one process's numbers
    assert metrics["val_accuracy"] == val["val_accuracy"]
    assert metrics["val_loss"] == pytest.approx(val["val_loss"], rel=1e-6)


def test_torchrun_ranks_win_over_the_slurm_job_they_run_in() -> None:
    slurm = {"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NTASKS": "2"}
    torchrun = {"TORCHELASTIC_RUN_ID": "1", "RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}
    assert Topology.from_env(slurm | torchrun | {"LOCAL_WORLD_SIZE": "2"}) == Topology(3, 1, 4, 2)
    assert Topology.from_env(slurm | {"SLURM_NTASKS_PER_NODE": "2"}) == Topology(0, 0, 2, 2)
    assert Topology.from_env({"RANK": "1", "WORLD_SIZE": "2"}) == Topology(1, 0, 2, 1)
    assert Topology.from_env({}) == Topology(0, 0, 1, 1)


def test_torchrun_inside_a_slurm_job(data_dir: Path, tmp_path: Path) -> None:
    """torchrun's two processes inherit the job's SLURM_PROCID=0: they must not both be rank 0."""
    command = train_command(data_dir, tmp_path, "--epochs", "1")
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = child_env(SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NTASKS="2", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [command[0], *torchrun, *command[1:]], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # (the processes share torchrun's output: their lines may run into each other)
    assert sorted(re.findall(r"rank (\d) of 2 on ", result.stdout)) == ["0", "1"], result.stdout
    assert read_metrics(tmp_path)["steps"] == 2  # 204 samples, 64 + 38 per rank


@pytest.mark.parametrize(
    "local_rank, tasks, visible, on_node, gpu",
    [(0, 1, 1, 1, 0), (3, 4, 4, 4, 3), (1, 2, 8, 8, 1), (2, 4, 1, 4, 0)],
    ids=["one", "all-visible", "fewer-tasks", "one-each-by-slurm"],
)
def test_each_task_gets_a_gpu_of_its_own(local_rank, tasks, visible, on_node, gpu) -> None:
    assert gpu_index(local_rank, tasks, visible, on_node) == gpu


@pytest.mark.parametrize("tasks, visible, on_node", [(4, 2, 2), (2, 1, 1), (4, 2, 4)])
def test_more_tasks_than_gpus_fail_with_the_numbers(tasks, visible, on_node) -> None:
    expected = f"{tasks} tasks on this node for {on_node} GPUs [(]{visible} visible"
    for local_rank in range(tasks):
        with pytest.raises(RuntimeError, match=expected):
            gpu_index(local_rank, tasks, visible, on_node)
{%- endif %}
