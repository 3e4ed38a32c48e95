"""The local Slurm harness gives a job what a DRAC cluster gives it (tools/local-slurm, tests/slurm_cluster.py)."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.joblab import when
from tests.slurm_cluster import ACCOUNTS, TOOL, LocalSlurm, SlurmTimeout

pytestmark = pytest.mark.xdist_group("slurm")
SHEBANG = "#!/bin/bash\n"


def write_script(path: Path, body: str) -> Path:
    path.write_text(SHEBANG + body.lstrip("\n"), encoding="utf-8")
    path.chmod(0o755)
    return path


def output(cwd: Path, job_id: str) -> str:
    log = cwd / f"slurm-{job_id}.out"
    return log.read_text(encoding="utf-8") if log.exists() else f"(no {log.name})"


@pytest.fixture
def numpy_wheelhouse(slurm: LocalSlurm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    req = tmp_path_factory.mktemp("req") / "requirements.txt"
    req.write_text("numpy\n", encoding="utf-8")
    return slurm.wheelhouse(req)


VENV_JOB = r"""
#SBATCH --time=0:05:00
#SBATCH --account=def-someuser
set -euo pipefail
module load StdEnv/2023 python/3.11
echo "TMPDIR=$SLURM_TMPDIR"
test -d "$SLURM_TMPDIR"
case "$SLURM_TMPDIR" in
  */localscratch/"$SLURMD_NODENAME"/*."$SLURM_JOB_ID".0) ;;
  *) echo "SLURM_TMPDIR is not per job and node: $SLURM_TMPDIR"; exit 5 ;;
esac
virtualenv --no-download "$SLURM_TMPDIR/env"
source "$SLURM_TMPDIR/env/bin/activate"
python -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
pip install --no-index -r requirements.txt
python -c 'import numpy, sys; print("NUMPY", numpy.__version__, "FROM", numpy.__file__)'
"""


def test_module_virtualenv_and_wheelhouse(slurm: LocalSlurm, numpy_wheelhouse: Path, tmp_path: Path) -> None:
    assert any(p.name.startswith("numpy-") for p in numpy_wheelhouse.glob("*.whl"))
    (tmp_path / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    script = write_script(tmp_path / "job.sh", VENV_JOB)
    result = slurm.submit_and_wait(script, cwd=tmp_path, timeout=180)
    out = output(tmp_path, result["job_id"])
    assert result["state"] == "COMPLETED", out
    assert result["exit_code"] == 0
    tmpdir = Path(re.search(r"TMPDIR=(\S+)", out).group(1))
    assert "NUMPY" in out and f"FROM {tmpdir}/env/" in out, out
    assert not tmpdir.exists(), "the Epilog removes $SLURM_TMPDIR after the job"


def test_package_absent_from_wheelhouse_fails(slurm: LocalSlurm, numpy_wheelhouse: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests\n", encoding="utf-8")  # not in the wheelhouse
    script = write_script(tmp_path / "job.sh", VENV_JOB)
    result = slurm.submit_and_wait(script, cwd=tmp_path, timeout=180)
    out = output(tmp_path, result["job_id"])
    assert result["state"] == "FAILED", out
    assert result["exit_code"] == 1, out
    assert "No matching distribution found for requests" in out, out
    assert "/opt/wheels" not in out, out


def test_two_nodes_resolve_and_have_their_own_tmpdir(slurm: LocalSlurm, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "job.sh",
        r"""
#SBATCH --nodes=2 --ntasks-per-node=1 --time=0:05:00
set -euo pipefail
srun --nodes=2 --ntasks-per-node=1 \
  bash -c 'test -d "$SLURM_TMPDIR" && echo "TASK $SLURMD_NODENAME $SLURM_TMPDIR $(hostname)"'
for node in $(scontrol show hostnames "$SLURM_JOB_NODELIST"); do echo "RESOLVES $(getent hosts "$node")"; done
echo "FIRST $(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
""",
    )
    result = slurm.submit_and_wait(script, cwd=tmp_path, timeout=120)
    out = output(tmp_path, result["job_id"])
    assert result["state"] == "COMPLETED", out
    fields = [line.split()[1:] for line in out.splitlines() if line.startswith("TASK ")]
    tasks = {node: tmpdir for node, tmpdir, _ in fields}
    assert set(tasks) == {"n1", "n2"}, out
    assert all(node == hostname for node, _, hostname in fields), "hostname in a job is the node name"
    assert tasks["n1"] != tasks["n2"] and "/n1/" in tasks["n1"] and "/n2/" in tasks["n2"], out
    for node in ("n1", "n2"):
        assert re.search(rf"^RESOLVES 127\.0\.0\.1\s+{node}$", out, re.MULTILINE), out
    assert "FIRST n1" in out


def test_large_drac_gpu_request_runs(slurm: LocalSlurm, tmp_path: Path) -> None:
    options = ["--cpus-per-task=14", "--mem=250G", "--gpus-per-node=h100:1", "--time=0:05:00"]
    script = write_script(
        tmp_path / "job.sh",
        'echo "CPUS=$SLURM_CPUS_PER_TASK GPUS=$CUDA_VISIBLE_DEVICES MEM=$SLURM_MEM_PER_NODE"\n',
    )
    ok, message = slurm.test_only(script, cwd=tmp_path, sbatch_options=options)
    assert ok, message
    result = slurm.submit_and_wait(script, cwd=tmp_path, sbatch_options=options, timeout=120)
    out = output(tmp_path, result["job_id"])
    assert result["state"] == "COMPLETED", out
    assert "CPUS=14 GPUS=0 MEM=256000" in out, out


@pytest.mark.parametrize(
    ("options", "accepted"),
    [
        (["--gpus-per-node=h100:1"], True),
        (["--nodes=2", "--gpus-per-node=h100:4", "--cpus-per-task=48", "--mem=498G"], True),
        (["--gres=gpu:h100:2"], True),
        (["--gpus-per-node=a100:1"], False),
        (["--gpus-per-node=h100:5"], False),
    ],
)
def test_gpu_requests_test_only(slurm: LocalSlurm, tmp_path: Path, options: list[str], accepted: bool) -> None:
    script = write_script(tmp_path / "job.sh", "true\n")
    ok, message = slurm.test_only(script, cwd=tmp_path, sbatch_options=[*options, "--time=1:00:00"])
    assert ok is accepted, message
    if not accepted:
        assert "Requested node configuration is not available" in message


@pytest.mark.parametrize("gpu_type", ["nvidia_h100_80gb_hbm3_3g.40gb", "h100_3g.40gb", "a100_4g.20gb"])
def test_gpu_type_with_dots_and_underscores(slurm: LocalSlurm, tmp_path: Path, gpu_type: str) -> None:
    script = write_script(tmp_path / "job.sh", 'echo "GPUS=$CUDA_VISIBLE_DEVICES"\n')
    with slurm.gpu_type(gpu_type, 2):
        assert slurm.test_only(script, tmp_path, [f"--gpus-per-node={gpu_type}:2"])[0]
        assert not slurm.test_only(script, tmp_path, [f"--gpus-per-node={gpu_type}:3"])[0]
        assert not slurm.test_only(script, tmp_path, ["--gpus-per-node=h100:1"])[0]
        result = slurm.submit_and_wait(script, tmp_path, sbatch_options=[f"--gpus-per-node={gpu_type}:2"], timeout=60)
        assert result["state"] == "COMPLETED"
        assert "GPUS=0,1" in output(tmp_path, result["job_id"])
    ok, message = slurm.test_only(script, tmp_path, ["--gpus-per-node=h100:4"])
    assert ok, f"defaults not restored: {message}"


def test_wait_covers_every_array_task(slurm: LocalSlurm, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "job.sh",
        "#SBATCH --array=0-2 --time=0:05:00 --output=slurm-%A_%a.out\n"
        'sleep "$SLURM_ARRAY_TASK_ID"; exit "$SLURM_ARRAY_TASK_ID"\n',
    )
    job_id = slurm.submit(script, cwd=tmp_path)
    result = slurm.wait(job_id, timeout=120)
    states = {t["array_task_id"]: (t["state"], t["exit_code"]) for t in result["tasks"]}
    assert states == {"0": ("COMPLETED", 0), "1": ("FAILED", 1), "2": ("FAILED", 2)}
    assert result["state"] == "FAILED" and result["exit_code"] == 2
    assert all((tmp_path / f"slurm-{job_id}_{i}.out").exists() for i in range(3))


def test_wait_waits_for_the_run_after_a_requeue(slurm: LocalSlurm, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "job.sh",
        r"""
#SBATCH --time=0:05:00 --open-mode=append
echo "RUN restart=${SLURM_RESTART_COUNT:-0}"
if [ "${SLURM_RESTART_COUNT:-0}" -eq 0 ]; then
  scontrol requeue "$SLURM_JOB_ID"
  sleep 60
fi
exit 3
""",
    )
    result = slurm.submit_and_wait(script, cwd=tmp_path, timeout=90)
    out = output(tmp_path, result["job_id"])
    assert (result["state"], result["exit_code"], result["restarts"]) == ("FAILED", 3, 1), out
    assert "RUN restart=0" in out and "RUN restart=1" in out, out


def test_wait_times_out_and_cancels(slurm: LocalSlurm, tmp_path: Path) -> None:
    script = write_script(tmp_path / "job.sh", "#SBATCH --time=0:05:00\nsleep 120\n")
    job_id = slurm.submit(script, cwd=tmp_path)
    started = time.monotonic()
    with pytest.raises(SlurmTimeout):
        slurm.wait(job_id, timeout=2)
    assert time.monotonic() - started < 10
    assert slurm.wait(job_id, timeout=30)["state"] == "CANCELLED"


def test_submit_passes_args_and_env(slurm: LocalSlurm, tmp_path: Path) -> None:
    script = write_script(tmp_path / "job.sh", 'echo "ARGS=$* GREETING=$GREETING PIP=$(env | grep -c ^PIP_ || true)"\n')
    job_id = slurm.submit(
        script, tmp_path, args=["a", "b c"], sbatch_options=["--job-name=args"], env={"GREETING": "hi"}
    )
    result = slurm.wait(job_id, timeout=60)
    assert result["state"] == "COMPLETED"
    assert "ARGS=a b c GREETING=hi PIP=0" in output(tmp_path, job_id)
    assert f"JobId={job_id} JobName=args" in slurm.run(["scontrol", "show", "job", job_id], cwd=tmp_path)
    out = slurm.run(["sbatch", "--wrap", "true"], cwd=tmp_path)  # through the profile, as a user would
    assert slurm.wait(re.search(r"Submitted batch job (\d+)", out).group(1), timeout=60)["state"] == "COMPLETED"


def test_profile_is_a_drac_login_shell(slurm: LocalSlurm, tmp_path: Path) -> None:
    proc = slurm.shell(
        r"""
set -euo pipefail
declare -F module >/dev/null && env | grep -q '^BASH_FUNC_module%%='
module list 2>&1 | grep -q 'StdEnv/2023'
module load python/3.11 && command -v python virtualenv pip
env | grep '^PIP_' || true
echo "HOME=$HOME SCRATCH=$SCRATCH PROJECT=$PROJECT"
""",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    bin_dir = slurm.state_dir / "python" / "bin"
    assert f"{bin_dir}/python\n{bin_dir}/virtualenv\n{bin_dir}/pip\n" in out, out
    pip_vars = {line.split("=", 1)[0] for line in out.splitlines() if line.startswith("PIP_")}
    assert pip_vars == {"PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_REQUIRE_VIRTUALENV"}, out
    assert f"PIP_FIND_LINKS={slurm.wheelhouse_dir}" in out
    assert f"HOME={slurm.home} SCRATCH={slurm.scratch} PROJECT={slurm.project}" in out
    assert (slurm.home / "scratch").resolve() == slurm.scratch.resolve()
    for account in ("def-someuser", "def-testlab", "aip-testlab"):
        assert (slurm.home / "projects" / account).resolve() == slurm.project.resolve()
    assert slurm.add_project("rrg-otherlab").resolve() == slurm.project.resolve()


# A step that uses a second of CPU, so that sacct has CPU time to show.
BUSY_JOB = "#SBATCH --time=0:05:00\nsrun --ntasks=1 python3 -c 'sum(range(30_000_000))'\n"


def test_accounting_refuses_other_accounts_and_records_jobs(slurm: LocalSlurm, tmp_path: Path) -> None:
    script = write_script(tmp_path / "job.sh", BUSY_JOB)
    refused = slurm.shell(f"sbatch --account=def-nobody {script}", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified"
    )
    mine = slurm.run(["sacctmgr", "-n", "-P", "show", "associations", f"user={getpass.getuser()}", "format=account"],
                     cwd=tmp_path)
    assert set(ACCOUNTS) <= set(mine.split()), mine
    result = slurm.submit_and_wait(script, cwd=tmp_path, sbatch_options=["--account=def-testlab_gpu"], timeout=120)
    assert result["state"] == "COMPLETED", output(tmp_path, result["job_id"])
    job = result["job_id"]

    def sacct() -> list[list[str]]:
        out = slurm.run(["sacct", "-j", job, "-n", "-P", "-o", "JobID,Account,State,TotalCPU"], cwd=tmp_path)
        return [line.split("|") for line in out.splitlines()]

    recorded = [job, "def-testlab_gpu", "COMPLETED"]
    assert when(lambda: [row[:3] for row in sacct()][:1] == [recorded], timeout=30), sacct()
    step = [row for row in sacct() if row[0] == f"{job}.0"]
    assert step and step[0][2] == "COMPLETED" and step[0][3] not in ("", "00:00:00", "00:00.000"), sacct()


def test_wheelhouse_is_cached(slurm: LocalSlurm, numpy_wheelhouse: Path, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n", encoding="utf-8")
    started = time.monotonic()
    assert slurm.wheelhouse(req) == numpy_wheelhouse
    assert time.monotonic() - started < 3
    assert slurm.wheelhouse_dir.resolve() == numpy_wheelhouse.resolve()


def daemons() -> set[str]:
    """The Slurm and database daemons alive on this machine (zombies are dead: not counted)."""
    names = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, _, rest = stat.read_text().partition("(")[2].rpartition(")")
        except OSError:
            continue
        if rest.split()[0] != "Z":
            names.add(name)
    return names & {"mariadbd", "slurmdbd", "slurmctld", "slurmd"}


def test_start_refuses_a_port_held_by_someone_else(slurm: LocalSlurm) -> None:
    slurm.stop()
    assert not daemons(), "stop leaves none of the daemons start started"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 6818))
            sock.listen()
            proc = slurm.tool("start", check=False)
        assert proc.returncode != 0
        assert f"port 6818 is in use by pid {os.getpid()}" in proc.stderr, proc.stderr
        assert not slurm.running()
    finally:
        slurm.start()
    assert "n1 idle" in slurm.tool("status").stdout


def test_tool_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(__file__).resolve().parents[1] / ".venv/bin/shellcheck")
    if not os.access(shellcheck, os.X_OK):
        pytest.skip("shellcheck not installed")
    proc = subprocess.run([shellcheck, str(TOOL)], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
