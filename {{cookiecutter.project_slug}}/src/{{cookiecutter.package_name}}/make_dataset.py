"""Write a tiny synthetic classification data set as one tar archive.

    python -m {{ cookiecutter.package_name }}.make_dataset data/dataset.tar
        [--samples 512] [--features 16] [--classes 4] [--seed 0]

The archive holds ``train.npz`` and ``val.npz``, each with ``x`` (float32, N x D) and ``y`` (int64,
N): one file for the shared file systems, extracted by each job on the node's local disk, where
``read_splits`` reads it for task.py. README.md, "Make it yours", packs a folder of images instead.
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import tarfile
from pathlib import Path
from typing import IO

import numpy as np

from .engine import DataError
from .engine.files import atomic_write

Split = tuple[np.ndarray, np.ndarray]  # x (float32, N x D), y (int64 class labels 0, 1, ..., N)


def make_arrays(
    samples: int, features: int, classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class, overlapping enough that accuracy stays below 1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0 / np.sqrt(features), size=(classes, features))
    y = rng.integers(0, classes, size=samples, dtype=np.int64)
    x = centres[y] + rng.normal(0.0, 1.0, size=(samples, features))
    return x.astype(np.float32), y


def npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def write_archive(out: Path, members: dict[str, bytes]) -> None:
    def write(f: IO[bytes]) -> None:
        with tarfile.open(fileobj=f, mode="w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))

    atomic_write(out, write)  # never a half-written archive


def make_dataset(
    out: Path,
    samples: int = 512,
    features: int = 16,
    classes: int = 4,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> tuple[int, int]:
    """Write the archive; return the number of training and validation samples."""
    x, y = make_arrays(samples, features, classes, seed)
    n_val = max(1, round(samples * val_fraction))
    n_train = samples - n_val
    write_archive(
        out,
        {
            "train.npz": npz_bytes(x[:n_train], y[:n_train]),
            "val.npz": npz_bytes(x[n_train:], y[n_train:]),
        },
    )
    return n_train, n_val


def read_splits(data_dir: Path) -> tuple[Split, Split]:
    """The (x, y) arrays of train.npz and val.npz in ``data_dir``, the extracted archive."""
    train, val = (_read_split(data_dir, name) for name in ("train", "val"))
    if val[0].shape[1] != train[0].shape[1] or val[1].max() > train[1].max():
        raise DataError(
            f"{data_dir}: val.npz has {val[0].shape[1]} features and labels up to {val[1].max()}, "
            f"train.npz {train[0].shape[1]} features and labels up to {train[1].max()}"
        )
    return train, val


def _read_split(data_dir: Path, name: str) -> Split:
    path = data_dir / f"{name}.npz"
    if not path.is_file():
        where = f"data directory {data_dir.resolve()}"
        if not data_dir.is_dir():
            where += " (no such directory)"
        target = shlex.quote(str(data_dir))
        raise DataError(
            f"no {name}.npz in {where}; make one with: "
            f"python -m {__package__}.make_dataset data/dataset.tar && "
            f"mkdir -p {target} && tar -xf data/dataset.tar -C {target}"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {path}: expected arrays x and y in a .npz ({exc})") from None
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0 or y.min() < 0:
        raise DataError(
            f"{path}: expected x of shape (N, D) and labels y = 0, 1, 2, ... of shape (N,), "
            f"N > 0; got x {x.shape} and y {y.shape} from {y.min(initial=0)}"
        )
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.make_dataset",
        description="Write a tiny synthetic classification data set as a tar of "
        "train.npz and val.npz.",
    )
    parser.add_argument("out", type=Path, help="archive to write, e.g. data/dataset.tar")
    parser.add_argument("--samples", type=int, default=512, help="total samples (default 512)")
    parser.add_argument("--features", type=int, default=16, help="features per sample (16)")
    parser.add_argument("--classes", type=int, default=4, help="number of classes (4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of samples for val.npz (0.2)"
    )
    args = parser.parse_args(argv)
    if args.samples < 2 or args.features < 1 or args.classes < 2:
        parser.error("need --samples >= 2, --features >= 1 and --classes >= 2")
    if not 0.0 < args.val_fraction < 1.0:
        parser.error("--val-fraction must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_train, n_val = make_dataset(
        args.out, args.samples, args.features, args.classes, args.seed, args.val_fraction
    )
    print(
        f"wrote {args.out}: train.npz ({n_train} samples), val.npz ({n_val} samples), "
        f"{args.features} features, {args.classes} classes, seed {args.seed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
