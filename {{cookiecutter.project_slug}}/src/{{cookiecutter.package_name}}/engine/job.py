"""For a training loop of your own under job.sh (sbatch job.sh -- python my_train.py ...): what
the engine does with Slurm's stop signals, in three calls.

    run = job.run_dir()            the run's folder: $JOB_RUN_DIR in a job, else ``default``
    stop = job.stop_request()      true once Slurm asked the job to stop (SIGUSR1 before the time
                                   limit, SIGTERM on scancel): look at it between two steps
    sys.exit(job.stopped(run))     once your checkpoint is saved in run/ as checkpoint.<anything>:
                                   tells job.sh, which requeues the job; the next run resumes
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from .files import STOPPED_NAME, write_json
from .signals import StopRequest

EXIT_REQUEUE = 3  # what the engine's train.py exits with after a stop


def run_dir(default: str | Path = "runs/local") -> Path:
    """The run's folder, made if missing: job.sh's (the same on every requeue), else ``default``."""
    path = Path(os.environ.get("JOB_RUN_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def stop_request() -> StopRequest:
    """From now on SIGUSR1 and SIGTERM set this (``if stop:``) instead of ending the process, and
    once the script exits they are ignored: Python would put back their fatal default as it ends,
    and a warning that comes just as the training ends would kill it (a failure, not a done run)."""
    request = StopRequest().install()
    atexit.register(request.ignore)
    return request


def stopped(run: Path, **details: Any) -> int:
    """Mark the stop for job.sh (rank 0 only: RANK or SLURM_PROCID); returns the exit code."""
    if os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) == "0":
        write_json(Path(run) / STOPPED_NAME, details)
    return EXIT_REQUEUE
