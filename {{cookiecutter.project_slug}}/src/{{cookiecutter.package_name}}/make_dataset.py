"""Write a tiny synthetic classification data set as one tar archive.

    python -m {{ cookiecutter.package_name }}.make_dataset data/dataset.tar
        [--samples 512] [--features 16] [--classes 4] [--seed 0]

The archive holds ``train.npz`` and ``val.npz`` at its top level, each with ``x`` (float32,
N x D) and ``y`` (int64, N). One archive is one file for the cluster's shared file systems, which
prefer few large files: a job copies it to the node's local disk and extracts it there
(``tar -xf data/dataset.tar -C "$SLURM_TMPDIR/data"``). Replace this module with the code that
packs your real data in the same layout.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
from pathlib import Path

import numpy as np

MEMBERS = ("train.npz", "val.npz")


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
    """Write the tar next to ``out`` and rename it into place: never a half-written archive."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            with tarfile.open(fileobj=f, mode="w") as tar:
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


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
