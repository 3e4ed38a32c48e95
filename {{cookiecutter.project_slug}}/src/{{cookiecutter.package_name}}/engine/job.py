"""Slurm's stop signals and the stop marker: what the engine does with them, and what a training
loop of your own under job.sh (sbatch job.sh -- python my_train.py ...) needs, in three calls:

    run = job.run_dir()            the run's folder: $JOB_RUN_DIR in a job, else ``default``
    stop = job.stop_request()      true once Slurm asked the job to stop (SIGUSR1 before the time
                                   limit, SIGTERM on scancel): look at it between two steps
    sys.exit(job.stopped(run))     once your checkpoint is saved in run/ as checkpoint.<anything>:
                                   tells job.sh, which requeues the job; the next run resumes
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from .files import write_json

EXIT_REQUEUE = 3  # what the engine's train.py exits with after a stop
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
# Written by rank 0 once the checkpoint of a stop is complete on every rank: job.sh requeues the
# job when it finds this file, whatever exit status srun reports for the ranks.
STOPPED_NAME = "stopped.json"


class StopRequest:
    """Set by SIGUSR1 or SIGTERM. The handler only records the signal and the loop acts on it
    between two steps: a signal never interrupts a half-done update or a half-written file."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> StopRequest:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        # Only a plain assignment here: no I/O, no locks. The first signal is the reason; a
        # second one, even while a checkpoint is being written, changes nothing.
        if self.signum is None:
            self.signum = signum

    def ignore(self) -> None:
        """From now on the stop signals are ignored: the stop is agreed, and a second signal must
        not kill the shutdown (at exit, Python puts back the default action of its handlers)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "none"


def run_dir(default: str | Path = "runs/local") -> Path:
    """The run's folder, made if missing: job.sh's (the same on every requeue), else ``default``."""
    path = Path(os.environ.get("JOB_RUN_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def stop_request() -> StopRequest:
    """From now on SIGUSR1 and SIGTERM set this (``if stop:``) instead of ending the process."""
    return StopRequest().install()


def stopped(run: Path, **details: Any) -> int:
    """Mark the stop for job.sh (rank 0 only: RANK or SLURM_PROCID); returns the exit code."""
    if os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) == "0":
        write_json(Path(run) / STOPPED_NAME, details)
    return EXIT_REQUEUE
