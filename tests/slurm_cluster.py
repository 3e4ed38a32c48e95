"""A real Slurm for the tests: ``tools/local-slurm`` started once per session, shaped like a DRAC cluster.

Fixture ``slurm`` (session): two nodes n1, n2 with 4 fake ``h100`` GPUs each, Lmod with
``StdEnv/2023`` and ``python/3.11``, ``$SLURM_TMPDIR`` per job and node, a fake ``$HOME`` with
``scratch`` and ``projects/<account>`` links, and a wheelhouse reached through the python module's
pip configuration, and accounting (slurmdbd, associations enforced): the user's accounts are
``ACCOUNTS``, sbatch refuses any other. Without root or Slurm the fixture skips, or fails when ``CI=true``.

    job_id = slurm.submit(project / "job.sh", cwd=project, sbatch_options=["--time=0:05:00"])
    result = slurm.wait(job_id, timeout=120)   # {"state": "COMPLETED", "exit_code": 0, ...}
    ok, message = slurm.test_only(project / "job.sh", cwd=project)
    with slurm.gpu_type("a100_4g.20gb", 2): ...
    slurm.wheelhouse(project / "requirements.txt")
    out = slurm.run(["./sweep.sh", "sweep.txt"], cwd=project)   # any command, in a login-like shell
    slurm.home, slurm.scratch, slurm.project, slurm.localscratch, slurm.profile   # paths
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "local-slurm"

DEFAULT_NODES = 2
DEFAULT_GPU_TYPE = "h100"
DEFAULT_GPUS_PER_NODE = 4
# The test user's Slurm accounts in the accounting database (tools/local-slurm's SLURM_ACCOUNTS)
ACCOUNTS = ("def-someuser", "def-testlab", "aip-testlab", "def-testlab_gpu", "aip-someuser")

# States after which nothing happens without someone acting. COMPLETING (epilog running),
# REQUEUED and PENDING-after-requeue are not final: a requeued job runs again.
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REQUEUE_HOLD",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)

# The machine's own Python/pip settings must not leak into jobs: on DRAC a job sees only
# what the login shell and the modules give it.
_DROPPED_VARIABLES = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "CONDA_PREFIX", "SLURM_CONF")


class SlurmError(RuntimeError):
    """A Slurm command failed."""


class SlurmUnavailable(SlurmError):
    """The local cluster cannot be started on this machine."""


class SlurmTimeout(SlurmError, TimeoutError):
    """A job did not reach a final state in time (it has been cancelled)."""


def _seconds(duration: str) -> int:
    """``[D-]HH:MM:SS`` (or ``MM:SS``) -> seconds."""
    days = 0
    if "-" in duration:
        day_part, duration = duration.split("-", 1)
        days = int(day_part)
    seconds = 0
    for part in duration.split(":"):
        seconds = seconds * 60 + int(part or 0)
    return days * 86400 + seconds


def _parse_records(text: str) -> list[dict[str, str]]:
    """Records of ``scontrol -o show job``: one line each, ``Key=value`` separated by spaces."""
    records = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        fields: dict[str, str] = {}
        for chunk in re.split(r" (?=[A-Za-z][A-Za-z0-9_:/]*=)", line):
            key, _, value = chunk.partition("=")
            fields.setdefault(key, value)
        records.append(fields)
    return records


def _exit_code(value: str) -> tuple[int, int]:
    """``ExitCode=3:0`` -> (3, 0): exit status and terminating signal."""
    code, _, signal = value.partition(":")
    try:
        return int(code), int(signal or 0)
    except ValueError:
        return -1, 0


class LocalSlurm:
    """Python side of ``tools/local-slurm`` (which must run as root)."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.state_dir = Path(state_dir or os.environ.get("LOCAL_SLURM_DIR", "/tmp/local-slurm"))
        self.nodes = DEFAULT_NODES
        self.current_gpu_type = DEFAULT_GPU_TYPE
        self.gpus_per_node = DEFAULT_GPUS_PER_NODE
        self._paths: dict[str, Path] = {}

    # ------------------------------------------------------------------ the tool

    def _tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LOCAL_SLURM_DIR"] = str(self.state_dir)
        env.pop("SLURM_CONF", None)
        return env

    def tool(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``tools/local-slurm ARGS``; raises SlurmError with its output on failure."""
        proc = subprocess.run(
            [str(TOOL), *args],
            check=False,
            env=self._tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise SlurmError(f"local-slurm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        return proc

    def running(self) -> bool:
        return self.tool("status", check=False).returncode == 0

    def start(
        self,
        nodes: int = DEFAULT_NODES,
        gpu_type: str = DEFAULT_GPU_TYPE,
        gpus_per_node: int = DEFAULT_GPUS_PER_NODE,
    ) -> None:
        """(Re)start the cluster; raises SlurmUnavailable when it cannot run here."""
        if os.geteuid() != 0:
            raise SlurmUnavailable("tools/local-slurm needs root")
        if not os.access(TOOL, os.X_OK):
            raise SlurmUnavailable(f"{TOOL} is missing or not executable")
        args = ["--nodes", str(nodes), "--gpu-type", gpu_type, "--gpus-per-node", str(gpus_per_node)]
        try:
            self.tool("restart", *args)
        except (SlurmError, subprocess.TimeoutExpired, OSError) as exc:
            raise SlurmUnavailable(str(exc)) from exc
        self.nodes, self.current_gpu_type, self.gpus_per_node = nodes, gpu_type, gpus_per_node
        self._paths = self._read_profile_paths()

    def restart(self, **kwargs: Any) -> None:
        self.start(**kwargs)

    def stop(self) -> None:
        self.tool("stop", check=False)

    # ------------------------------------------------------------------ paths

    @property
    def profile(self) -> Path:
        """Bash file giving a DRAC-like login shell (Lmod, StdEnv/2023, HOME, SCRATCH, PROJECT)."""
        return self.state_dir / "profile.sh"

    def _read_profile_paths(self) -> dict[str, Path]:
        proc = self._bash('printf "%s\\n" "$HOME" "$SCRATCH" "$PROJECT" "$MODULEPATH"', cwd=self.state_dir, timeout=60)
        if proc.returncode != 0:
            raise SlurmUnavailable(f"sourcing {self.profile} failed:\n{proc.stderr}")
        home, scratch, project, modulepath = proc.stdout.splitlines()[-4:]
        return {"home": Path(home), "scratch": Path(scratch), "project": Path(project), "modulepath": Path(modulepath)}

    def _path(self, name: str) -> Path:
        if not self._paths:
            self._paths = self._read_profile_paths()
        return self._paths[name]

    @property
    def home(self) -> Path:
        """Fake DRAC home: ``scratch -> $SCRATCH``, ``projects/<account> -> $PROJECT``."""
        return self._path("home")

    @property
    def scratch(self) -> Path:
        return self._path("scratch")

    @property
    def project(self) -> Path:
        return self._path("project")

    @property
    def localscratch(self) -> Path:
        """``$SLURM_TMPDIR`` of a job is ``localscratch/<node>/<user>.<jobid>.0`` (gone after the job)."""
        return self.state_dir / "localscratch"

    @property
    def wheelhouse_dir(self) -> Path:
        """Where the python module's pip configuration (find-links) points."""
        return self.state_dir / "wheelhouse"

    def add_project(self, account: str) -> Path:
        """Add ``$HOME/projects/<account> -> $PROJECT`` (def-someuser, def-testlab, aip-testlab exist)."""
        return Path(self.tool("add-project", account).stdout.strip())

    # ------------------------------------------------------------------ running things like a login shell

    def job_env(self, env: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """This process's environment without the machine's PIP_* and Python/venv variables."""
        clean = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PIP_") and key not in _DROPPED_VARIABLES
        }
        venv = os.environ.get("VIRTUAL_ENV")
        if venv:
            clean["PATH"] = os.pathsep.join(
                p for p in clean.get("PATH", "").split(os.pathsep) if not p.startswith(venv.rstrip("/") + "/")
            )
        clean["LOCAL_SLURM_DIR"] = str(self.state_dir)
        return clean

    def _bash(
        self,
        script: str,
        *args: str,
        cwd: Path,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run bash code in a shell that sourced the profile; ``env`` applies after the profile."""
        exports = "".join(
            f"unset {key}\n" if value is None else f"export {key}={_sh_quote(value)}\n"
            for key, value in (env or {}).items()
        )
        code = f'source "$LOCAL_SLURM_PROFILE" >&2 || exit 97\n{exports}{script}'
        full_env = self.job_env()
        full_env["LOCAL_SLURM_PROFILE"] = str(self.profile)
        return subprocess.run(
            ["bash", "-c", code, "bash", *args],
            check=False,
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def shell(
        self, command: str, cwd: Path | str, env: Mapping[str, str | None] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run bash code ``command`` as a DRAC login shell would (profile sourced); no check."""
        return self._bash(command, cwd=Path(cwd), env=env, timeout=timeout)

    def run(
        self,
        argv: Sequence[str],
        cwd: Path | str,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 300,
        check: bool = True,
    ) -> str:
        """Run a command (``["./sweep.sh", ...]``, ``["scontrol", ...]``) in a login-like shell from
        ``cwd``; returns its stdout then stderr; raises SlurmError when it fails and ``check``."""
        proc = self._bash('exec "$@"', *map(str, argv), cwd=Path(cwd), env=env, timeout=timeout)
        if check and proc.returncode != 0:
            raise SlurmError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc.stdout + proc.stderr

    # ------------------------------------------------------------------ jobs

    def submit(
        self,
        script: Path | str,
        cwd: Path | str,
        args: Iterable[str] = (),
        sbatch_options: Iterable[str] = (),
        env: Mapping[str, str | None] | None = None,
    ) -> str:
        """``sbatch`` from ``cwd`` in a shell that sourced the profile (so ``module`` travels)."""
        proc = self._bash(
            'exec sbatch --parsable "$@"',
            *sbatch_options,
            str(script),
            *args,
            cwd=Path(cwd),
            env=env,
            timeout=60,
        )
        if proc.returncode != 0:
            raise SlurmError(f"sbatch {script} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc.stdout.strip().splitlines()[-1].split(";")[0]

    def test_only(
        self,
        script: Path | str,
        cwd: Path | str,
        sbatch_options: Iterable[str] = (),
        env: Mapping[str, str | None] | None = None,
    ) -> tuple[bool, str]:
        """``sbatch --test-only``: (accepted, sbatch's message)."""
        proc = self._bash(
            'exec sbatch --test-only "$@"', *sbatch_options, str(script), cwd=Path(cwd), env=env, timeout=60
        )
        message = (proc.stderr + proc.stdout).strip()
        return proc.returncode == 0, message

    def job_records(self, job_id: str) -> list[dict[str, str]] | None:
        """``scontrol -o show job`` records (one per array task), None once Slurm forgot the job."""
        proc = subprocess.run(
            ["scontrol", "-o", "show", "job", str(job_id)],
            check=False,
            env=self._tool_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return None
            raise SlurmError(f"scontrol show job {job_id}: {proc.stderr.strip()}")
        return _parse_records(proc.stdout)

    def _jobcomp_records(self, job_id: str) -> list[dict[str, str]]:
        """Last ``sacct -c`` (jobcomp file) line of each job: for jobs scontrol forgot (MinJobAge)."""
        proc = subprocess.run(
            ["sacct", "-c", "-j", str(job_id), "-n", "-P", "-o", "jobid,state,exitcode,elapsed,nodelist"],
            check=False,
            env=self._tool_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        last: dict[str, dict[str, str]] = {}
        for line in proc.stdout.splitlines():
            parts = line.split("|")
            if len(parts) < 5:
                continue
            jid, state, exit_code, elapsed, nodelist = parts[:5]
            last[jid] = {
                "JobId": jid,
                "JobState": state.split()[0],
                "ExitCode": exit_code,
                "RunTime": elapsed,
                "NodeList": nodelist,
            }
        return list(last.values())

    @staticmethod
    def _summary(record: dict[str, str]) -> dict[str, Any]:
        exit_code, signal = _exit_code(record.get("ExitCode", "0:0"))
        task = record.get("ArrayTaskId")
        throttle = record.get("ArrayTaskThrottle", "")
        return {
            "job_id": record.get("JobId", ""),
            "array_job_id": record.get("ArrayJobId"),
            "array_task_id": task,
            "state": record.get("JobState", "UNKNOWN"),
            "exit_code": exit_code,
            "signal": signal,
            "elapsed": _seconds(record.get("RunTime", "0") or "0"),
            "restarts": int(record.get("Restarts", "0") or 0),
            "reason": record.get("Reason"),
            "nodes": record.get("NodeList"),
            "stdout": record.get("StdOut"),
            "array_throttle": int(throttle) if throttle.isdigit() else None,
        }

    def wait(self, job_id: str, timeout: float = 120, poll: float = 0.5) -> dict[str, Any]:
        """Wait for the FINAL end of a job (a requeued job runs again; every array task).

        Returns ``{"job_id", "state", "exit_code", "signal", "elapsed" (s), "restarts", "reason",
        "nodes", "stdout", "tasks": [per-task dicts]}``. For an array, ``state`` is COMPLETED only
        when every task completed, else the first other task's state; ``exit_code`` and ``elapsed``
        are the largest. On timeout the job is cancelled and SlurmTimeout raised.
        """
        deadline = time.monotonic() + timeout
        records: list[dict[str, str]] | None = []
        final_seen = False
        while True:
            records = self.job_records(job_id)
            if records is None:
                records = self._jobcomp_records(job_id)
                if not records:
                    raise SlurmError(f"job {job_id}: unknown to scontrol and to sacct -c")
            if records and all(r.get("JobState") in FINAL_STATES for r in records):
                # Seen final twice in a row: a job being requeued (NODE_FAIL, PREEMPTED, a requeue
                # racing its end) leaves a final-looking state for a moment only.
                if final_seen:
                    break
                final_seen = True
                time.sleep(min(poll, 0.5))
                continue
            final_seen = False
            if time.monotonic() > deadline:
                details = "\n".join(" ".join(f"{k}={v}" for k, v in r.items()) for r in records or [])
                subprocess.run(
                    ["scancel", str(job_id)], check=False, env=self._tool_env(), capture_output=True, timeout=30
                )
                raise SlurmTimeout(f"job {job_id} not finished after {timeout} s (cancelled):\n{details}")
            time.sleep(poll)
        tasks = sorted(
            (self._summary(r) for r in records),
            key=lambda t: (int(t["array_task_id"]) if (t["array_task_id"] or "").isdigit() else -1, t["job_id"]),
        )
        not_completed = [t for t in tasks if t["state"] != "COMPLETED"]
        head = tasks[0] if len(tasks) == 1 else {}
        return {
            "job_id": str(job_id),
            "state": not_completed[0]["state"] if not_completed else "COMPLETED",
            "exit_code": max(t["exit_code"] for t in tasks),
            "signal": max(t["signal"] for t in tasks),
            "elapsed": max(t["elapsed"] for t in tasks),
            "restarts": max(t["restarts"] for t in tasks),
            "reason": head.get("reason"),
            "nodes": head.get("nodes"),
            "stdout": head.get("stdout"),
            "array_throttle": max((t["array_throttle"] or 0 for t in tasks), default=0) or None,
            "tasks": tasks,
        }

    def submit_and_wait(
        self,
        script: Path | str,
        cwd: Path | str,
        args: Iterable[str] = (),
        sbatch_options: Iterable[str] = (),
        env: Mapping[str, str | None] | None = None,
        timeout: float = 120,
    ) -> dict[str, Any]:
        """submit, then wait."""
        return self.wait(self.submit(script, cwd, args, sbatch_options, env), timeout=timeout)

    # ------------------------------------------------------------------ GPU types, wheelhouse

    @contextlib.contextmanager
    def gpu_type(self, gpu_type: str, n: int = DEFAULT_GPUS_PER_NODE, nodes: int | None = None) -> Iterator[LocalSlurm]:
        """Restart with ``n`` fake GPUs of ``gpu_type`` per node; restore the defaults after.

        Restarting cancels jobs still queued or running.
        """
        self.start(nodes=nodes or self.nodes, gpu_type=gpu_type, gpus_per_node=n)
        try:
            yield self
        finally:
            self.start()

    def reset_wheelhouse(self) -> None:
        """Point the python module's pip configuration at an empty wheelhouse."""
        empty = self.state_dir / "wheelhouses" / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        self.tool("use-wheelhouse", str(empty))

    def wheelhouse(self, *requirement_files: Path | str) -> Path:
        """Build (cached by content) a wheelhouse for these requirement files and make it the one
        the python module's pip configuration points at; returns the built folder."""
        if not requirement_files:
            raise ValueError("wheelhouse() needs at least one requirements file")
        digest = hashlib.sha256()
        for req in requirement_files:
            digest.update(Path(req).read_bytes())
            digest.update(b"\0")
        target = self.state_dir / "wheelhouses" / digest.hexdigest()[:16]
        args: list[str] = ["build-wheelhouse", str(target)]
        for req in requirement_files:
            args += ["-r", str(Path(req).resolve())]
        self.tool(*args, timeout=3600)
        self.tool("use-wheelhouse", str(target))
        return target


def _sh_quote(value: str) -> str:
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


XDIST_GROUP = "slurm"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test using the ``slurm`` fixture runs on one xdist worker (``--dist loadgroup``): the
    cluster is one per machine, and a second worker would restart it under the first one's jobs.
    Each is also ``slow`` (jobs end to end): ``-m "not slow"`` leaves them out."""
    for item in items:
        if "slurm" not in getattr(item, "fixturenames", ()):
            continue
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(XDIST_GROUP))
        item.add_marker(pytest.mark.slow)


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def slurm() -> Iterator[LocalSlurm]:
    """The local cluster (2 nodes, 4 x h100 each), started once per session and stopped after.

    Skips when it cannot start (fails when CI=true). One pytest process (xdist worker) at a time
    holds it, through a lock file; tests using it get the xdist group "slurm" (added automatically)
    so that one worker runs them all, and any other waits for the lock (LOCAL_SLURM_LOCK_TIMEOUT s).
    """
    cluster = LocalSlurm()
    try:
        cluster.state_dir.mkdir(parents=True, exist_ok=True)
        lock = open(cluster.state_dir / ".pytest-owner.lock", "w")  # held for the session
    except OSError as exc:
        _unavailable(f"local Slurm: cannot use {cluster.state_dir}: {exc}")
    # One pytest process at a time owns the cluster. Another one (a second session, or an xdist
    # worker whose tests were not grouped) waits here until the owner's session ends.
    deadline = time.monotonic() + float(os.environ.get("LOCAL_SLURM_LOCK_TIMEOUT", "3600"))
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                lock.close()
                pytest.fail(
                    f"the local Slurm in {cluster.state_dir} stayed held by another pytest process (this one: "
                    f"xdist worker {os.environ.get('PYTEST_XDIST_WORKER', 'none')}); tests that use the `slurm` "
                    f'fixture should share the xdist group "{XDIST_GROUP}"',
                    pytrace=False,
                )
            time.sleep(1)
    try:
        try:
            cluster.start()
        except SlurmUnavailable as exc:
            _unavailable(f"local Slurm cannot start: {exc}")
        cluster.reset_wheelhouse()  # no wheels left from an earlier session: a test asks for its own
        shutil.rmtree(cluster.scratch / ".cache", ignore_errors=True)  # nor venvs jobs cached
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        lock.close()
