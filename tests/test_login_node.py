"""scripts/setup-cluster.sh on a login node: real Lmod, the test module tree, the wheelhouse."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("slurm")


@pytest.fixture(scope="module")
def project(bakery, slurm, tmp_path_factory) -> Path:
    baked = bakery.bake(framework="none", python_version="3.11", account="def-testlab", gpus_per_node=0,
                        cpus_per_task=1, mem="2G")
    clone = tmp_path_factory.mktemp("login") / baked.name
    shutil.copytree(baked, clone)
    extra = clone.parent / "pip.txt"
    extra.write_text("pip\n")
    slurm.wheelhouse(clone / "requirements.txt", extra)
    return clone


def test_setup_cluster_builds_the_venv_from_the_wheelhouse(project, slurm, tmp_path):
    venv, cache = tmp_path / "venv", tmp_path / "cache"
    env = {"VENV": str(venv), "ENV_CACHE": str(cache)}
    out = slurm.run(["scripts/setup-cluster.sh"], cwd=project, env=env)
    assert f"build-env.sh: venv ready in {venv}" in out
    check = "import numpy, sys; print(sys.version_info[:2], numpy.__file__)"
    printed = subprocess.run([str(venv / "bin/python"), "-c", check], capture_output=True, text=True, check=True)
    assert printed.stdout.startswith("(3, 11)") and str(venv) in printed.stdout
    # a venv made here for the first time fills the jobs' cache, so the first job starts warm
    [entry] = cache.iterdir()
    assert "job-node.sh: cached the venv: " in out
    assert f"path={venv}\n" in (entry / "info").read_text()
    # run again, it leaves both the venv (and what you installed in it) and the cache alone
    (venv / "mine.txt").write_text("kept\n")
    again = slurm.run(["scripts/setup-cluster.sh"], cwd=project, env=env)
    assert "cached the venv" not in again and (venv / "mine.txt").read_text() == "kept\n"
    # a job's venv from that archive works in full at its new place: imports, pip, console scripts
    moved = tmp_path / "job" / "env"
    job = slurm.shell(f"module load python/3.11 && scripts/job-node.sh build-env {moved}", cwd=project,
                      env={"ENV_CACHE": str(cache)})
    assert f"venv in {moved} from the cache {entry}" in job.stdout, job.stdout + job.stderr
    for command in (["python", "-c", "import numpy"], ["pip", "--version"], ["numpy-config", "--version"]):
        subprocess.run([str(moved / "bin" / command[0]), *command[1:]], check=True, capture_output=True)
    assert not [p for p in (moved / "bin").iterdir() if p.is_file() and str(venv).encode() in p.read_bytes()]


def test_setup_cluster_names_the_missing_wheel(project, slurm, tmp_path):
    broken = tmp_path / project.name
    shutil.copytree(project, broken)
    with (broken / "requirements.txt").open("a") as reqs:
        reqs.write("scikit-learn>=1.4\n")
    result = slurm.shell("scripts/setup-cluster.sh", cwd=broken, env={"VENV": str(tmp_path / "venv")})
    assert result.returncode != 0
    assert "avail_wheels -r requirements.txt --not-available" in result.stderr


def test_setup_cluster_needs_the_module_command(project, tmp_path):
    result = subprocess.run(["bash", "-c", "unset -f module; scripts/setup-cluster.sh"], cwd=project,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 1 and "the 'module' command is missing" in result.stderr
