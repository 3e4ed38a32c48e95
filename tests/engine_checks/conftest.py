"""The engine's checks: the example's small data set and a clean environment."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.make_dataset import make_dataset

from helpers import SAMPLES

# Variables that would make a run distributed, or look like a Slurm job, if pytest itself runs
# inside one (e.g. in an salloc session): tests set them only on purpose.
JOB_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID")
JOB_VARIABLES += ("MASTER_ADDR", "MASTER_PORT", "WANDB_RUN_ID")


@pytest.fixture(autouse=True, scope="session")
def clean_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("SLURM_") or name in JOB_VARIABLES:
                patch.delenv(name)
{%- if cookiecutter.tracker == "wandb" %}
        patch.setenv("WANDB_MODE", "disabled")  # the tracker's own test turns it on
        patch.setenv("WANDB_SILENT", "true")
{%- endif %}
        yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small data set, made by make_dataset and extracted the way job.sh extracts it."""
    root = tmp_path_factory.mktemp("data")
    archive = root / "dataset.tar"
    make_dataset(archive, samples=SAMPLES, features=8, classes=3, seed=1)
    out = root / "extracted"
    out.mkdir()
    with tarfile.open(archive) as tar:
        for name in ("train.npz", "val.npz"):
            (out / name).write_bytes(tar.extractfile(name).read())
    return out
