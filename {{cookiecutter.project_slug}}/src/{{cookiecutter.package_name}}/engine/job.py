"""The run folder under job.sh: Slurm's stop signals, the stop marker, files written whole. What
the engine uses, and what a training loop of your own (sbatch job.sh -- python my_train.py ...)
needs, in three calls:

    run = job.run_dir()            the run's folder: $JOB_RUN_DIR in a job, else ``default``
    stop = job.stop_request()      true once Slurm asked the job to stop (SIGUSR1 before the time
                                   limit, SIGTERM on scancel): look at it between two steps
    sys.exit(job.stopped(run))     once your checkpoint is saved in run/ as checkpoint.<anything>
                                   (job.atomic_write writes it whole or not at all): tells job.sh,
                                   which requeues the job; the next run resumes
"""

import atexit
import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

METRICS_NAME = "metrics.json"
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

    def install(self) -> "StopRequest":
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        # Only a plain assignment here: no I/O, no locks. The first signal is the reason.
        if self.signum is None:
            self.signum = signum

    def ignore(self) -> None:
        """From now on the stop signals are ignored: once the stop is agreed, a second signal must
        not kill the save or the shutdown (at exit, Python puts back its handlers' defaults)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "none"


def run_dir(default: str | Path = "runs/own") -> Path:
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
    """Mark the stop for job.sh (on rank 0 only); returns the exit code."""
    if is_rank_zero():
        write_json(Path(run) / STOPPED_NAME, details)
    return EXIT_REQUEUE


def is_rank_zero() -> bool:
    """Rank 0 (or a single process), by torchrun's RANK, else srun's SLURM_PROCID."""
    return os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) == "0"


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it over ``path``
    (atomic on one file system): a crash or full disk leaves the old file or the new, not a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the rename made durable, where a folder can be opened
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
