"""The machinery that trains what task.py describes. You should not need to edit it.

trainer.py     the model on its device(s): batches, the step, evaluation, its saved state
checkpoint.py  the run's checkpoint: when one is due, and whether a run may go on from it
sampler.py     the order of the samples: shuffled each epoch, shared out, resumable
job.py         the run folder: stop signals, the stop marker, files written whole or not at all
watchdog.py    ends a run whose steps stopped finishing, to be requeued
tracker.py     the experiment tracker the project was made with
ranks.py       (PyTorch) this process among the job's: its rank, its device, the process group
loss_sum.py    (PyTorch) the training loss added up on the device, without a sync per step
"""

import argparse


class DataError(Exception):
    """The data is missing or not what task.py expects (a one-line message): the run exits 2."""


def at_least(low: float, kind: type) -> type:
    """An argparse type: a ``kind`` (int or float) of at least ``low``."""

    def parse(text: str) -> float:
        value = kind(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}")
        return value

    return parse
