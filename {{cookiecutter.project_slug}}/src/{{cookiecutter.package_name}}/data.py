"""Load the data set written by ``make_dataset`` and decide the order samples are seen in."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "val")


class DataError(Exception):
    """The data directory is missing or holds something else than expected (one-line message)."""


@dataclass
class Split:
    x: np.ndarray  # float32, N x D
    y: np.ndarray  # int64, N


@dataclass
class Dataset:
    train: Split
    val: Split

    @property
    def features(self) -> int:
        return int(self.train.x.shape[1])

    @property
    def classes(self) -> int:
        return int(max(self.train.y.max(), self.val.y.max())) + 1


def _load_split(path: Path) -> Split:
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {path}: expected arrays x and y in a .npz ({exc})") from None
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise DataError(
            f"{path}: expected x of shape (N, D) and y of shape (N,), N > 0; "
            f"got x {x.shape} and y {y.shape}"
        )
    if y.min() < 0:
        raise DataError(f"{path}: labels y must be 0, 1, 2, ...; found {y.min()}")
    return Split(x.astype(np.float32, copy=False), y.astype(np.int64, copy=False))


def load_dataset(data_dir: Path) -> Dataset:
    for split in SPLITS:
        path = data_dir / f"{split}.npz"
        if not path.is_file():
            where = f"data directory {data_dir.resolve()}"
            if not data_dir.is_dir():
                where += " (no such directory)"
            target = shlex.quote(str(data_dir))
            raise DataError(
                f"no {split}.npz in {where}; make one with: "
                f"python -m {__package__}.make_dataset data/dataset.tar && "
                f"mkdir -p {target} && tar -xf data/dataset.tar -C {target}"
            )
    data = Dataset(*(_load_split(data_dir / f"{split}.npz") for split in SPLITS))
    if data.val.x.shape[1] != data.features:
        raise DataError(
            f"{data_dir}: train.npz has {data.features} features but val.npz has "
            f"{data.val.x.shape[1]}"
        )
    return data


def epoch_order(seed: int, epoch: int, n: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
    """The sample indices this rank visits in ``epoch``, in order.

    A pure function of (seed, epoch): a resumed run sees the same order as an uninterrupted one
    without saving it. Every rank shuffles identically and takes every ``world_size``-th index,
    so the ranks' shards are disjoint and of equal size (up to ``world_size - 1`` samples of an
    epoch are left out, different ones each epoch).
    """
    order = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = n // world_size
    return order[rank : per_rank * world_size : world_size]


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """Optimisation steps in one epoch; the last batch of an epoch may be smaller."""
    return -(-(n // world_size) // batch_size)
