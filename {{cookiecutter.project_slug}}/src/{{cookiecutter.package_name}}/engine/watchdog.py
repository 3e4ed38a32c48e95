"""A watchdog for hung jobs, which would otherwise burn their whole allocation.

When no step finished for --hang-minutes (the loop calls ``beat()`` after each step, evaluation
and checkpoint), it prints every thread's Python stack, leaves HUNG_NAME in the run folder and
exits 3: job.sh requeues the job, which resumes from its last checkpoint. When a C extension hangs
holding the GIL, which this thread needs, faulthandler's backstop does it a minute later (exit 1).
"""

import faulthandler
import os
import sys
import threading
import time
from pathlib import Path

from .job import EXIT_REQUEUE, write_json

# Written by any rank whose watchdog fired: job.sh requeues the job when it finds this file.
HUNG_NAME = "hung.json"
EXIT_HUNG = EXIT_REQUEUE  # as a checkpointed stop: requeue me
BACKSTOP_SECONDS = 60.0  # after the watchdog's deadline, faulthandler's, for a held GIL
# faulthandler writes to a file descriptor, which sys.stderr may not have (pytest's capture)
STACKS = sys.__stderr__

_last_beat = time.monotonic()


def beat() -> None:
    """A step (or an evaluation, or a checkpoint) finished: the job is alive."""
    global _last_beat
    _last_beat = time.monotonic()


class Watchdog:
    """Started once per process, before the first step; ``seconds`` 0 turns it off."""

    def __init__(self, seconds: float, run_dir: Path, rank: int) -> None:
        self.seconds, self.run_dir, self.rank = seconds, run_dir, rank
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def start(self) -> "Watchdog":
        if self.seconds > 0:
            beat()
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._done.set()
            self._thread.join()
        faulthandler.cancel_dump_traceback_later()

    def _watch(self) -> None:
        while True:
            idle = time.monotonic() - _last_beat
            if idle >= self.seconds:
                self.fire(f"no step finished for {idle:.0f} s")
            # the backstop follows the beats: it fires only if this thread cannot run
            deadline = self.seconds - idle + BACKSTOP_SECONDS
            faulthandler.dump_traceback_later(deadline, exit=True, file=STACKS)
            if self._done.wait(min(self.seconds / 4, 15.0)):
                return

    def fire(self, reason: str) -> None:
        """Print every thread's stack, leave the marker, and end the process: requeue me."""
        print(
            f"WATCHDOG: rank {self.rank}: {reason} (--hang-minutes {self.seconds / 60:g}); the "
            f"Python stack of every thread follows, then exit {EXIT_HUNG} to be requeued",
            file=sys.stderr,
            flush=True,
        )
        faulthandler.dump_traceback(file=STACKS, all_threads=True)
        STACKS.flush()
        try:
            write_json(self.run_dir / HUNG_NAME, {"rank": self.rank, "reason": reason})
        finally:
            os._exit(EXIT_HUNG)  # the hung thread cannot be interrupted: end the process
