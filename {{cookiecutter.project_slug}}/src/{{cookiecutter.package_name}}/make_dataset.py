"""Write a tiny synthetic classification data set as one tar archive.

    python -m {{ cookiecutter.package_name }}.make_dataset data/dataset.tar [--samples 512] [...]

The archive holds train.npz and val.npz, each with x (float32, N x D) and y (int64 class labels):
one file for the shared file systems, extracted by each job on the node's local disk, where
read_splits reads it for task.py. README.md, "Make it yours", packs a folder of images instead.
"""

import argparse
import io
import shlex
import tarfile
from pathlib import Path

import numpy as np

from .engine import DataError, at_least
from .engine.job import atomic_write


def make_dataset(out: Path, samples=512, features=16, classes=4, seed=0, val_fraction=0.2):
    """Gaussian blobs, one per class, overlapping enough that accuracy stays below 1, written as
    the archive ``out``; returns the number of training and validation samples."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0 / np.sqrt(features), size=(classes, features))
    y = rng.integers(0, classes, size=samples, dtype=np.int64)
    x = (centres[y] + rng.normal(0.0, 1.0, size=(samples, features))).astype(np.float32)
    n_train = samples - max(1, round(samples * val_fraction))
    splits = {"train.npz": slice(0, n_train), "val.npz": slice(n_train, samples)}

    def write(f) -> None:
        with tarfile.open(fileobj=f, mode="w") as tar:
            for name, rows in splits.items():
                buffer = io.BytesIO()
                np.savez(buffer, x=x[rows], y=y[rows])
                info = tarfile.TarInfo(name)
                info.size, info.mode = buffer.tell(), 0o644
                buffer.seek(0)
                tar.addfile(info, buffer)

    atomic_write(out, write)  # never a half-written archive
    return n_train, samples - n_train


def read_splits(data_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (x, y) arrays of train.npz and val.npz in ``data_dir``, the extracted archive."""
    splits = []
    for name in ("train", "val"):
        path = data_dir / f"{name}.npz"
        if not path.is_file():
            target = shlex.quote(str(data_dir))
            raise DataError(
                f"no {name}.npz in data directory {data_dir.resolve()}; make one with: "
                f"python -m {__package__}.make_dataset data/dataset.tar && "
                f"mkdir -p {target} && tar -xf data/dataset.tar -C {target}"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                splits.append((npz["x"].astype(np.float32), npz["y"].astype(np.int64)))
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read {path}: expected arrays x and y ({exc})") from None
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.make_dataset",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="archive to write, e.g. data/dataset.tar")
    parser.add_argument("--samples", type=at_least(2, int), default=512, help="in all")
    parser.add_argument("--features", type=at_least(1, int), default=16, help="per sample")
    parser.add_argument("--classes", type=at_least(2, int), default=4, help="labels 0, 1, ...")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="the share in val.npz")
    args = parser.parse_args(argv)
    if not 0.0 < args.val_fraction < 1.0:
        parser.error("--val-fraction must be between 0 and 1")
    n_train, n_val = make_dataset(
        args.out, args.samples, args.features, args.classes, args.seed, args.val_fraction
    )
    print(
        f"wrote {args.out}: train.npz ({n_train} samples), val.npz ({n_val} samples), "
        f"{args.features} features, {args.classes} classes, seed {args.seed}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
