"""Stop requests from Slurm's signals, and files written so that a crash never leaves half of one.

Slurm sends SIGUSR1 (``#SBATCH --signal``) some minutes before the time limit, and SIGTERM when a
job is cancelled or preempted. The handler only records the signal: the training loop looks at
the record between two optimisation steps, saves a checkpoint there and exits, so a signal never
interrupts a half-done update or a half-written file.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

CHECKPOINT_NAME = "checkpoint.{{ 'pt' if cookiecutter.framework == 'pytorch' else 'npz' }}"
METRICS_NAME = "metrics.json"
# Written by rank 0 once the checkpoint of a stop is complete on every rank: job.sh requeues the
# job when it finds this file, whatever exit status srun reports for the ranks.
STOPPED_NAME = "stopped.json"
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)


class StopRequest:
    """Set by SIGUSR1 or SIGTERM; read by the training loop at a step boundary."""

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


def checkpoint_path(run_dir: Path) -> Path:
    return run_dir / CHECKPOINT_NAME


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The previous file stays whole until the rename, which is atomic on one file system: a crash,
    a kill or a full disk at any moment leaves either the old file or the new one, never a mix.
    """
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
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (where the file system allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimisation steps completed, over all epochs
    samples: int = 0  # samples of the epoch under way consumed so far, by all ranks together
    metrics: dict[str, float] = field(default_factory=dict)  # after the last completed epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(**{f.name: data[f.name] for f in fields(cls)})
