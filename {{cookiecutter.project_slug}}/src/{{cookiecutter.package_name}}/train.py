"""Train what task.py describes; checkpoint on a schedule and before the time limit; resume.

    python -m {{ cookiecutter.package_name }}.train --data-dir DIR --run-dir DIR [--epochs 20] [...]

--run-dir receives a checkpoint at each epoch's end, every --checkpoint-minutes and on a stop
signal, and metrics.json at the end. Started again, a run goes on from its checkpoint with any
number of ranks, or refuses one of other settings or data (runs never mix). Resumed with as many
ranks, it ends with the metrics of a run never stopped, bit for bit (PyTorch: --deterministic).

Exit codes:
    0  done: RUN_DIR/metrics.json is written (also when a signal came too late to matter)
    2  bad input or refused, one line on stderr says why: no data, or a checkpoint of another run
    3  checkpointed on SIGUSR1 or SIGTERM, RUN_DIR/stopped.json written: run it again (requeue);
       or hung (no step for --hang-minutes): the stacks printed, RUN_DIR/hung.json written
"""

import os
import sys

if not __package__:  # run as a file: the package's imports below would fail with a traceback
    package = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(f"error: run the training as a module: python -m {package}.train --help")

import argparse  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from .engine import DataError, at_least, job  # noqa: E402
from .engine.checkpoint import Checkpointer, Progress, Refusal, data_fingerprint  # noqa: E402
from .engine.job import METRICS_NAME, StopRequest, write_json  # noqa: E402
from .engine.tracker import Tracker  # noqa: E402
from .engine.watchdog import Watchdog, beat  # noqa: E402

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # bad input, or a start refused
EXIT_CHECKPOINTED = job.EXIT_REQUEUE  # checkpointed before the time limit: requeue me


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from . import task  # here, not at the top: main() imports it once the signal handlers are in
    from .engine import trainer

    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.train",
        description="Train task.py's model on its data; checkpoint every epoch, every "
        f"--checkpoint-minutes and on SIGUSR1/SIGTERM (then exit {EXIT_CHECKPOINTED}); "
        "go on from RUN_DIR's checkpoint when there is one.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run_only = parser.add_argument_group("settings a resumed run may change")  # not the others
    flag, run_flag = parser.add_argument, run_only.add_argument
    run_flag("--data-dir", type=Path, required=True, help="the extracted data set")
    run_flag("--run-dir", type=Path, required=True, help="checkpoint and metrics")
    flag("--epochs", type=at_least(1, int), default=20, help="epochs in all")
    flag("--batch-size", type=at_least(1, int), default=64, help="samples per step and process")
    flag("--seed", type=int, default=0, help="random seed")
    run_flag("--checkpoint-minutes", type=at_least(0, float), default=10.0, help="0: off")
    run_flag("--checkpoint-steps", type=at_least(0, int), default=0, help="also every N steps")
    run_flag("--hang-minutes", type=at_least(0, float), default=30.0, help="no step: requeue")
    run_flag("--step-seconds", type=at_least(0, float), default=0.0, help="sleep after each step")
    trainer.add_arguments(parser, run_only)
    task.add_arguments(parser)
    args = parser.parse_args(argv)
    args.run_only = [action.dest for action in run_only._group_actions]
    return args


def run_settings(args: argparse.Namespace, train_set, val_set) -> dict:
    """What makes the run this run: every flag but the run-only ones, and the data."""
    plain = (bool, int, float, str, type(None))  # what a checkpoint holds without pickle
    flags = {k: v for k, v in vars(args).items() if k not in args.run_only and k != "run_only"}
    settings = {k: v if isinstance(v, plain) else str(v) for k, v in flags.items()}
    data = data_fingerprint(args.data_dir, len(train_set), len(val_set))
    return settings | {"data": data}


