"""engine/job.py: what a training loop of the user's own needs to live under job.sh."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.engine import job

from helpers import PACKAGE, child_env


def test_the_run_folder_is_job_shs_in_a_job_and_the_default_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOB_RUN_DIR", raising=False)
    assert job.run_dir() == Path("runs/own") and (tmp_path / "runs/own").is_dir()
    monkeypatch.setenv("JOB_RUN_DIR", str(tmp_path / "runs" / "1234"))
    assert job.run_dir("ignored") == tmp_path / "runs" / "1234"
    assert (tmp_path / "runs" / "1234").is_dir()


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_a_stop_signal_is_recorded_not_fatal(signum: int) -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    try:
        stop = job.stop_request()
        assert not stop
        signal.raise_signal(signum)  # would end the process without the request
        assert stop and stop.name == signal.Signals(signum).name
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_the_stop_marker_is_rank_0s_and_the_exit_code_asks_for_a_requeue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("SLURM_PROCID", "1")
    assert job.stopped(tmp_path, step=7) == 3
    assert not (tmp_path / "stopped.json").exists()
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert job.stopped(tmp_path, step=7) == job.EXIT_REQUEUE == 3
    assert json.loads((tmp_path / "stopped.json").read_text()) == {"step": 7}


def test_a_stop_signal_as_the_script_exits_cannot_kill_it(tmp_path: Path) -> None:
    """At exit the stop signals are ignored (SIG_IGN, which Python's shutdown keeps), not handed
    back to their fatal default: a warning coming as a finished training exits leaves it done."""
    script = tmp_path / "ends.py"
    script.write_text(
        "import atexit, signal\n"
        "stops = (signal.SIGUSR1, signal.SIGTERM)\n"
        "atexit.register(lambda: print([signal.getsignal(s) == signal.SIG_IGN for s in stops]))\n"
        f"from {PACKAGE}.engine import job\n"
        "job.stop_request()\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=child_env(), check=True)
    assert done.stdout == "[True, True]\n", done.stdout + done.stderr
