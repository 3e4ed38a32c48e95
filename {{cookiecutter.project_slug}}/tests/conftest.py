"""The data the tests train on, and a clean environment for them."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.make_dataset import make_dataset

from helpers import ROOT

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
        patch.setenv("WANDB_MODE", "disabled")
        patch.setenv("WANDB_SILENT", "true")
{%- endif %}
        yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Your data, extracted as job.sh extracts it: $TEST_DATASET_ARCHIVE, else data/dataset.tar,
    else a small example archive from make_dataset. Keep the archive small: the tests train on it
    a few times (make a sample of your data for them: TEST_DATASET_ARCHIVE=data/sample.tar)."""
    root = tmp_path_factory.mktemp("data")
    archive = Path(os.environ.get("TEST_DATASET_ARCHIVE") or ROOT / "data" / "dataset.tar")
    if not archive.is_file():
        archive = root / "example.tar"
        make_dataset(archive, samples=256, features=8, classes=3, seed=1)
    out = root / "extracted"
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python 3.10.12+
    with tarfile.open(archive) as tar:
        tar.extractall(out, **safe)
    return out
