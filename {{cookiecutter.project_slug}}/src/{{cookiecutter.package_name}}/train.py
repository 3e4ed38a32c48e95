"""Train the model on the data set from ``make_dataset``; stop cleanly before the time limit.

    python -m {{ cookiecutter.package_name }}.train --data-dir DIR --run-dir DIR
        [--epochs 20] [--batch-size 64] [--lr 0.1] [--seed 0] [--step-seconds 0.0]

DIR of data holds train.npz and val.npz. RUN_DIR receives the checkpoint after every epoch and
metrics.json at the end. A run resumes by itself from RUN_DIR's checkpoint, and ends with the
same metrics, bit for bit, as a run that was never interrupted.

Exit codes:
    0  done: RUN_DIR/metrics.json is written (also when a signal came too late to matter)
    2  bad input, e.g. no train.npz in the data directory (one line on stderr says what to do)
    3  EXIT_CHECKPOINTED: SIGUSR1 or SIGTERM arrived, a checkpoint was saved at the next step
       boundary; run the same command again (requeue the job) to go on from there. Rank 0 also
       writes RUN_DIR/stopped.json then, which is what job.sh reads: with several ranks, srun may
       report another status for ranks it terminated once the first one exited.
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
from .data import DataError, epoch_order, load_dataset, steps_per_epoch

if TYPE_CHECKING:  # imported in main(), once the signal handlers are in place
    from .engine import Engine

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CHECKPOINTED = 3  # checkpointed before the time limit: requeue me
# Settings that decide the data order or the arithmetic: changing one between a checkpoint and
# its resumption gives a valid run, but not the one an uninterrupted run would have given.
REPRODUCIBILITY_KEYS = ("seed", "batch_size", "lr", "momentum", "weight_decay", "world_size")
{%- if cookiecutter.tracker == "wandb" %}
WANDB_PROJECT = {{ cookiecutter.project_slug | tojson }}
{%- endif %}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.train",
        description="Train a small classifier; checkpoint every epoch and on SIGUSR1/SIGTERM "
        f"(then exit {EXIT_CHECKPOINTED}); resume from RUN_DIR's checkpoint.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="holds train.npz, val.npz")
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoint and metrics")
    parser.add_argument("--epochs", type=int, default=20, help="epochs in all (default 20)")
    parser.add_argument("--batch-size", type=int, default=64, help="per process (default 64)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=0.0,
        help="sleep this long after each step, to make a short run outlast a time limit in tests",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.hidden < 1 or args.step_seconds < 0:
        parser.error("--epochs, --batch-size and --hidden must be >= 1, --step-seconds >= 0")
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
    return {
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "world_size": engine.world_size,
        "hidden": args.hidden,
    }


def warn_if_changed(saved: dict[str, Any], now: dict[str, Any]) -> None:
    for key in REPRODUCIBILITY_KEYS:
        if key in saved and saved[key] != now.get(key):
            print(
                f"warning: the checkpoint was made with {key}={saved[key]!r}, this run has "
                f"{now.get(key)!r}: the result will differ from an uninterrupted run",
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


def train(args: argparse.Namespace, engine: Engine, n_train: int, stop: StopRequest) -> int:
    steps = steps_per_epoch(n_train, args.batch_size, engine.world_size)
    if steps == 0:
        print(f"error: {n_train} training samples for {engine.world_size} ranks", file=sys.stderr)
        return EXIT_BAD_INPUT
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
        print(f"setup: {engine.describe()}, {n_train} training samples")
{%- if cookiecutter.tracker != "none" %}
    tracker = Tracker(args, progress) if engine.is_main else None
{%- endif %}

    while progress.epoch < args.epochs:
        order = epoch_order(args.seed, progress.epoch, n_train, engine.rank, engine.world_size)
        while progress.batch_in_epoch < steps:
            # A step boundary: the only place a stop request is acted on.
            if engine.stop_agreed(bool(stop)):
                stop.ignore()
                if saved_step != progress.step:
                    engine.save(path, progress, config)
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
            start = progress.batch_in_epoch * args.batch_size
            engine.train_step(order[start : start + args.batch_size])
            progress.step += 1
            progress.batch_in_epoch += 1
            if args.step_seconds:
                time.sleep(args.step_seconds)
        progress.train_loss = engine.epoch_loss(steps)
        progress.val_accuracy = engine.evaluate()
        progress.epoch += 1
        progress.batch_in_epoch = 0
        engine.save(path, progress, config)
        saved_step = progress.step
        if engine.is_main:
            print(
                f"epoch {progress.epoch}/{args.epochs}: step {progress.step}, "
                f"train_loss {progress.train_loss:.4f}, val_accuracy {progress.val_accuracy:.4f}"
            )
{%- if cookiecutter.tracker != "none" %}
        if tracker:
            tracker.log(
                progress.epoch,
                {"train_loss": progress.train_loss, "val_accuracy": progress.val_accuracy},
            )
{%- endif %}

    metrics = {
        "epoch": progress.epoch,
        "steps": progress.step,
        "train_loss": progress.train_loss,
        "val_accuracy": progress.val_accuracy,
    }
    if engine.is_main:
        write_json(args.run_dir / METRICS_NAME, metrics)
        print(
            f"done: epoch {progress.epoch}, steps {progress.step}, "
            f"train_loss {progress.train_loss!r}, val_accuracy {progress.val_accuracy!r}, "
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
    from .engine import Engine, process_rank

    args = parse_args(argv)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure:
        reconfigure(line_buffering=True)  # each line reaches the Slurm log at once
    if process_rank() == 0:
        print(start_line(args))
    try:
        data = load_dataset(args.data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine = Engine(args, data)
    try:
        code = train(args, engine, len(data.train.y), stop)
    except BaseException:
        engine.close(clean=False)
        raise
    stop.ignore()  # done or stopped: a late signal must not kill the shutdown
    engine.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