def train(
    args, trainer, checkpointer: Checkpointer, progress: Progress, stop: StopRequest, tracker=None
) -> int:
    """The loop: epochs of steps; between two steps, a stop or a checkpoint when one is due."""
    while progress.epoch < args.epochs:
        started, first = time.monotonic(), progress.samples
        for batch in trainer.batches(progress.epoch, progress.samples):
            stop_now, save_now = checkpointer.due(progress.step, stop)
            if stop_now:
                stop.ignore()  # the stop is agreed: a second signal must not kill the save
                checkpointer.save(progress)
                report_stop(args, trainer, checkpointer, progress, stop)
                if tracker:
                    tracker.close(finished=False)
                return EXIT_CHECKPOINTED
            if save_now:
                checkpointer.save(progress)
            progress.samples += trainer.train_step(batch)  # by all ranks
            progress.step += 1
            beat()
            if args.step_seconds:
                time.sleep(args.step_seconds)
        train_loss = trainer.train_loss()  # waits for the device: the epoch's steps are done
        speed = (progress.samples - first) / (time.monotonic() - started)
        progress.metrics = {"train_loss": train_loss, **trainer.evaluate()}
        progress.epoch, progress.samples = progress.epoch + 1, 0
        checkpointer.save(progress)
        if trainer.is_main:
            numbers = ", ".join(f"{name} {value:.4f}" for name, value in progress.metrics.items())
            print(
                f"epoch {progress.epoch}/{args.epochs}: step {progress.step}, {numbers}, "
                f"{speed:.0f} samples/s"
            )
        if tracker:
            tracker.log(progress.epoch, progress.metrics)
    if trainer.is_main:  # metrics.json: the numbers and the settings they were made with
        metrics = {"epoch": progress.epoch, "steps": progress.step, **progress.metrics}
        where = args.run_dir / METRICS_NAME
        write_json(where, metrics | {"settings": checkpointer.settings})
        numbers = ", ".join(f"{name} {value!r}" for name, value in progress.metrics.items())
        print(f"done: epoch {progress.epoch}, steps {progress.step}, {numbers}, in {where}")
    if tracker:
        tracker.close(finished=True)
    return EXIT_OK


def report_stop(args, trainer, checkpointer: Checkpointer, progress, stop: StopRequest) -> None:
    """Every rank is past the save: the checkpoint is complete; rank 0 says so for job.sh."""
    reason = stop.name if stop else "a signal on another rank"
    if trainer.is_main:
        job.stopped(args.run_dir, epoch=progress.epoch, step=progress.step, signal=reason)
        print(
            f"checkpoint saved: epoch {progress.epoch}, step {progress.step}, "
            f"{checkpointer.path} (on {reason}); exit {EXIT_CHECKPOINTED} to be requeued"
        )


def main(argv: list[str] | None = None) -> int:
    # First of all: from here on SIGUSR1 and SIGTERM ask for a checkpoint instead of killing,
    # even while the slow imports below are under way.
    stop = job.stop_request()
    from . import task
    from .engine.trainer import Trainer

    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # each line reaches the Slurm log at once
    if job.is_rank_zero():
        job_id = os.environ.get("SLURM_JOB_ID")
        slurm = f"SLURM_JOB_ID={job_id}, " if job_id else ""
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        print(
            f"start: {__package__}.train on {socket.gethostname()}, pid {os.getpid()}, {slurm}"
            f"SLURM_RESTART_COUNT={restarts}, run_dir={args.run_dir}"
        )
    try:
        datasets = task.load_datasets(args.data_dir)
        trainer = Trainer(args, *datasets)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    checkpointer = Checkpointer(trainer, run_settings(args, *datasets), args)
    watchdog = Watchdog(60 * args.hang_minutes, args.run_dir, trainer.rank)
    try:
        progress = checkpointer.resume()
        if trainer.is_main:
            print(f"setup: {trainer.describe()}")
        if progress.epoch >= args.epochs:  # nothing to train: metrics.json stays as it was
            if trainer.is_main:
                print(f"done already: epoch {progress.epoch}, {args.run_dir / METRICS_NAME}")
            trainer.close()
            return EXIT_OK
        tracker = Tracker(args, progress) if trainer.is_main else None  # its start is not a step
        watchdog.start()
        code = train(args, trainer, checkpointer, progress, stop, tracker)
    except (DataError, Refusal) as exc:  # one line, not a traceback
        if trainer.is_main or isinstance(exc, DataError):  # a refusal: every rank refuses alike
            print(f"error: {exc}", file=sys.stderr)
        trainer.close(clean=False)
        return EXIT_BAD_INPUT
    except BaseException:
        trainer.close(clean=False)
        raise
    finally:
        watchdog.stop()
    stop.ignore()  # done or stopped: a late signal must not kill the shutdown
    trainer.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
