"""Train what task.py describes; checkpoint on a schedule and before the time limit; resume.

    python -m {{ cookiecutter.package_name }}.train --data-dir DIR --run-dir DIR
        [--epochs 20] [--batch-size 64] [--seed 0] [--checkpoint-minutes 10]
        [--hang-minutes 30] [task.py's flags]

DIR of data is the extracted dataset archive. RUN_DIR receives a checkpoint at the end of each
epoch, every --checkpoint-minutes (or --checkpoint-steps) and on a stop signal, and metrics.json
at the end. A run resumes by itself from RUN_DIR's checkpoint, at the sample it stopped at, with
as many ranks as before or another number. {% if cookiecutter.framework == "pytorch" %}Resumed with as many, and with --deterministic both
times, it ends with the same metrics, bit for bit, as a run that was never interrupted.{% else %}It ends with the same metrics, bit for bit, as a
run that was never interrupted.{% endif %}

Exit codes:
    0  done: RUN_DIR/metrics.json is written (also when a signal came too late to matter)
    2  bad input, e.g. no train.npz in the data directory (one line on stderr says what to do)
    3  EXIT_CHECKPOINTED: SIGUSR1 or SIGTERM arrived, a checkpoint was saved at the next step
       boundary; run the same command again (requeue the job) to go on from there. Rank 0 also
       writes RUN_DIR/stopped.json then, which is what job.sh reads: with several ranks, srun may
       report another status for ranks it terminated once the first one exited.
       Also when no step finished for --hang-minutes: the watchdog (watchdog.py) printed every
       thread's stack and left RUN_DIR/hung.json; the run resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import os
{%- if cookiecutter.tracker == "wandb" %}
import re
import secrets
{%- endif %}
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import (
    METRICS_NAME,
    STOPPED_NAME,
    Progress,
    StopRequest,
    checkpoint_path,
    write_json,
)
from .data import DataError
from .watchdog import Watchdog, beat

if TYPE_CHECKING:  # imported in main(), once the signal handlers are in place
    from .engine import Engine

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CHECKPOINTED = 3  # checkpointed before the time limit: requeue me
# Settings that change neither the arithmetic nor the order of the samples: a resumed run may
# change them freely. Changing any other gives a valid run, but not the one an uninterrupted run
# would have given: the checkpoint records them, to warn.
RUN_ONLY_KEYS = {
    "data_dir",
    "run_dir",
    "checkpoint_minutes",
    "checkpoint_steps",
    "step_seconds",
    "hang_minutes",
}
{%- if cookiecutter.framework == "pytorch" %}
RUN_ONLY_KEYS |= {"workers", "check_seconds"}
{%- endif %}
{%- if cookiecutter.tracker == "wandb" %}
WANDB_PROJECT = {{ cookiecutter.project_slug | tojson }}
{%- endif %}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from . import task  # here, not at the top: main() imports it once the signal handlers are in
{%- if cookiecutter.framework == "pytorch" %}
    from .engine import default_workers
{%- endif %}

    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.train",
        description="Train task.py's model on its data; checkpoint every epoch, every "
        f"--checkpoint-minutes and on SIGUSR1/SIGTERM (then exit {EXIT_CHECKPOINTED}); "
        "resume from RUN_DIR's checkpoint.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the extracted data set")
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoint and metrics")
    parser.add_argument("--epochs", type=int, default=20, help="epochs in all (default 20)")
    parser.add_argument("--batch-size", type=int, default=64, help="per process (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
{%- if cookiecutter.framework == "pytorch" %}
    parser.add_argument(
        "--precision",
        choices=("bf16", "fp32"),
        help="bf16 autocast or plain fp32 (default: bf16 on A100, H100 and newer, else fp32)",
    )
    parser.add_argument(
        "--deterministic", action="store_true", help="the same bits run after run, more slowly"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes that load batches (default: the cores of this process but one in a job, "
        "0 outside; under torchrun, its share of the task's cores)",
    )
    parser.add_argument(
        "--check-seconds",
        type=float,
        default=1.0,
        help="with several processes, how often they agree on a stop or checkpoint (default 1)",
    )
{%- endif %}
    parser.add_argument(
        "--checkpoint-minutes", type=float, default=10.0, help="between checkpoints (default 10)"
    )
    parser.add_argument(
        "--checkpoint-steps", type=int, default=0, help="also every N steps (default 0: never)"
    )
    parser.add_argument(
        "--hang-minutes",
        type=float,
        default=30.0,
        help="end the run, to be requeued, when no step finished for this long (0: never)",
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=0.0,
        help="sleep this long after each step, to make a short run outlast a time limit in tests",
    )
    task.add_arguments(parser)
    args = parser.parse_args(argv)
    at_least_0 = [args.checkpoint_steps, args.step_seconds, args.hang_minutes]
{%- if cookiecutter.framework == "pytorch" %}
    at_least_0 += [args.workers, args.check_seconds]
{%- endif %}
    if min(args.epochs, args.batch_size) < 1 or args.checkpoint_minutes <= 0 or min(at_least_0) < 0:
        parser.error(
            "need --epochs and --batch-size >= 1, --checkpoint-minutes > 0, and --checkpoint-steps"
            ", --step-seconds, --hang-minutes{{ ", --workers, --check-seconds" if cookiecutter.framework == "pytorch" }} >= 0"
        )
    return args


def start_line(args: argparse.Namespace) -> str:
    env = os.environ
    parts = [f"start: {__package__}.train on {socket.gethostname()}, pid {os.getpid()}"]
    if env.get("SLURM_JOB_ID"):
        parts.append(f"SLURM_JOB_ID={env['SLURM_JOB_ID']}")
    parts.append(f"SLURM_RESTART_COUNT={env.get('SLURM_RESTART_COUNT', '0')}")
    parts.append(f"run_dir={args.run_dir}")
    return ", ".join(parts)


def run_config(args: argparse.Namespace, engine: Engine) -> dict[str, Any]:
    """What the checkpoint records of the settings, to warn when a resumed run changes one."""
    plain = (bool, int, float, str, type(None))  # what a checkpoint holds without pickle
    config = {
        key: value if isinstance(value, plain) else str(value)
        for key, value in vars(args).items()
        if key not in RUN_ONLY_KEYS
    }
{%- if cookiecutter.framework == "pytorch" %}
    config["precision"] = engine.precision
{%- endif %}
    return config | {"world_size": engine.world_size}


def warn_if_changed(saved: dict[str, Any], now: dict[str, Any]) -> None:
    for key in sorted(saved.keys() & now.keys()):
        if saved[key] != now[key]:
            print(
                f"warning: the checkpoint was made with {key}={saved[key]!r}, this run has "
                f"{now[key]!r}: the result will differ from an uninterrupted run",
                file=sys.stderr,
            )
{%- if cookiecutter.tracker == "tensorboard" %}


class Tracker:
    """TensorBoard event files in RUN_DIR/tensorboard: ``tensorboard --logdir runs``."""

    def __init__(self, args: argparse.Namespace, progress: Progress) -> None:
{%- if cookiecutter.framework == "pytorch" %}
        from torch.utils.tensorboard import SummaryWriter  # here: only rank 0 needs it
{%- else %}
        from tensorboardX import SummaryWriter  # here: imported only when a run starts
{%- endif %}

        # On resumption, drop what a killed run logged after its last checkpoint.
        purge_step = progress.epoch + 1 if progress.step else None
        self.writer = SummaryWriter(str(args.run_dir / "tensorboard"), purge_step=purge_step)

    def log(self, epoch: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, epoch)
        self.writer.flush()

    def close(self, finished: bool) -> None:
        self.writer.close()
{%- elif cookiecutter.tracker == "wandb" %}


def wandb_run_id(run_dir: Path) -> str:
    """One W&B run per run directory: every job that continues RUN_DIR logs to the same run."""
    id_file = run_dir / "wandb_run_id"
    if id_file.is_file():
        return id_file.read_text(encoding="utf-8").strip()
    name, job_id = run_dir.resolve().name, os.environ.get("SLURM_JOB_ID", "")
    if not (job_id and job_id in name):  # job.sh names run directories after the job
        name = f"{name}-{job_id or secrets.token_hex(4)}"
    run_id = re.sub(r"[^A-Za-z0-9_-]+", "-", name)[-64:]
    run_dir.mkdir(parents=True, exist_ok=True)
    id_file.write_text(run_id + "\n", encoding="utf-8")
    return run_id


class Tracker:
    """Weights & Biases: online, or offline when WANDB_MODE=offline (``wandb sync`` later)."""

    def __init__(self, args: argparse.Namespace, progress: Progress) -> None:
        import wandb  # here: imported only when a run starts, and only on rank 0

        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT),
            dir=str(args.run_dir),
            id=wandb_run_id(args.run_dir),
            resume="allow",
            config=config,
        )
        mode = os.environ.get("WANDB_MODE", "online")
        print(f"wandb: run {self.run.id} ({mode}), files in {args.run_dir / 'wandb'}")

    def log(self, epoch: int, metrics: dict[str, float]) -> None:
        self.run.log({"epoch": epoch, **metrics}, step=epoch)

    def close(self, finished: bool) -> None:
        if not finished and hasattr(self.run, "mark_preempting"):
            self.run.mark_preempting()  # shown as preempted, not crashed, until it resumes
        self.run.finish()
{%- endif %}


class Pacer:
    """At each step boundary, whether to stop and whether to checkpoint: the same on every rank.

    A checkpoint is due every --checkpoint-steps steps, and --checkpoint-minutes after the last
    one. The ranks learn whether any of them was asked to stop, or found a checkpoint overdue, in
    one collective that waits for the device; {% if cookiecutter.framework == "pytorch" %}with several ranks that happens about every
    --check-seconds, at a step that every rank computes alike from the agreed time per step, and a
    single process does it{% else %}a single process does it{% endif %} at every step, for free.
    """

    def __init__(
        self, args: argparse.Namespace, engine: Engine, step: int, saved_step: int | None
    ) -> None:
        self.args, self.engine = args, engine
        self.saved_step, self.saved_at = saved_step, time.monotonic()
        self.next_check = self.checked_step = step  # at the first boundary
        self.checked_at = self.saved_at

    def at_boundary(self, step: int, stop: StopRequest) -> tuple[bool, bool]:
        """(stop now, checkpoint now) before optimisation step ``step``."""
        every = self.args.checkpoint_steps
        due = every > 0 and step > 0 and step % every == 0
        if step < self.next_check:
            return False, due
        now = time.monotonic()
        steps = step - self.checked_step
        pace = (now - self.checked_at) / steps if steps else 0.0  # seconds per step
        overdue = now - self.saved_at >= 60 * self.args.checkpoint_minutes
        stop_any, overdue_any, pace = self.engine.agree([float(bool(stop)), float(overdue), pace])
        self.checked_step, self.checked_at = step, now
{%- if cookiecutter.framework == "pytorch" %}
        if self.engine.world_size > 1 and pace > 0:
            self.next_check = step + max(1, int(self.args.check_seconds / pace))
        else:
            self.next_check = step + 1
{%- else %}
        self.next_check = step + 1
{%- endif %}
        return bool(stop_any), due or bool(overdue_any)

    def saved(self, step: int) -> None:
        self.saved_step, self.saved_at = step, time.monotonic()


def train(args: argparse.Namespace, engine: Engine, stop: StopRequest) -> int:
    path = checkpoint_path(args.run_dir)
    config = run_config(args, engine)
    progress = Progress()
    saved_step: int | None = None  # the step the checkpoint on disk was taken at
    if path.is_file():
        try:
            progress, saved_config = engine.load(path)
        except Exception as exc:  # whatever makes it unreadable: say so in one line, stop
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            print(
                f"error: cannot resume from {path}: {reason}; move it away to start afresh",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        saved_step = progress.step
        if engine.is_main:
            print(f"resuming from {path} (epoch {progress.epoch}, step {progress.step})")
            warn_if_changed(saved_config, config)
    if engine.is_main:
        print(f"setup: {engine.describe()}")
{%- if cookiecutter.tracker != "none" %}
    tracker = Tracker(args, progress) if engine.is_main else None
{%- endif %}
    pacer = Pacer(args, engine, progress.step, saved_step)
    watchdog = Watchdog(60 * args.hang_minutes, args.run_dir, engine.rank).start()
    try:
        return train_loop(args, engine, stop, progress, pacer{{ ", tracker" if cookiecutter.tracker != "none" }})
    finally:
        watchdog.stop()


def train_loop(
    args: argparse.Namespace,
    engine: Engine,
    stop: StopRequest,
    progress: Progress,
    pacer: Pacer,
{%- if cookiecutter.tracker != "none" %}
    tracker: Tracker | None,
{%- endif %}
) -> int:
    path = checkpoint_path(args.run_dir)
    config = run_config(args, engine)
    while progress.epoch < args.epochs:
        started, trained = time.monotonic(), 0
        for batch in engine.batches(progress.epoch, progress.samples):
            # A step boundary: the only place where a stop or a checkpoint happens.
            stop_now, save_now = pacer.at_boundary(progress.step, stop)
            if stop_now:
                stop.ignore()
            if (stop_now or save_now) and pacer.saved_step != progress.step:
                engine.save(path, progress, config)
                pacer.saved(progress.step)
                beat()
            if stop_now:
                reason = stop.name if stop else "a signal on another rank"
                if engine.is_main:  # every rank is past the save: the checkpoint is complete
                    stopped = {"epoch": progress.epoch, "step": progress.step, "signal": reason}
                    write_json(args.run_dir / STOPPED_NAME, stopped)
                    print(
                        f"checkpoint saved: epoch {progress.epoch}, step {progress.step}, "
                        f"{path} (on {reason}); exit {EXIT_CHECKPOINTED} to be requeued"
                    )
{%- if cookiecutter.tracker != "none" %}
                if tracker:
                    tracker.close(finished=False)
{%- endif %}
                return EXIT_CHECKPOINTED
            consumed = engine.train_step(batch)
            progress.step += 1
            progress.samples += consumed
            trained += consumed
            beat()
            if args.step_seconds:
                time.sleep(args.step_seconds)
        train_loss = engine.train_loss()  # waits for the device: the epoch's steps are done
        speed = trained / (time.monotonic() - started)
        progress.metrics = {"train_loss": train_loss, **engine.evaluate()}
        beat()
        progress.epoch += 1
        progress.samples = 0
        engine.save(path, progress, config)
        pacer.saved(progress.step)
        beat()
        if engine.is_main:
            numbers = ", ".join(f"{name} {value:.4f}" for name, value in progress.metrics.items())
            print(
                f"epoch {progress.epoch}/{args.epochs}: step {progress.step}, {numbers}, "
                f"{speed:.0f} samples/s"
            )
{%- if cookiecutter.tracker != "none" %}
        if tracker:
            tracker.log(progress.epoch, progress.metrics)
{%- endif %}

    if engine.is_main:
        write_json(
            args.run_dir / METRICS_NAME,
            {"epoch": progress.epoch, "steps": progress.step, **progress.metrics},
        )
        numbers = ", ".join(f"{name} {value!r}" for name, value in progress.metrics.items())
        print(
            f"done: epoch {progress.epoch}, steps {progress.step}, {numbers}, "
            f"in {args.run_dir / METRICS_NAME}"
        )
{%- if cookiecutter.tracker != "none" %}
    if tracker:
        tracker.close(finished=True)
{%- endif %}
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    # First of all: from here on SIGUSR1 and SIGTERM ask for a checkpoint instead of killing,
    # even while the slow imports below are under way.
    stop = StopRequest().install()
    from . import task
    from .engine import Engine, process_rank

    args = parse_args(argv)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure:
        reconfigure(line_buffering=True)  # each line reaches the Slurm log at once
    if process_rank() == 0:
        print(start_line(args))
    try:
        engine = Engine(args, *task.load_datasets(args.data_dir))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        code = train(args, engine, stop)
    except BaseException:
        engine.close(clean=False)
        raise
    stop.ignore()  # done or stopped: a late signal must not kill the shutdown
    engine.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
