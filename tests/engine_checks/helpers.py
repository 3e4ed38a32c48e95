"""Helpers for the engine's checks: run the training module as job.sh does, read what it leaves.

Rendered with a baked project's answers and run by tests/test_engine.py with the project's .venv;
PROJECT_ROOT is the baked project."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ["PROJECT_ROOT"])
PACKAGE = "{{ cookiecutter.package_name }}"
# 256 samples: 205 for training, so 4 steps per epoch at batch size 64, the last one of 13.
SAMPLES, BATCH_SIZE, STEPS_PER_EPOCH = 256, 64, 4
# For the runs that tests compare bit for bit{{ ": deterministic kernels" if cookiecutter.framework == "pytorch" }}.
EXACT = [{{ '"--deterministic"' if cookiecutter.framework == "pytorch" }}]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def train_command(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        f"{PACKAGE}.train",
        "--data-dir",
        str(data_dir),
        "--run-dir",
        str(run_dir),
        "--batch-size",
        str(BATCH_SIZE),
        *extra,
    ]


def run_train(
    data_dir: Path, run_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        train_command(data_dir, run_dir, *extra),
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


# Runs the training as train_command does, but raises SIGUSR1 in this process right after its
# STEPS-th optimisation step: a stop at a known step. Arguments: STEPS, then the training's.
# With CHECK_TASK, a module beside this one (text_task) first puts its task in place; 0 STEPS: no stop.
STOP_AFTER = f"""
import importlib, os, signal, sys
if os.environ.get("CHECK_TASK"):
    importlib.import_module(os.environ["CHECK_TASK"]).install()
from {PACKAGE}.engine.trainer import Trainer as Engine
from {PACKAGE}.train import main

steps, train_step = int(sys.argv[1]), Engine.train_step

def counted(self, batch):
    consumed = train_step(self, batch)
    counted.done += 1
    if counted.done == steps:
        signal.raise_signal(signal.SIGUSR1)
    return consumed

counted.done = 0
if steps:
    Engine.train_step = counted
sys.exit(main(sys.argv[2:]))
"""


def stop_after(steps: int, command: list[str]) -> list[str]:
    """``command`` (a train_command) made to stop after ``steps`` steps of this process."""
    return [sys.executable, "-c", STOP_AFTER, str(steps), *command[3:]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
