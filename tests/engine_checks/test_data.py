"""The order of the samples: every one once per epoch, shared out equally, resumable anywhere."""

from __future__ import annotations

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.engine.sampler import EpochSampler


def one_step_per_rank(n: int, batch_size: int, world: int, epoch: int, consumed: int):
    """The steps of the rest of an epoch, each a list of the ranks' batches."""
    samplers = [EpochSampler(n, batch_size, 7, rank, world) for rank in range(world)]
    for sampler in samplers:
        sampler.epoch, sampler.consumed = epoch, consumed
    return list(zip(*samplers, strict=True))


@pytest.mark.parametrize("world", [1, 2, 4])
def test_an_epoch_visits_every_sample_once(world: int) -> None:
    steps = one_step_per_rank(205, 16, world, epoch=3, consumed=0)
    assert len(steps) == EpochSampler(205, 16, 7, 0, world).steps_per_epoch()
    for batches in steps:
        assert len({len(batch) for batch in batches}) == 1, "the ranks' batches are equally large"
    seen = [i for batches in steps for batch in batches for i in batch]
    assert len(seen) == len(set(seen)) == 205 - 205 % world
    others = one_step_per_rank(205, 16, world, epoch=4, consumed=0)
    assert [i for b in others for batch in b for i in batch] != seen, "another order each epoch"


@pytest.mark.parametrize("before, after", [(2, 1), (1, 2), (4, 2), (2, 4), (1, 4)])
def test_resuming_with_another_world_size_goes_on_from_the_same_sample(before, after) -> None:
    order = np.random.default_rng([7, 2]).permutation(205)
    first = one_step_per_rank(205, 16, before, epoch=2, consumed=0)[:3]  # stopped after 3 steps
    consumed = sum(len(batch) for batches in first for batch in batches)
    rest = one_step_per_rank(205, 16, after, epoch=2, consumed=consumed)
    seen = [i for steps in (first, rest) for batches in steps for batch in batches for i in batch]
    # the epoch's order, up to what the new world size cannot share equally at its end
    assert sorted(seen) == sorted(order[: 205 - (205 - consumed) % after])


@pytest.mark.parametrize("world", [1, 3])
def test_a_long_epoch_keeps_its_order_across_chunks(world: int) -> None:
    """Past 65,536 samples the order becomes Python lists a chunk at a time: the steps, put back
    together, are the epoch's order from the resumption point, with nothing lost at the seams."""
    n, consumed = 200_003, 1_234
    steps = one_step_per_rank(n, 50, world, epoch=1, consumed=consumed)
    assert {sum(len(batch) for batch in batches) for batches in steps[:-1]} == {50 * world}
    rebuilt = [
        batches[i % world][i // world]
        for batches in steps
        for i in range(sum(len(batch) for batch in batches))
    ]
    usable = (n - consumed) - (n - consumed) % world
    assert rebuilt == np.random.default_rng([7, 1]).permutation(n)[consumed:][:usable].tolist()


@pytest.mark.parametrize("world, consumed", [(1, 0), (2, 0), (3, 17), (4, 201), (2, 205)])
def test_each_step_counts_the_samples_its_batch_holds(world: int, consumed: int) -> None:
    """train_step counts a batch's samples by the sampler, whatever the batch holds."""
    for rank in range(world):
        sampler = EpochSampler(205, 16, 7, rank, world)
        sampler.consumed = consumed
        assert list(sampler.step_samples()) == [len(batch) for batch in sampler]
