"""scripts/cluster, a day from the laptop: real OpenSSH (tools/local-slurm sshd-start, on 127.0.0.1
only) in front of the local Slurm, a real git push, rsync and sbatch. The laptop is this machine,
with its own ssh config (CLUSTER_SSH_CONFIG); the cluster's shell is the DRAC-like profile."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.bakery import CHOICES
from tests.joblab import FAST, make_dataset, when

pytestmark = pytest.mark.xdist_group("slurm")

NAME = "laptop day"  # slug laptop_day: a folder of its own in the fake project space
SLUG = "laptop_day"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(slurm):
    """The OpenSSH server of tools/local-slurm; the fake ~/.bashrc is put back as it was after."""
    bashrc = slurm.home / ".bashrc"
    before = bashrc.read_text() if bashrc.exists() else None
    folder = Path(slurm.tool("sshd-start", "--port", str(free_port())).stdout.strip())
    yield folder
    slurm.tool("sshd-stop")
    if before is None:
        bashrc.unlink(missing_ok=True)
    else:
        bashrc.write_text(before)


def laptop_config(sshd: Path, folder: Path, port: int | None = None) -> Path:
    """An ssh config with the README's block for narval, pointed at the local sshd."""
    block = (sshd / "ssh_config").read_text().replace("Host local-slurm", "Host narval")
    if port is not None:
        block = "\n".join(f"    Port {port}" if line.strip().startswith("Port ") else line
                          for line in block.splitlines()) + "\n"
    control = tempfile.mkdtemp(prefix="cm", dir="/tmp")  # sockets: a short path (108 bytes at most)
    config = folder / "ssh_config"
    config.write_text(block + f"    ControlMaster auto\n    ControlPath {control}/%C\n    ControlPersist 10m\n")
    return config


class Laptop:
    """A clone of the baked project with git history, and scripts/cluster run from it."""

    def __init__(self, project: Path, config: Path, slurm):
        self.project, self.config, self.slurm = project, config, slurm

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "VIRTUAL_ENV"))}
        return env | {"CLUSTER_SSH_CONFIG": str(self.config)}

    def run(self, *args: str, stdin: str = "", timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "scripts/cluster", *args], cwd=self.project, env=self.env(),
                                input=stdin, capture_output=True, text=True, timeout=timeout)
        print(f"$ scripts/cluster {' '.join(args)}\n{result.stdout}{result.stderr}")
        return result

    def ok(self, *args: str, stdin: str = "") -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    def refused(self, *args: str) -> str:
        """The one line of a refusal (exit 1), the last of stderr."""
        result = self.run(*args)
        assert result.returncode == 1, result.stdout + result.stderr
        return result.stderr.strip().splitlines()[-1]

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.project, check=True, capture_output=True, text=True,
                              env=self.env()).stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("-c", "user.name=Student", "-c", "user.email=s@example.ca", "commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", "-F", str(self.config), "-o", "BatchMode=yes", "narval", command],
                              capture_output=True, text=True, timeout=60)

    @property
    def clone(self) -> Path:  # where the README's step 6 puts the clone: project space / $USER
        return self.slurm.home / "projects" / FAST["account"] / getpass.getuser() / SLUG


def authentications(sshd: Path) -> int:
    return (sshd / "sshd.log").read_text().count("Accepted publickey")


@pytest.fixture(scope="module")
def baked(bakery, slurm, tmp_path_factory) -> Path:
    project = bakery.bake(project_name=NAME, cluster="narval", framework="none", **FAST)
    extra = tmp_path_factory.mktemp("reqs") / "pip.txt"
    extra.write_text("pip\n")
    slurm.wheelhouse(project / "requirements.txt", extra)
    return project


@pytest.fixture
def laptop(baked, slurm, sshd, tmp_path) -> Laptop:
    project = tmp_path / SLUG
    shutil.copytree(baked, project)
    machine = Laptop(project, laptop_config(sshd, tmp_path), slurm)
    machine.git("init", "-q")
    machine.commit("New project")
    shutil.rmtree(machine.clone, ignore_errors=True)  # the cluster has no clone yet
    yield machine
    subprocess.run(["ssh", "-F", str(machine.config), "-O", "exit", "narval"], capture_output=True)


