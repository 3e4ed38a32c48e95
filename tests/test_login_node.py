"""scripts/setup-cluster.sh on a login node: real Lmod, the test module tree, the wheelhouse."""

from __future__ import annotations

import getpass
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
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
    # with this project in it, importable from any folder (no PYTHONPATH in jobs)
    where = subprocess.run([str(moved / "bin/python"), "-c", f"import {project.name}; print({project.name}.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert where.stdout.startswith(str(project / "src")), where.stdout
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


def readme_block(project: Path, heading: str, first_line: str) -> list[str]:
    """The command lines of the README's first bash block under ``heading`` whose first command
    starts with ``first_line`` (comments and blank lines left out)."""
    section = re.split(r"\n#+ [^\n]*" + re.escape(heading), (project / "README.md").read_text(), maxsplit=1)[1]
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        if lines and lines[0].startswith(first_line):
            return lines
    raise AssertionError(f"no bash block starting {first_line!r} under {heading!r}")


def test_the_readmes_interactive_recipe_imports_the_package_from_any_folder(project, slurm, tmp_path):
    """The README's steps as written: setup-cluster.sh, the example dataset made on the login node,
    then salloc and the training in it, from a folder that is not the project's, with no
    PYTHONPATH: the package is installed in the login node's venv."""
    venv = slurm.home / "venvs" / project.name
    shutil.rmtree(venv, ignore_errors=True)
    shutil.rmtree(slurm.scratch / project.name / "runs" / "interactive", ignore_errors=True)
    slurm.run(["scripts/setup-cluster.sh"], cwd=project, env={"ENV_CACHE": str(tmp_path / "cache")})
    [archive] = (tmp_path / "cache").glob("*/env.tar")  # the cache, shared by projects, names none of them
    with tarfile.open(archive) as tar:
        assert not [name for name in tar.getnames() if name.endswith(".pth") and project.name in name]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the README loads the modules the venv was built with, modules.txt's too, from any folder
    assert (venv / "modules").read_text().split() == slurm.run(["scripts/modules.sh"], cwd=project).split()
    activate = readme_block(project, "Set up the software environment", "scripts/setup-cluster.sh")[1:]
    assert activate[0].startswith(f"module load $(cat ~/venvs/{project.name}/modules)"), activate
    dataset = readme_block(project, "Copy code and data to the cluster", f"python -m {project.name}.make_dataset")
    done = slurm.shell("\n".join(["set -e", *activate, *dataset]), cwd=elsewhere, env={"PYTHONPATH": None})
    assert done.returncode == 0 and "wrote " in done.stdout, done.stdout + done.stderr

    salloc, *inside = readme_block(project, "Work interactively", "salloc ")
    assert inside[-1] == "exit"
    # salloc's shell on the node, as DRAC's clusters give it, is an srun step: the same lines, not typed
    script = "\n".join(["set -e", '[[ -z "${PYTHONPATH:-}" ]]', *inside[:-1]])
    done = slurm.shell(f"{salloc} srun --ntasks=1 bash -c {shlex.quote(script)}", cwd=elsewhere,
                       env={"PYTHONPATH": None}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ModuleNotFoundError" not in done.stderr and "done:" in done.stdout, done.stdout + done.stderr
    assert (slurm.scratch / project.name / "runs" / "interactive" / "metrics.json").is_file()
    shutil.rmtree(venv)


def submit_and_wait(slurm, project: Path) -> tuple[dict, str]:
    job_id = slurm.submit(project / "job.sh", cwd=project, args=["--epochs", "1"])
    result = slurm.wait(job_id, timeout=300)
    log = project / f"{project.name}-{job_id}.out"
    return result, log.read_text() if log.exists() else ""


def test_trillium_jobs_use_the_venv_made_on_a_login_node(project, bakery, slurm, tmp_path):
    """Trillium's wiki advice: make the venv on a login node in HOME and source it in jobs
    ($SLURM_TMPDIR is a RAM disk there). Without it, or for other requirements, a job stops with the fix."""
    baked = bakery.bake(cluster="trillium", gpus_per_node=0, framework="none", python_version="3.11",
                        account="def-testlab", project_name="trillium login venv")
    clone = tmp_path / baked.name
    shutil.copytree(baked, clone)
    venv = slurm.home / "venvs" / clone.name
    shutil.rmtree(venv, ignore_errors=True)
    archive = slurm.home / "links/projects/def-testlab" / getpass.getuser() / clone.name / "data/dataset.tar"
    archive.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", f"{clone.name}.make_dataset", str(archive)], cwd=clone, check=True,
                   env={"PYTHONPATH": str(clone / "src"), "PATH": "/usr/bin:/bin"}, capture_output=True)

    result, log = submit_and_wait(slurm, clone)
    assert result["state"] == "FAILED", log
    assert f"job-node.sh: ERROR: no venv in {venv}: on a login node, run scripts/setup-cluster.sh first" in log

    out = slurm.run(["scripts/setup-cluster.sh"], cwd=clone)
    assert "Trillium's jobs use this venv" in out and (venv / ".requirements-key").is_file()
    result, log = submit_and_wait(slurm, clone)
    assert result["state"] == "COMPLETED", log
    assert f"job-node.sh: venv: {venv}, made on a login node" in log and "done: results in" in log

    with (clone / "requirements.txt").open("a") as requirements:
        requirements.write("# a change\n")
    result, log = submit_and_wait(slurm, clone)
    assert result["state"] == "FAILED" and "was made for another requirements.txt or Python" in log, log
