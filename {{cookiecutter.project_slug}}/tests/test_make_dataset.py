from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.make_dataset import main, make_dataset

from helpers import PACKAGE, child_env


def read_archive(archive: Path) -> dict[str, dict[str, np.ndarray]]:
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["train.npz", "val.npz"]
        out = {}
        for member in tar.getmembers():
            assert member.isfile()
            data = tar.extractfile(member).read()
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                assert sorted(npz.files) == ["x", "y"]
                out[member.name] = {"x": npz["x"], "y": npz["y"]}
    return out


def test_round_trip(tmp_path: Path) -> None:
    archive = tmp_path / "sub" / "dataset.tar"
    assert make_dataset(archive, samples=100, features=5, classes=3, seed=7) == (80, 20)
    splits = read_archive(archive)
    for name, n in (("train.npz", 80), ("val.npz", 20)):
        x, y = splits[name]["x"], splits[name]["y"]
        assert x.dtype == np.float32 and x.shape == (n, 5)
        assert y.dtype == np.int64 and y.shape == (n,)
        assert set(np.unique(y)) <= {0, 1, 2}
    assert not list(tmp_path.glob("sub/.*.tmp")), "temporary file left behind"


def test_same_seed_same_data(tmp_path: Path) -> None:
    make_dataset(tmp_path / "a.tar", seed=3)
    make_dataset(tmp_path / "b.tar", seed=3)
    make_dataset(tmp_path / "c.tar", seed=4)
    a, b, c = (read_archive(tmp_path / f"{n}.tar") for n in "abc")
    np.testing.assert_array_equal(a["train.npz"]["x"], b["train.npz"]["x"])
    np.testing.assert_array_equal(a["val.npz"]["y"], b["val.npz"]["y"])
    assert not np.array_equal(a["train.npz"]["x"], c["train.npz"]["x"])


def test_command_line(tmp_path: Path) -> None:
    archive = tmp_path / "dataset.tar"
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.make_dataset", str(archive)]
        + ["--samples", "50", "--features", "4", "--classes", "2", "--seed", "1"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "train.npz (40 samples)" in result.stdout
    assert read_archive(archive)["val.npz"]["x"].shape == (10, 4)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "x.tar"), "--classes", "1"])
    assert exc.value.code == 2