def test_a_day_from_the_laptop_authenticates_once(laptop, slurm, sshd, tmp_path):
    before = authentications(sshd)
    assert "connected to Narval" in laptop.ok("login")
    assert "stays open 10 minutes" in laptop.ok("login")  # already open: no second authentication

    head = laptop.git("rev-parse", "HEAD")
    assert f"is at {head[:8]}" in laptop.ok("push")
    assert (laptop.clone / "job.sh").exists() and not (laptop.clone / "runs").exists()
    assert "already has" in laptop.ok("push")  # idempotent

    out = laptop.ok("setup", stdin="y\n")
    assert "build-env.sh: venv ready" in out and "doctor.sh" in out
    assert "DRAC Slurm account (cookiecutter-drac-ml)" in (slurm.home / ".bashrc").read_text()

    archive = tmp_path / "dataset.tar"
    make_dataset(laptop.project, archive)
    out = laptop.ok("data", "push", str(archive))
    target = laptop.clone / "data" / "dataset.tar"
    assert "checked, the same sha256" in out
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(archive.read_bytes()).digest()

    out = laptop.ok("submit", "--time=0:10:00", "--", "--epochs", "1")
    job = out.split("submit: job ")[1].split()[0]
    assert f"scripts/cluster logs {job} -f" in out
    followed = follow_the_log(laptop, slurm, job, tmp_path)
    result = slurm.wait(job, timeout=60)
    log = laptop.ok("logs", job)
    assert result["state"] == "COMPLETED", log
    first, *_, last = log.splitlines()
    assert "job.sh: done" in last and followed.startswith(first) and last in followed  # followed start to end

    status = laptop.ok("status")
    [line] = [line for line in status.splitlines() if line.startswith(job + " ")]
    assert head[:8] in line and "done, " in line and "GPU-hours" in line and re.search(r" \d+:\d\d:\d\d ", line)

    laptop.ok("fetch", job)
    fetched = laptop.project / "runs" / job
    assert json.loads((fetched / "run.json").read_text())["job_ids"] == [job]
    remote_run = slurm.scratch / SLUG / "runs" / job
    checkpoints = sorted(p.name for p in remote_run.glob("checkpoint*"))
    assert checkpoints and not list(fetched.glob("checkpoint*"))  # only with --checkpoints
    laptop.ok("fetch", job, "--checkpoints")
    assert sorted(p.name for p in fetched.glob("checkpoint*")) == checkpoints

    (laptop.project / "README.md").write_text("# Laptop day\n\nSecond commit.\n")
    second = laptop.commit("Second commit")
    out = laptop.ok("submit", "--time=0:10:00", "--hold", "--", "--epochs", "1")
    assert f"push: {second[:8]}" in out
    job2 = out.split("submit: job ")[1].split()[0]
    assert job2 != job
    assert subprocess.run(["git", "-C", str(laptop.clone), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip() == second
    ledger = [json.loads(line) for line in (laptop.project / "runs" / "jobs.jsonl").read_text().splitlines()]
    assert [(r["job"], r["commit"]) for r in ledger] == [(job, head), (job2, second)]
    assert "cancelled" in laptop.ok("cancel", job2)

    assert authentications(sshd) - before == 1


def follow_the_log(laptop, slurm, job: str, tmp_path: Path) -> str:
    """`logs JOB -f` from before the job starts: its first line comes while the job is still in the
    queue, and the command ends by itself once the job has ended."""
    follow = subprocess.Popen([sys.executable, "scripts/cluster", "logs", job, "-f"], cwd=laptop.project,
                              env=laptop.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(600, follow.kill)  # a hung follow fails the test instead of hanging it
    watchdog.start()
    try:
        first = follow.stdout.readline()  # blocks until the job has started and written its log
        queued = slurm.run(["squeue", "-h", "-j", job, "-o", "%T"], cwd=tmp_path, check=False).strip()
        rest, err = follow.communicate()
    finally:
        watchdog.cancel()
    print(first + rest + err)
    assert follow.returncode == 0 and first.strip() and queued in ("RUNNING", "COMPLETING"), (queued, err)
    assert rest.endswith(f"logs: job {job} has ended; scripts/cluster status says how\n")
    return first + rest


def test_an_unreachable_host_is_one_line(laptop, sshd, tmp_path):
    laptop.config = laptop_config(sshd, tmp_path, port=free_port())  # nothing listens there
    line = laptop.refused("login")
    assert line.startswith("scripts/cluster login: could not connect to Narval")
    assert laptop.refused("push").endswith("run scripts/cluster login")


def test_an_expired_connection_asks_for_login_and_sends_nothing(laptop, sshd):
    laptop.ok("login")
    subprocess.run(["ssh", "-F", str(laptop.config), "-O", "exit", "narval"], capture_output=True, check=True)
    before = authentications(sshd)
    for command in (["push"], ["status"], ["submit"], ["fetch"]):
        line = laptop.refused(*command)
        assert "not connected to Narval" in line and line.endswith("run scripts/cluster login"), line
    assert authentications(sshd) == before and not laptop.clone.exists()


def test_login_offers_the_readme_block_with_a_backup(laptop, tmp_path):
    laptop.config.write_text("Host other\n    HostName 127.0.0.1\n")
    kept = laptop.config.read_text()
    assert "nothing changed" in laptop.refused("login")  # answered no (no input)
    assert laptop.config.read_text() == kept
    out = laptop.ok("login", stdin="y\n")
    assert "check its User line" in out
    text = laptop.config.read_text()
    assert text.startswith(kept) and "Host narval\n    HostName narval.alliancecan.ca\n" in text
    assert "ControlPersist 10m" in text
    [backup] = tmp_path.glob("ssh_config.bak-*")
    assert backup.read_text() == kept


def test_a_dirty_tree_is_refused_with_its_files(laptop):
    laptop.ok("login")
    (laptop.project / "README.md").write_text("changed\n")
    (laptop.project / "notes.txt").write_text("new\n")
    line = laptop.refused("push")
    assert "not committed: README.md, notes.txt; commit them" in line
    assert "not committed" in laptop.refused("submit")
    assert not laptop.clone.exists()


def test_sbatch_refusing_the_job_shows_its_message(laptop):
    laptop.ok("login")
    result = laptop.run("submit", "--gres=gpu:a100:1")  # the nodes have h100s only
    assert result.returncode == 1
    assert "sbatch: error: Batch job submission failed: Requested node configuration is not available" in (
        result.stderr)
    assert result.stderr.strip().splitlines()[-1] == (
        "scripts/cluster submit: sbatch refused the job (its message is above); nothing was submitted")
    assert not (laptop.project / "runs" / "jobs.jsonl").exists()


def test_values_are_sent_as_data_never_run(laptop, slurm, tmp_path):
    laptop.ok("login")
    canary = tmp_path / "ran"
    comment = f"a b 'c' \"d\" $(touch {canary}) `touch {canary}`; touch {canary}"
    flag = f"--note=$(touch {canary}) 'x y'"
    out = laptop.ok("submit", "--hold", f"--comment={comment}", "--", flag)
    job = out.split("submit: job ")[1].split()[0]
    shown = slurm.run(["scontrol", "show", "job", job], cwd=tmp_path)
    laptop.ok("cancel", job)
    assert f"Comment={comment}" in shown
    assert not canary.exists()
    [record] = [json.loads(line) for line in (laptop.project / "runs" / "jobs.jsonl").read_text().splitlines()]
    assert record["flags"] == [flag] and record["sbatch"] == ["--hold", f"--comment={comment}"]
    for bad in ("1; touch x", "$(id)", "../1"):
        assert "usage: scripts/cluster logs JOB" in laptop.refused("logs", bad)
    assert "expected a job id or a run name" in laptop.refused("fetch", "a;b")


def test_another_projects_job_is_refused(laptop, slurm, tmp_path):
    laptop.ok("login")
    laptop.ok("push")
    other = laptop.ssh("sbatch --parsable --hold --job-name=other_project --wrap='sleep 60'")
    job = other.stdout.strip()
    assert other.returncode == 0 and job.isdigit(), other.stderr
    try:
        assert "is not this project's" in laptop.refused("cancel", job)
        assert job in slurm.run(["squeue", "-h", "-o", "%i"], cwd=tmp_path)  # still there
        assert "no log of job" in laptop.refused("logs", job)
        assert "no log of job" in laptop.refused("logs", job, "-f")
    finally:
        slurm.run(["scancel", job], cwd=tmp_path)


def test_a_fetch_cut_off_resumes(laptop, slurm):
    laptop.ok("login")
    run = slurm.scratch / SLUG / "runs" / "big"
    run.mkdir(parents=True, exist_ok=True)
    with (run / "metrics.bin").open("wb") as big:
        for _ in range(512):
            big.write(os.urandom(1 << 20))
    fetched = laptop.project / "runs" / "big" / "metrics.bin"
    try:
        cut = subprocess.Popen([sys.executable, "scripts/cluster", "fetch", "big"], cwd=laptop.project,
                               env=laptop.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
        started = when(lambda: any(p.stat().st_size > 0 for p in fetched.parent.glob(".metrics.bin.*")), 60, 0.02)
        os.killpg(cut.pid, signal.SIGINT)  # Ctrl-C
        out, err = cut.communicate(timeout=60)
        print(out, err)
        assert started and cut.returncode != 0
        # rsync's own processes may still print after it (they got the Ctrl-C too)
        assert [line for line in err.splitlines() if line.startswith("scripts/cluster fetch: fetch was cut off")]
        assert not fetched.exists()  # no half file under the real name
        laptop.ok("fetch", "big")
        assert fetched.read_bytes() == (run / "metrics.bin").read_bytes()
    finally:
        shutil.rmtree(run, ignore_errors=True)


# ---- the cluster's facts in the script: no ssh needed ----
def script_of(project: Path) -> dict:
    return runpy.run_path(str(project / "scripts" / "cluster"))  # not as __main__: nothing runs


def expand(expression: str) -> str:
    env = {"HOME": "/h", "USER": "u", "SCRATCH": "/s", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", "-c", f"printf %s {expression}"], env=env, capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize(("answers", "host", "code", "data"), [
    ({"cluster": "narval", "account": "def-lab"}, "narval", "/h/projects/def-lab/u/p", "/h/projects/def-lab/u/p/data"),
    # Trillium runs jobs from scratch, and takes GPU jobs from its GPU login node only
    ({"cluster": "trillium", "account": "def-lab"}, "trillium-gpu", "/s/p", "/h/links/projects/def-lab/u/p/data"),
    ({"cluster": "trillium", "account": "def-lab", "gpus_per_node": 0},
     "trillium", "/s/p", "/h/links/projects/def-lab/u/p/data"),
    # Killarney refuses jobs submitted from /home: the clone is in the project space
    ({"cluster": "killarney", "account": "aip-lab"}, "killarney", "/h/projects/aip-lab/u/p", None),
])
def test_the_script_knows_where_the_cluster_wants_things(bakery, answers, host, code, data):
    found = script_of(bakery.bake(project_name="p", framework="none", **answers))
    assert found["HOST"] == host
    assert expand(found["CODE_DIR"]) == code
    assert expand(found["DATA_DIR"]) == (data or code + "/data")
    assert expand(found["RUNS_DIR"]) == "/s/p/runs"
    assert f"Host {host}\n" in found["SSH_BLOCK"] and "ControlPersist 10m" in found["SSH_BLOCK"]


def test_native_windows_is_told_to_use_wsl(bakery, monkeypatch, capsys):
    found = script_of(bakery.bake(project_name="p", framework="none", cluster="narval", account="def-lab"))
    capsys.readouterr()  # the bake's own warnings
    monkeypatch.setattr(os, "name", "nt")
    code = found["main"](["login"])
    monkeypatch.undo()  # pytest itself needs the real os.name to report a failure
    assert code == 1
    assert capsys.readouterr().err == (
        "scripts/cluster login: native Windows ssh cannot keep a connection open: run this in WSL\n")


def test_usage_lists_the_subcommands(bakery):
    """Run as a student types it: its first line starts `python3 -IS` (this Python, first on PATH)."""
    project = bakery.bake(project_name="p", framework="none", cluster="narval", account="def-lab")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    result = subprocess.run(["scripts/cluster"], cwd=project, capture_output=True, text=True,
                            env=dict(os.environ, PATH=path))
    assert result.returncode == 2
    for command in ("login", "push", "setup", "data push ARCHIVE", "submit", "status", "logs JOB", "fetch",
                    "cancel JOB"):
        assert f"scripts/cluster {command}" in result.stderr


@pytest.mark.parametrize("cluster", CHOICES["cluster"])
def test_the_script_passes_the_projects_own_ruff(bakery, cluster):
    """pre-commit's ruff hooks take scripts/cluster (a python shebang): a fresh project passes them."""
    project = bakery.bake(project_name="A rather long project name", cluster=cluster)
    ruff = Path(sys.executable).parent / "ruff"
    for command in (["check", "--no-fix"], ["format", "--check"]):
        result = subprocess.run([str(ruff), *command, "scripts/cluster"], cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
