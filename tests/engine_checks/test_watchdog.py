"""The watchdog: a training whose steps stop finishing prints its stacks and asks to be requeued."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.engine.job import METRICS_NAME
from {{ cookiecutter.package_name }}.engine.trainer import Trainer
from {{ cookiecutter.package_name }}.engine.watchdog import EXIT_HUNG, HUNG_NAME
from {{ cookiecutter.package_name }}.train import EXIT_CHECKPOINTED

from helpers import EXACT, PACKAGE, child_env, lines_starting, read_metrics, train_command

# The training as train_command runs it, but its STEPS+1-th step never ends (a rank stuck in a
# collective, a read that never returns). Arguments: STEPS, then the training's.
HANG_AFTER = f"""
import sys, time
from {PACKAGE}.engine.trainer import Trainer as Engine
from {PACKAGE}.train import main

steps, train_step = int(sys.argv[1]), Engine.train_step

def hangs(self, batch):
    hangs.done += 1
    if hangs.done > steps:
        time.sleep(3600)
    return train_step(self, batch)

hangs.done = 0
Engine.train_step = hangs
sys.exit(main(sys.argv[2:]))
"""
HANG = ["--hang-minutes", "0.02"]  # 1.2 s


def hang_after(steps: int, command: list[str]) -> list[str]:
    return [sys.executable, "-c", HANG_AFTER, str(steps), *command[3:]]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=child_env(), capture_output=True, text=True, timeout=300, check=False
    )


def test_a_hung_step_prints_every_stack_and_exits_to_be_requeued(
    data_dir: Path, tmp_path: Path
) -> None:
    args = ["--epochs", "2", "--checkpoint-steps", "2", *EXACT]
    result = run(hang_after(5, train_command(data_dir, tmp_path, *args, *HANG)))
    assert result.returncode == EXIT_HUNG == EXIT_CHECKPOINTED, result.stderr
    (line,) = lines_starting(result.stderr, "WATCHDOG: rank 0: no step finished for")
    assert "(--hang-minutes 0.02)" in line
    # faulthandler's dump: the watchdog's own thread, and the main thread, stuck in the step
    assert "Thread 0x" in result.stderr and "in hangs" in result.stderr, result.stderr
    assert re.search(r"line \d+ in train$", result.stderr, re.M)  # the loop's frame
    assert json.loads((tmp_path / HUNG_NAME).read_text())["rank"] == 0
    assert (tmp_path / Trainer.CHECKPOINT_NAME).is_file() and not (tmp_path / METRICS_NAME).exists()

    # requeued (job.sh found hung.json): it resumes from the checkpoint of step 4, and ends as a
    # run that never hung
    resumed = run(train_command(data_dir, tmp_path, *args))
    assert resumed.returncode == 0, resumed.stderr
    (resuming,) = lines_starting(resumed.stdout, "resuming from")
    assert resuming.endswith("step 4)")
    uninterrupted = run(train_command(data_dir, tmp_path / "uninterrupted", *args))
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert read_metrics(tmp_path) == read_metrics(tmp_path / "uninterrupted")


def test_steps_that_keep_finishing_are_not_a_hang(data_dir: Path, tmp_path: Path) -> None:
    # each step takes 0.3 s, a quarter of the watchdog's 1.2 s, for 3 s in all
    args = ["--epochs", "2", "--step-seconds", "0.3", *HANG]
    result = run(train_command(data_dir, tmp_path, *args))
    assert result.returncode == 0, result.stderr
    assert "WATCHDOG" not in result.stderr and not (tmp_path / HUNG_NAME).exists()


def test_zero_turns_the_watchdog_off(data_dir: Path, tmp_path: Path) -> None:
    args = ["--epochs", "1", "--step-seconds", "1.5", "--hang-minutes", "0"]
    result = run(train_command(data_dir, tmp_path, *args))
    assert result.returncode == 0, result.stderr
    assert "WATCHDOG" not in result.stderr


def test_a_negative_time_is_refused(data_dir: Path, tmp_path: Path) -> None:
    result = run(train_command(data_dir, tmp_path, "--hang-minutes", "-1"))
    assert result.returncode == 2
    assert "--hang-minutes" in result.stderr.splitlines()[-1]
