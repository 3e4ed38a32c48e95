"""The training entry point, as job.sh uses it: runs, stops on a signal with exit 3, resumes.

A stopped-then-resumed run must end with exactly the metrics of a run never stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
{%- if cookiecutter.framework == "pytorch" %}

pytest.importorskip("torch", reason="PyTorch is not installed")
{%- endif %}

from helpers import (
    BATCH_SIZE,
    STEPS_PER_EPOCH,
    child_env,
{%- if cookiecutter.framework == "pytorch" %}
    free_port,
{%- endif %}
    lines_starting,
    read_metrics,
    run_train,
    train_command,
)
from {{ cookiecutter.package_name }} import checkpoint as checkpoint_module
from {{ cookiecutter.package_name }} import engine as engine_module
from {{ cookiecutter.package_name }} import train as train_module
from {{ cookiecutter.package_name }}.checkpoint import CHECKPOINT_NAME, STOPPED_NAME
from {{ cookiecutter.package_name }}.engine import Engine
from {{ cookiecutter.package_name }}.train import EXIT_CHECKPOINTED

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
    original = engine_module.Engine.train_step
    count = 0

    def train_step(self: Engine, index: Any) -> None:
        nonlocal count
        original(self, index)
        count += 1
        if count == steps:
            signal.raise_signal(signum)  # the handler has run when this returns

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
    assert isinstance(reference["train_loss"], float)
    assert reference["val_accuracy"] > 0.6  # three classes: chance is 1/3


def test_short_run_writes_metrics(data_dir: Path, tmp_path: Path, reference: dict) -> None:
    env = child_env(SLURM_JOB_ID="4242", SLURM_RESTART_COUNT="2")
    result = run_train(data_dir, tmp_path, "--epochs", str(EPOCHS), env=env)
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
    (start,) = lines_starting(capsys.readouterr().out, "start:")
    assert "SLURM_RESTART_COUNT=0" in start and "SLURM_JOB_ID" not in start


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
    epoch, step = divmod(done, STEPS_PER_EPOCH)
    assert resumed == f"resuming from {tmp_path / CHECKPOINT_NAME} (epoch {epoch}, step {done})"
    assert read_metrics(tmp_path) == reference


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
    (tmp_path / "metrics.json").unlink()
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"(epoch {EPOCHS}, step {STEPS})" in out
    assert not lines_starting(out, "epoch ")
    assert read_metrics(tmp_path) == reference


def start_training(
    data_dir: Path, run_dir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """A slow run (a pause after each step) in a child process, as srun would start it."""
    return subprocess.Popen(
        train_command(data_dir, run_dir, "--epochs", str(EPOCHS), "--step-seconds", "0.05"),
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
    data_dir: Path, tmp_path: Path, reference: dict[str, Any], signals: list[int]
) -> None:
    process = start_training(data_dir, tmp_path)
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

    result = run_train(data_dir, tmp_path, "--epochs", str(EPOCHS))
    assert result.returncode == 0, result.stderr
    assert len(lines_starting(result.stdout, "resuming from")) == 1
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
    original = checkpoint_module.atomic_write

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


def start_ranks(data_dir: Path, run_dir: Path, port: int, *extra: str) -> list[subprocess.Popen]:
    """Two processes of one job, with the variables srun and job.sh give them."""
    processes = []
    for rank in range(2):
        env = child_env(
            SLURM_PROCID=str(rank),
            SLURM_LOCALID=str(rank),
            SLURM_NTASKS="2",
            SLURM_CPUS_PER_TASK="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        command = train_command(data_dir, run_dir, "--epochs", str(EPOCHS), *extra)
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
    results = finish(start_ranks(data_dir, run_dir, free_port()))
    for code, out, err in results:
        assert code == 0, out + err
    return run_dir, results


def test_two_ranks_train_together(distributed_reference) -> None:
    run_dir, results = distributed_reference
    for rank, (_, out, _) in enumerate(results):
        (check,) = lines_starting(out, f"rank {rank} of 2 on ")
        assert check.endswith(": all-reduce sum 3 (expected 3)")
    (_, out0, _), (_, out1, _) = results
    assert len(lines_starting(out0, "done:")) == 1 and not lines_starting(out1, "done:")
    # 205 samples, 102 per rank: 2 steps per epoch at batch size 64
    assert read_metrics(run_dir)["steps"] == EPOCHS * 2


def test_ranks_stop_together_and_resume(
    data_dir: Path, tmp_path: Path, distributed_reference
) -> None:
    processes = start_ranks(data_dir, tmp_path, free_port(), "--step-seconds", "0.1")
    seen = "\n".join(wait_for_line(processes[0], "epoch 1/")) + "\n"
    os.kill(processes[1].pid, signal.SIGUSR1)  # rank 1 only: rank 0 must stop at the same step
    results = finish(processes, seen)
    assert [code for code, _, _ in results] == [EXIT_CHECKPOINTED] * 2, results
    (saved,) = lines_starting(results[0][1], "checkpoint saved:")
    assert "another rank" in saved
    assert not lines_starting(results[1][1], "checkpoint saved:")

    results = finish(start_ranks(data_dir, tmp_path, free_port()))
    assert [code for code, _, _ in results] == [0, 0], results
    assert len(lines_starting(results[0][1], "resuming from")) == 1
    assert read_metrics(tmp_path) == read_metrics(distributed_reference[0])
{%- endif %}
