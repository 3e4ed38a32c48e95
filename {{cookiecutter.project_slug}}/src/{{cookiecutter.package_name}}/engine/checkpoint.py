"""The run's checkpoint: when one is due, and whether this run may go on from it.

When: each epoch's end, a stop, every --checkpoint-steps steps and --checkpoint-minutes; the ranks
agree on it in one collective, at every step for one process, about every --check-seconds for
several. Whether: runs never mix; a run goes on only from a checkpoint of the same settings and
data, or with more --epochs (the run-only flags and the number of ranks may change).
"""

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .job import StopRequest
from .watchdog import beat

FORMAT = 4  # 4: the settings include the data's fingerprint
NEW_RUN = "train into a new run folder (another --run-dir; on the cluster RUN_ID=<new name>)"


class Refusal(Exception):
    """This run must not start (one-line message): exit 2."""


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimisation steps completed, over all epochs
    samples: int = 0  # samples of the epoch under way consumed so far, by all ranks together
    metrics: dict[str, float] = field(default_factory=dict)  # after the last completed epoch


def data_fingerprint(data_dir: Path, train_samples: int, val_samples: int) -> str:
    """The same for the same archive extracted anywhere: the files' names and sizes, not paths."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(data_dir).as_posix()}\0{path.stat().st_size}\n".encode())
    return f"{train_samples} + {val_samples} samples, files {digest.hexdigest()[:12]}"


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Each setting that makes this run another one than the checkpoint's, in words."""
    found = []
    for key in sorted(saved.keys() | now.keys()):
        old, new = saved.get(key, "absent"), now.get(key, "absent")
        if old == new or (key == "epochs" and new > old):  # more epochs: going on on purpose
            continue
        name = "the data" if key == "data" else "--" + key.replace("_", "-")
        found.append(f"{name}: {old} in the checkpoint, {new} now")
    return found


class Checkpointer:
    def __init__(self, trainer: Any, settings: dict[str, Any], args: Any) -> None:
        self.path = args.run_dir / trainer.CHECKPOINT_NAME
        self.trainer, self.settings = trainer, settings
        self.every_steps, self.every_seconds = args.checkpoint_steps, 60 * args.checkpoint_minutes
        self.check_seconds = getattr(args, "check_seconds", 0.0)
        self.saved: tuple[int, int] | None = None  # (epoch, step) of the checkpoint on disk
        self.saved_at = self.checked_at = time.monotonic()
        self.checked_step = self.next_check = 0

    def resume(self) -> Progress:
        """Where the run in the folder stands (nowhere without a checkpoint), its state restored."""
        if not self.path.is_file():
            return Progress()
        try:
            checkpoint = self.trainer.read(self.path)
        except Exception as exc:  # whatever makes it unreadable: say so in one line
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise Refusal(f"cannot resume from {self.path}: {reason}; move it away") from None
        if checkpoint.get("format") != FORMAT:
            raise Refusal(
                f"{self.path} is in format {checkpoint.get('format')} of an older version, this "
                f"code reads format {FORMAT}: {NEW_RUN}"
            )
        changed = differences(checkpoint["settings"], self.settings)
        if changed:
            raise Refusal(
                f"{self.path.parent} holds another run, and runs never mix: {'; '.join(changed)}:"
                f" {NEW_RUN}, or go on with the checkpoint's settings (--epochs may grow: the run"
                " goes on, its schedule following the longer run)"
            )
        progress = Progress(**checkpoint["progress"])
        if self.trainer.is_main:
            print(f"resuming from {self.path} (epoch {progress.epoch}, step {progress.step})")
            if checkpoint["settings"]["epochs"] < self.settings["epochs"]:
                print(f"going on to --epochs {self.settings['epochs']}, with the longer schedule")
        self.trainer.restore(checkpoint, progress)
        self.saved = (progress.epoch, progress.step)
        self.checked_step = self.next_check = progress.step
        return progress

    def due(self, step: int, stop: StopRequest) -> tuple[bool, bool]:
        """*Collective.* Before ``step``: (stop now, save now), the same on every rank."""
        due = self.every_steps > 0 and step > 0 and step % self.every_steps == 0
        if step < self.next_check:
            return False, due
        now = time.monotonic()
        steps = step - self.checked_step
        pace = (now - self.checked_at) / steps if steps else 0.0  # seconds per step
        overdue = self.every_seconds > 0 and now - self.saved_at >= self.every_seconds
        stop_any, overdue_any, pace = self.trainer.agree([float(bool(stop)), float(overdue), pace])
        self.checked_step, self.checked_at = step, now
        self.next_check = step + 1
        if self.trainer.world_size > 1 and pace > 0:
            self.next_check = step + max(1, int(self.check_seconds / pace))
        return bool(stop_any), due or bool(overdue_any)

    def save(self, progress: Progress) -> None:
        """*Collective.* Write the checkpoint, unless the one on disk is already at ``progress``."""
        if self.saved == (progress.epoch, progress.step):
            return
        common = {"format": FORMAT, "progress": asdict(progress), "settings": self.settings}
        self.trainer.save(self.path, common)
        self.saved, self.saved_at = (progress.epoch, progress.step), time.monotonic()
        beat()
