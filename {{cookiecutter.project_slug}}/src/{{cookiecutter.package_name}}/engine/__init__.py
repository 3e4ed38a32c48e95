"""The machinery that trains what task.py describes. You should not need to edit it.

trainer.py     the model on its device(s): batches, the step, evaluation, its saved state
checkpoint.py  the run's checkpoint: when one is due, and whether a run may go on from it
sampler.py     the order of the samples: shuffled each epoch, shared out, resumable
signals.py     Slurm's stop signals, recorded for the loop to act on between two steps
files.py       the files of a run folder, each written whole or not at all
watchdog.py    ends a run whose steps stopped finishing, to be requeued
tracker.py     the experiment tracker the project was made with
job.py         for a training script of your own under job.sh: stops, the run folder, requeues
"""


class DataError(Exception):
    """The data is missing or not what task.py expects (a one-line message): the run exits 2."""
