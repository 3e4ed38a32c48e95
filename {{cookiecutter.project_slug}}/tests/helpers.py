"""Helpers for the tests: run the training as job.sh does, and read what it leaves."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a training started by a test: the package from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


def train_command(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        f"{PACKAGE}.train",
        *("--data-dir", str(data_dir), "--run-dir", str(run_dir)),
        *extra,
    ]


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


# Runs the training as train_command does, but raises SIGUSR1 in this process right after its
# STEPS-th optimisation step: a stop at a known step. Arguments: STEPS, then the training's.
STOP_AFTER = f"""
import signal, sys
from {PACKAGE}.engine.trainer import Trainer
from {PACKAGE}.train import main

steps, train_step = int(sys.argv[1]), Trainer.train_step

def counted(self, batch):
    consumed = train_step(self, batch)
    counted.done += 1
    if counted.done == steps:
        signal.raise_signal(signal.SIGUSR1)
    return consumed

counted.done = 0
Trainer.train_step = counted
sys.exit(main(sys.argv[2:]))
"""


def stop_after(steps: int, command: list[str]) -> list[str]:
    """``command`` (a train_command) made to stop after ``steps`` steps of this process."""
    return [sys.executable, "-c", STOP_AFTER, str(steps), *command[3:]]
