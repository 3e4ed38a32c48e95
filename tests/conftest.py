from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # drac_template, tests.bakery

from tests.bakery import Bakery  # noqa: E402


@pytest.fixture(scope="session")
def bakery(cookies_session) -> Bakery:
    """``bakery.bake(cluster="narval", gpus_per_node=2)`` -> path of the baked project (cached;
    baked by pytest-cookies' ``cookies_session``)."""
    return Bakery(cookies_session)


# `slurm`: session fixture, a real local Slurm (tools/local-slurm). The hook puts every test that
# uses it in the xdist group "slurm", so that one worker owns the cluster.
# `lab`: module fixture, baked projects submitted to that Slurm (tests/joblab.py).
from tests.joblab import lab  # noqa: E402,F401

# `laptop_project`: session fixture, a bake per framework set up by its setup-laptop.sh (tests/laptop.py).
from tests.laptop import laptop_project  # noqa: E402,F401
from tests.slurm_cluster import pytest_collection_modifyitems, slurm  # noqa: E402,F401
