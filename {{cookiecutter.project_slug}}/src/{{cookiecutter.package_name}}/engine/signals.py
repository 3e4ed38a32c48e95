"""Stop requests from Slurm's signals: SIGUSR1 (``#SBATCH --signal``) before the time limit,
SIGTERM on scancel or preemption. The handler only records the signal; the loop acts on it between
two steps, so a signal never interrupts a half-done update or a half-written file."""

from __future__ import annotations

import signal

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
