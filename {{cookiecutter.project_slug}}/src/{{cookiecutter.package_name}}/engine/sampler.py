"""The order samples are trained in: shuffled each epoch, shared out over the ranks, resumable."""

from collections.abc import Iterator

import numpy as np


class EpochSampler:
    """The batches of sample indices that one rank trains on, from any point of any epoch.

    An epoch's order depends on (seed, epoch) only: a resumed run need not save it. A step takes
    ``batch_size`` indices per rank from the front of what is left, every ``world_size``-th to
    each rank. Where an epoch stands is a count of samples consumed by all ranks together: a run
    resumes there with any number of ranks. The last few samples that cannot be shared equally
    (fewer than ``world_size``) are left out, other ones each epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = self.consumed = 0  # where the next iteration starts

    def __iter__(self) -> Iterator[list[int]]:
        rest = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)[self.consumed :]
        usable = len(rest) - len(rest) % self.world_size
        step = self.batch_size * self.world_size
        # Python lists, a chunk at a time: cheaper per batch than numpy slices, lighter than all
        chunk = step * max(1, 65536 // step)
        for first in range(0, usable, chunk):
            part = rest[first : min(first + chunk, usable)].tolist()
            for start in range(0, len(part), step):
                yield part[start : start + step][self.rank :: self.world_size]

    def step_samples(self) -> Iterator[int]:
        """The samples of each of this rank's batches, for the rest of the epoch."""
        per_rank = (self.n - self.consumed) // self.world_size
        for first in range(0, per_rank, self.batch_size):
            yield min(self.batch_size, per_rank - first)

    def steps_per_epoch(self) -> int:
        return -(-(self.n // self.world_size) // self.batch_size)  # each rank's samples / batch
