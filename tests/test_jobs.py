"""Generated job scripts on a real Slurm (tools/local-slurm): each test submits a baked job.sh unchanged.

All jobs are submitted at the start of the module, so that they run side by side on the local
cluster; each test then waits for its own. The GPU request-line tests restart Slurm with other GPU
types, so they come last, after every job has ended.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from drac_template import clusters, plan
from tests import recipes
from tests.bakery import resolve
from tests.joblab import ACCOUNT, FAST, SLOW, Lab, Submitted, dataset_path, finished, make_dataset, metrics, when

pytestmark = pytest.mark.xdist_group("slurm")

TRAIN = ["--epochs", "3"]
# GPU bakes on the fake GPUs: 4 ranks train on the CPU over gloo, as one job of each shape.
MULTI_TASK = {
    "2-nodes-2-tasks": {"cluster": "nibi", "nodes": 2, "gpus_per_node": 2},
    "1-node-4-tasks": {"cluster": "nibi", "nodes": 1, "gpus_per_node": 4},
}
MULTI_TASK_FAST = {"framework": "pytorch", "account": ACCOUNT, "python_version": "3.11", "cpus_per_task": 1,
                   "mem": "8G", "time": "30:00"}
MULTI_TRAIN = ["--epochs", "10", "--step-seconds", "0.3"]
JOBS_PER_SHAPE, STOPS = 1, 3


@pytest.fixture(scope="module")
def jobs(lab, slurm):
    """Submit every job of this module at once; tests wait for their own."""
    submitted: dict[str, Submitted] = {}

    p, a = lab.project("e2e none", framework="none", **FAST)
    submitted["e2e-none"] = lab.submit(p, a, TRAIN)
    p, a = lab.project("e2e torch", framework="pytorch", **FAST)
    submitted["e2e-torch"] = lab.submit(p, a, TRAIN)

    # The same training twice: once cut by a 1-minute limit, once with time to spare.
    p, a = lab.project("limited", framework="none", cluster="nibi", time="2", **FAST)  # Nibi: 1 minute at least (Fir 5)
    submitted["limited"] = lab.submit(p, a, SLOW)
    p, a = lab.project("reference", framework="none", time="10:00", **FAST)
    submitted["reference"] = lab.submit(p, a, SLOW)
    p, a = lab.project("double signal", framework="none", time="10:00", **FAST)
    submitted["double-signal"] = lab.submit(p, a, SLOW)
    signaller = threading.Thread(target=signal_twice_once_training, args=(lab, submitted["double-signal"]))
    signaller.start()
    submitted["double-signal"].extra["signaller"] = signaller

    p, a = lab.project("two nodes", framework="pytorch", **{**FAST, "nodes": 2})
    submitted["two-nodes"] = lab.submit(p, a, ["--epochs", "2"])

    for name, overrides in MULTI_TASK.items():
        p, a = lab.project(f"stops {name}", **MULTI_TASK_FAST, **overrides)
        for i in range(JOBS_PER_SHAPE):
            sub = lab.submit(p, a, MULTI_TRAIN)
            watcher = threading.Thread(target=warn_after_progress, args=(lab, sub, STOPS))
            watcher.start()
            sub.extra["watcher"] = watcher
            submitted[f"stops-{name}-{i}"] = sub
    p, a = lab.project("stops reference", **MULTI_TASK_FAST, **MULTI_TASK["1-node-4-tasks"])
    submitted["stops-reference"] = lab.submit(p, a, MULTI_TRAIN)

    p, a = lab.project("sweep", framework="none", **FAST)
    make_dataset(p, dataset_path(slurm, a))
    (p / "sweep.txt").write_text("# lr sweep\n--lr 0.1 --seed 0\n\n--lr 0.02 --seed 0\n--lr 0.1 --seed 1\n")
    out = slurm.run(["./sweep.sh", "sweep.txt", "2", "--", "--epochs", "2"], cwd=p)
    array_id = re.search(r"Submitted batch job (\d+)", out).group(1)
    submitted["sweep"] = Submitted(p, array_id, p / f"{a['project_slug']}-{array_id}_1.out", a)
    submitted["sweep"].extra["shown"] = slurm.run(["scontrol", "show", "job", array_id], cwd=p)

    p, a = lab.project("sweep command", framework="none", **FAST)
    make_dataset(p, dataset_path(slurm, a))
    (p / "show_args.py").write_text(SHOW_ARGS)
    out = slurm.run(["./sweep.sh", "sweep.txt", "2", "--", "--", "python", "show_args.py", "--fixed", "1"], cwd=p)
    array_id = re.search(r"Submitted batch job (\d+)", out).group(1)
    submitted["sweep-command"] = Submitted(p, array_id, p / f"{a['project_slug']}-{array_id}_1.out", a)

    gpu_stand_in = p.parent / "stand-in-bin"
    gpu_stand_in.mkdir(exist_ok=True)
    nvidia_smi = gpu_stand_in / "nvidia-smi"  # what the real one prints for this query, one line per GPU
    nvidia_smi.write_text('#!/bin/sh\necho "$*" >>"$(dirname "$0")/calls"\necho "0, 12, 1024"\n')
    nvidia_smi.chmod(0o755)
    p, a = lab.project("usage", framework="none", **{**FAST, "gpus_per_node": 1})
    submitted["usage"] = lab.submit(p, a, ["--epochs", "6", "--step-seconds", "0.2"],
                                    env={"PATH": f"{gpu_stand_in}:{os.environ['PATH']}", "GPU_SAMPLE_SECONDS": "1"})
    submitted["usage"].extra["calls"] = gpu_stand_in / "calls"

    p, a = lab.project("killed", framework="none", time="10:00", **FAST)
    # SLOW's numbers (the reference's), sooner; an archive named, as the resume command must
    submitted["killed"] = lab.submit(p, a, KILLED, env={"DATASET_ARCHIVE": str(dataset_path(slurm, a))})
    killer = threading.Thread(target=kill_training_after_a_checkpoint, args=(lab, submitted["killed"]))
    killer.start()
    submitted["killed"].extra["killer"] = killer

    p, a = lab.project("chain", framework="none", cluster="nibi", time="2", **FAST)  # Nibi: 1 minute at least (Fir 5)
    make_dataset(p, dataset_path(slurm, a))
    refusing = p.parent / "refusing-bin"
    refusing.mkdir(exist_ok=True)
    (refusing / "scontrol").write_text(REFUSING_SCONTROL)
    (refusing / "scontrol").chmod(0o755)
    out = slurm.run(["scripts/chain.sh", str(CHAIN), "--", *SLOW], cwd=p,
                    env={"PATH": f"{refusing}:{os.environ['PATH']}"})
    chain = re.findall(rf"^Submitted batch job (\d+) \((\d) of {CHAIN}, run (\d+)\)$", out, re.M)
    submitted["chain"] = Submitted(p, chain[0][0], p / f"{a['project_slug']}-{chain[0][0]}.out", a,
                                   extra={"chain": chain, "calls": refusing / "calls"})

    p, a = lab.project("no dataset", framework="none", **FAST)
    submitted["no-dataset"] = lab.submit(p, a, TRAIN, dataset=False)
    p, a = lab.project("bad archive", framework="none", **FAST)
    not_tar = p / "not-a-tar.tar"
    not_tar.write_text("this is not a tar archive\n")
    submitted["bad-archive"] = lab.submit(p, a, TRAIN, env={"DATASET_ARCHIVE": str(not_tar)})
    p, a = lab.project("own run dir", framework="none", **FAST)
    submitted["own-run-dir"] = lab.submit(p, a, [*TRAIN, "--run-dir", str(p / "elsewhere")])
    p, a = lab.project("task zero", framework="none", **FAST)
    submitted["task-zero"] = lab.submit(p, a, TRAIN, sbatch_options=["--array=0"], env={"SWEEP_FILE": "sweep.txt"})
    p, a = lab.project("missing wheel", framework="none", **FAST)
    with (p / "requirements.txt").open("a") as reqs:
        reqs.write("scikit-learn>=1.4  # not in the test wheelhouse\n")
    submitted["missing-wheel"] = lab.submit(p, a, TRAIN)
    p, a = lab.project("placeholder", framework="none", **{**FAST, "account": "def-someuser"})
    submitted["placeholder"] = lab.submit(p, a, TRAIN)
    submit_recipes(lab, slurm, submitted)
    return submitted


# A command of one's own in a sweep: it writes the words it was given into its run folder.
SHOW_ARGS = """import json, os, sys
from pathlib import Path
Path(os.environ["JOB_RUN_DIR"], "args.json").write_text(json.dumps(sys.argv[1:]))
"""
KILLED = ["--epochs", SLOW[1], "--step-seconds", "0.3"]
# A cluster whose compute nodes may not ask the controller for a requeue (Trillium may be one):
# scontrol refuses it, as it refuses any command it cannot send, and runs every other command.
REFUSING_SCONTROL = """#!/bin/sh
if [ "$1" = requeue ]; then
  echo "$*" >>"$(dirname "$0")/calls"
  echo "scontrol: error: Unable to contact slurm controller (connect failure)" >&2
  exit 1
fi
exec /usr/bin/scontrol "$@"
"""
CHAIN = 5  # SLOW trains about 100 s, a 2-minute job about 70: a job or two stop, one finishes, the rest skip


def signal_twice_once_training(lab: Lab, sub: Submitted) -> None:
    """Send the batch shell USR1 twice, back to back, as soon as the first checkpoint exists, so
    that the second signal comes while the training saves. Records what it sent in ``sub.extra``."""
    if not when(lambda: list(lab.results(sub).glob("checkpoint*")), poll=0.1):
        sub.extra["sent"] = 0
        return
    sent = 0
    for _ in range(2):
        out = lab.slurm.run(["scancel", "--batch", "--signal=USR1", sub.job_id], cwd=sub.project, check=False)
        sent += "error" not in out
        time.sleep(0.05)
    sub.extra["sent"] = sent


def warn_after_progress(lab: Lab, sub: Submitted, stops: int) -> None:
    """Warn the job (USR1 to the batch shell, as --signal=B:USR1 does) once each of its first
    ``stops`` runs has trained an epoch; records how many warnings it sent in ``sub.extra``."""
    deadline = time.monotonic() + 900
    sent = 0
    while sent < stops and time.monotonic() < deadline:
        runs = sub.log_text().split("job.sh: training; results")
        if len(runs) > sent + 1 and re.search(r"^epoch \d+/", runs[sent + 1], re.M):
            out = lab.slurm.run(["scancel", "--batch", "--signal=USR1", sub.job_id], cwd=sub.project, check=False)
            sent += "error" not in out
            while len(sub.log_text().split("job.sh: training; results")) <= sent + 1:
                if time.monotonic() > deadline or "done: results in" in sub.log_text():
                    break
                time.sleep(0.2)
        time.sleep(0.2)
    sub.extra["sent"] = sent


def training_processes(job_id: str, package: str) -> list[int]:
    """The job's training processes, found as the kernel's OOM killer would: by what they run."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{package}.train".encode() in command and f"SLURM_JOB_ID={job_id}".encode() in environ:
            found.append(int(proc.name))
    return found


def kill_training_after_a_checkpoint(lab: Lab, sub: Submitted) -> None:
    """SIGKILL the training (the OOM killer, a crash) once it saved a checkpoint; the job goes on."""
    when(lambda: list(lab.results(sub).glob("checkpoint*")))
    pids = training_processes(sub.job_id, sub.answers["package_name"])
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    sub.extra["killed"] = bool(pids)


# ---- 1. end to end ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["e2e-none", "e2e-torch"])
def test_end_to_end(name, jobs, lab, slurm):
    sub = jobs[name]
    result = finished(slurm, sub)
    log = sub.log_text()
    assert result["state"] == "COMPLETED" and result["exit_code"] == 0, (result, log)
    assert "setting up the venv in $SLURM_TMPDIR on each node" in log
    assert re.search(r"job\.sh: venv ready on every node in [\d.]+ s", log), log
    assert f"staging {dataset_path(slurm, sub.answers)} into $SLURM_TMPDIR/data" in log
    assert "done:" in log and f"done: results in {lab.results(sub)}" in log
    results = lab.results(sub)
    assert metrics(results)["epoch"] == 3
    assert any(p.name.startswith("checkpoint") for p in results.iterdir())
    # the per-job $SLURM_TMPDIR (named as on DRAC: <user>.<job id>.0, per node) held the venv, and is gone
    tmpdirs = {n: slurm.localscratch / n / f"{getpass.getuser()}.{sub.job_id}.0" for n in ("n1", "n2")}
    venv = rf"(built the venv in|venv in) ({'|'.join(re.escape(str(d)) for d in tmpdirs.values())})/env"
    assert re.search(venv, log), log
    assert not [d for d in tmpdirs.values() if d.exists()]


def test_a_run_started_again_with_other_flags_is_refused(jobs, lab, slurm):
    """Runs never mix: RUN_ID of a finished run with another --lr trains nothing, fails at once
    naming the flag, is not requeued, and leaves the run's metrics.json as it was."""
    first = jobs["e2e-none"]
    assert finished(slurm, first)["state"] == "COMPLETED"
    before = (lab.results(first) / "metrics.json").read_bytes()
    again = lab.submit(first.project, first.answers, [*TRAIN, "--lr", "0.01"], env={"RUN_ID": first.job_id})
    result = finished(slurm, again)
    log = again.log_text()
    assert result["state"] == "FAILED", (result, log)
    assert "--lr: 0.1 in the checkpoint, 0.01 now" in log and "training refused to start (exit 2)" in log
    assert "requeueing" not in log and "resume from its last checkpoint" not in log
    assert (lab.results(first) / "metrics.json").read_bytes() == before


# ---- 1b. the environment cache ---------------------------------------------------------------------


def cache_entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_array_tasks_racing_for_the_cache_build_it_once(lab, slurm, tmp_path):
    project, answers = lab.project("cache race", framework="none", **FAST)
    make_dataset(project, dataset_path(slurm, answers))
    (project / "sweep.txt").write_text("--seed 0\n--seed 1\n--seed 2\n")
    cache = tmp_path / "cache"
    out = slurm.run(["./sweep.sh", "sweep.txt", "3", "--", "--epochs", "1"], cwd=project, env={"ENV_CACHE": str(cache)})
    array_id = re.search(r"Submitted batch job (\d+)", out).group(1)
    assert slurm.wait(array_id, timeout=600)["state"] == "COMPLETED"
    logs = [(project / f"{answers['project_slug']}-{array_id}_{task}.out").read_text() for task in (1, 2, 3)]
    built = [log for log in logs if "job-node.sh: built the venv in" in log]
    extracted = [log for log in logs if re.search(r"job-node\.sh: venv in \S+ from the cache", log)]
    assert len(built) == 1 and len(extracted) == 2, logs
    assert any("another job builds this venv" in log for log in extracted), "no task waited: no race was run"
    [key] = cache_entries(cache)
    assert sorted(p.name for p in (cache / key).iterdir()) == ["env.tar", "env.tar.cksum", "info"]


def test_a_damaged_archive_is_never_used_and_is_rebuilt(lab, slurm, tmp_path):
    project, answers = lab.project("cache damage", framework="none", **FAST)
    cache = tmp_path / "cache"
    first = lab.submit(project, answers, ["--epochs", "1"], env={"ENV_CACHE": str(cache)})
    assert finished(slurm, first)["state"] == "COMPLETED"
    [key] = cache_entries(cache)
    archive = cache / key / "env.tar"
    with archive.open("r+b") as damaged:  # a flipped block in the middle: tar alone would not notice
        damaged.seek(archive.stat().st_size // 2)
        damaged.write(b"\0" * 512)
    second = lab.submit(project, answers, ["--epochs", "1"], env={"ENV_CACHE": str(cache)})
    result = finished(slurm, second)
    log = second.log_text()
    assert result["state"] == "COMPLETED", log
    assert f"the cached venv {cache / key} is damaged (checksum or archive): rebuilding it" in log
    assert "job-node.sh: built the venv in" in log and "job-node.sh: cached the venv" in log
    with archive.open("rb") as rebuilt:
        crc = subprocess.run(["cksum"], stdin=rebuilt, capture_output=True, text=True, check=True).stdout
    assert crc == (cache / key / "env.tar.cksum").read_text()
    assert cache_entries(cache) == [key]


def test_what_the_job_used_is_reported(jobs, lab, slurm):
    """run.json beside metrics.json, and a one-line summary ending the log; GPU use sampled with
    nvidia-smi (a stand-in printing its CSV) and a warning under 30%."""
    sub = jobs["usage"]
    assert finished(slurm, sub)["state"] == "COMPLETED", sub.log_text()
    log = sub.log_text()
    report = json.loads((lab.results(sub) / "run.json").read_text())
    [run] = report["runs"]
    assert (report["job_ids"], report["restarts"], run["gpus"], run["outcome"]) == ([sub.job_id], 0, 1, "done")
    assert run["gpu_samples"] >= 1 and report["gpu_utilization_mean"] == 12.0 and report["gpu_memory_mean_mib"] == 1024
    assert report["gpu_hours"] == pytest.approx(run["wall_seconds"] / 3600, abs=0.001) and run["setup_seconds"] > 0
    # Debian has no seff: the report does seff's arithmetic on what sacct gives (the steps' CPU time)
    assert shutil.which("seff") is None and re.fullmatch(r"\d+\.\d\d%", run["cpu_efficiency"] or ""), run
    assert 0 < float(run["cpu_efficiency"][:-1]) <= 100, run
    assert f", CPU efficiency {run['cpu_efficiency']}; " in log, log
    assert "--query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits" in (
        sub.extra["calls"].read_text())
    summary = f"job.sh: summary: 1 run(s) of job(s) {sub.job_id}, "
    assert summary in log and "GPUs busy 12.0% (memory 1024 MiB)" in log, log
    assert "job.sh: WARNING: the GPUs were busy 12.0% of the time on average" in log
    cpu_report = json.loads((lab.results(jobs["e2e-none"]) / "run.json").read_text())
    assert cpu_report["gpu_note"] == "no GPU in these jobs" and cpu_report["gpu_hours"] == 0


# ---- 2. time limit without loss --------------------------------------------------------------------


def test_time_limit_checkpoints_requeues_and_resumes_without_loss(jobs, lab, slurm):
    limited, reference = jobs["limited"], jobs["reference"]
    result = finished(slurm, limited, timeout=900)
    assert finished(slurm, reference)["state"] == "COMPLETED"
    log = limited.log_text()
    assert result["state"] == "COMPLETED", (result, log)
    # every run's log kept in one file (--open-mode=append), the restart count rising
    runs = re.findall(rf"job {limited.job_id} \(run (\d+)\)", log)
    assert len(runs) >= 2 and runs == [str(i) for i in range(1, len(runs) + 1)], runs
    assert "time limit in 30 s: asking the training to save a checkpoint" in log
    assert "checkpoint saved:" in log and f"requeueing job {limited.job_id} to resume" in log
    assert "resuming from" in log and "SLURM_RESTART_COUNT=1" in log
    assert metrics(lab.results(limited)) == metrics(lab.results(reference))
    report = json.loads((lab.results(limited) / "run.json").read_text())
    assert [r["outcome"] for r in report["runs"]] == ["requeued"] * (len(runs) - 1) + ["done"]
    assert report["wall_seconds"] == pytest.approx(sum(r["wall_seconds"] for r in report["runs"]), abs=0.2)


def test_a_second_signal_during_the_save_loses_nothing(jobs, lab, slurm):
    sub = jobs["double-signal"]
    result = finished(slurm, sub)
    sub.extra["signaller"].join(timeout=60)
    assert sub.extra.get("sent") == 2, "the job ended before both signals were sent"
    log = sub.log_text()
    assert result["state"] == "COMPLETED", (result, log)
    assert "checkpoint saved:" in log and "resuming from" in log
    assert metrics(lab.results(sub)) == metrics(lab.results(jobs["reference"]))


# ---- 2b. several tasks at the time limit ---------------------------------------------------------
# srun --kill-on-bad-exit=1 terminates the ranks still shutting down once the first one exits 3, and
# reports their status: job.sh must requeue all the same (it failed 2 times in 3 when it read srun's
# status). Every job is warned STOPS times; each warning is a chance for the race.


@pytest.mark.parametrize("name", [f"{shape}-{i}" for shape in MULTI_TASK for i in range(JOBS_PER_SHAPE)])
def test_several_tasks_requeue_at_every_warning_and_resume_without_loss(name, jobs, lab, slurm):
    sub = jobs[f"stops-{name}"]
    result = finished(slurm, sub, timeout=900)
    sub.extra["watcher"].join(timeout=60)
    log = sub.log_text()
    assert sub.extra.get("sent") == STOPS, ("the job ended before every warning", log)
    assert result["state"] == "COMPLETED", (result, log)
    assert log.count(f"; requeueing job {sub.job_id} to resume") == STOPS, log
    assert "ERROR" not in log and "Traceback" not in log, log
    assert re.findall(rf"job {sub.job_id} \(run (\d+)\)", log) == [str(i) for i in range(1, STOPS + 2)]
    reference = jobs["stops-reference"]
    assert finished(slurm, reference, timeout=900)["state"] == "COMPLETED", reference.log_text()
    # Nothing lost: the same epochs and steps, settings and data. The numbers match to float precision,
    # not bit for bit: without --deterministic, a resumed process's first all-reduce may sum 4 ranks'
    # gradients in another order (DDP lays out its buckets anew; tests/engine_checks: exact under it).
    resumed, uninterrupted = metrics(lab.results(sub)), metrics(lab.results(reference))
    assert (resumed["epoch"], resumed["steps"]) == (uninterrupted["epoch"], uninterrupted["steps"])
    assert resumed.pop("settings") == uninterrupted.pop("settings")
    assert resumed == pytest.approx(uninterrupted, rel=1e-6)


def test_a_killed_training_fails_with_the_command_that_resumes_it(jobs, lab, slurm):
    sub = jobs["killed"]
    result = finished(slurm, sub)
    sub.extra["killer"].join(timeout=60)
    assert sub.extra.get("killed"), "the training was not killed"
    log = sub.log_text()
    assert result["state"] == "FAILED", (result, log)
    found = re.search(r"job\.sh: ERROR: training exited with status (\d+) \(see the lines above\); after a fix, "
                      r"resume from its last checkpoint with: (.+)$", log, re.M)
    assert found, log
    archive = dataset_path(slurm, sub.answers)
    assert found.group(2).strip() == f"RUN_ID={sub.job_id} DATASET_ARCHIVE={archive} sbatch job.sh {' '.join(KILLED)}"
    resumed = slurm.run(["bash", "-c", found.group(2)], cwd=sub.project)
    job_id = re.search(r"Submitted batch job (\d+)", resumed).group(1)
    again = Submitted(sub.project, job_id, sub.project / f"{sub.answers['project_slug']}-{job_id}.out", sub.answers)
    assert finished(slurm, again)["state"] == "COMPLETED", again.log_text()
    assert f"resuming from {lab.results(sub)}/checkpoint" in again.log_text()
    assert metrics(lab.results(sub)) == metrics(lab.results(jobs["reference"]))


def test_where_the_requeue_is_refused_a_chain_of_jobs_finishes_the_run(jobs, lab, slurm):
    sub = jobs["chain"]
    chain = sub.extra["chain"]
    assert [int(i) for _, i, _ in chain] == list(range(1, CHAIN + 1)), chain
    assert {run for _, _, run in chain} == {sub.job_id}, "every job resumes the first job's run"
    logs = []
    for job_id, _, _ in chain:
        link = Submitted(sub.project, job_id, sub.project / f"{sub.answers['project_slug']}-{job_id}.out", sub.answers)
        result = finished(slurm, link, timeout=900)
        logs.append(link.log_text())
        assert result["state"] == "COMPLETED" and result["restarts"] == 0, (result, logs[-1])
    outcomes = [r["outcome"] for r in json.loads((lab.results(sub) / "run.json").read_text())["runs"]]
    stops = len(outcomes) - 1
    assert stops >= 1 and outcomes == ["stopped"] * stops + ["done"], outcomes
    assert "requeue" in sub.extra["calls"].read_text(), "the refusing scontrol was not called"
    resume = f"RUN_ID={sub.job_id} sbatch job.sh {' '.join(SLOW)}"
    for log in logs[:stops]:
        assert "time limit in 30 s: asking the training to save a checkpoint" in log, log
        refused = [line for line in log.splitlines() if "the cluster refused the requeue" in line]
        assert len(refused) == 1 and refused[0].endswith(
            f"job.sh: the cluster refused the requeue: the run stopped; resume it from its last checkpoint with: "
            f"{resume} (or chain jobs from the start: scripts/chain.sh)"), log
        assert "ERROR" not in log and log.count("job.sh: summary: ") == 1, log
    for log in logs[1:stops + 1]:
        assert f"resuming from {lab.results(sub)}/checkpoint" in log, log
    assert f"done: results in {lab.results(sub)}" in logs[stops]
    assert len(logs) > stops + 1, "no job was left to skip: make CHAIN larger"
    for log in logs[stops + 1:]:  # the run is done: they end before setting anything up
        assert f"job.sh: run {sub.job_id} is done already: this job of scripts/chain.sh ends without training" in log
        assert "setting up the venv" not in log and "job.sh: training; results" not in log, log
    assert metrics(lab.results(sub)) == metrics(lab.results(jobs["reference"]))


def job_sh_outside_slurm(project: Path, work: Path, **env: str) -> subprocess.CompletedProcess:
    """job.sh run by hand as Slurm would start job 42 on one node, with an empty dataset archive in WORK;
    ENV adds to (or replaces) those variables: PATH, for commands that stand in for Slurm's."""
    (work / "dataset.tar").write_bytes(b"")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "SLURM_JOB_ID": "42", "SLURM_JOB_NUM_NODES": "1",
           "SLURM_CPUS_PER_TASK": "1", "SLURM_SUBMIT_DIR": str(project), "RESULTS_ROOT": str(work / "results"),
           "DATASET_ARCHIVE": str(work / "dataset.tar"), **env}
    return subprocess.run(["bash", "job.sh"], cwd=project, env=env, capture_output=True, text=True, timeout=60)


def test_a_refused_scancel_is_shown_once_and_the_training_is_waited_for(bakery, tmp_path):
    """The time-limit warning asks the training to save now and every 10 s; a cluster that refuses
    scancel from compute nodes shows its error once. The trap cuts job.sh's wait short: it waits again."""
    project = bakery.bake(cluster="fir", account=ACCOUNT)
    fake = tmp_path / "bin"  # Slurm's and Lmod's commands; the training warns job.sh, ends after 2 scancels
    fake.mkdir()
    calls = tmp_path / "calls"
    (fake / "srun").write_text(f'#!/bin/bash\ncase "$*" in *" train "*) kill -USR1 $PPID\n'
                               f'  until [ "$(wc -l <{calls})" -ge 2 ]; do sleep 0.2; done 2>/dev/null ;; esac\n')
    (fake / "module").write_text("#!/bin/sh\n")
    (fake / "scancel").write_text(f'#!/bin/sh\necho >>{calls}; echo "scancel: refused" >&2; exit 1\n')
    for command in fake.iterdir():
        command.chmod(0o755)
    (fake / "python").symlink_to(sys.executable)
    done = job_sh_outside_slurm(project, tmp_path, PATH=f"{fake}:/usr/bin:/bin")
    assert done.returncode == 0 and "job.sh: done: results in" in done.stdout, done.stdout + done.stderr
    assert len(calls.read_text().splitlines()) >= 2  # now and 10 s later
    assert (done.stdout + done.stderr).count("scancel: refused") == 1, done.stdout + done.stderr


@pytest.mark.parametrize("count", ["", "0", "100", "3x", "-- --epochs"])
def test_a_chain_of_a_bad_count_is_refused_before_any_sbatch(bakery, tmp_path, count):
    project = bakery.bake(cluster="fir", account=ACCOUNT)
    (tmp_path / "sbatch").write_text(f"#!/bin/sh\ntouch {tmp_path}/called\n")  # must not be reached
    (tmp_path / "sbatch").chmod(0o755)
    done = subprocess.run(["scripts/chain.sh", *count.split()] if count else ["scripts/chain.sh"], cwd=project,
                          capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    first = count.split()[0] if count else ""
    assert done.returncode == 1 and done.stderr.startswith(f"chain.sh: N '{first}': expected the number of jobs")
    assert not (tmp_path / "called").exists()


def test_a_stale_lock_that_cannot_be_removed_stops_the_job(bakery, tmp_path):
    """take_lock runs inside an if (set -e is off there): a failed rm of a stale lock must fail."""
    project = bakery.bake(cluster="fir", account=ACCOUNT)
    (tmp_path / "venv").mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "ENV_CACHE": str(tmp_path / "cache"),
           "ENV_CACHE_WAIT": "60"}
    cache_env = [project / "scripts/job-node.sh", "cache-env", tmp_path / "venv"]
    subprocess.run(cache_env, env=env, check=True, capture_output=True)
    [entry] = (tmp_path / "cache").iterdir()  # named by the key: its lock is ENTRY.lock
    shutil.rmtree(entry)
    lock = entry.with_name(entry.name + ".lock")
    (lock / "x").mkdir(parents=True)
    os.utime(lock, (time.time() - 600,) * 2)  # older than ENV_CACHE_WAIT: stale
    if subprocess.run(["chattr", "+i", lock / "x"], capture_output=True).returncode:
        pytest.skip("chattr +i is not allowed here (an rm that fails even for root)")
    try:
        done = subprocess.run(cache_env, env=env, capture_output=True, text=True)
    finally:
        subprocess.run(["chattr", "-i", lock / "x"], check=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"ERROR: cannot remove the stale lock {lock}" in done.stdout, done.stdout + done.stderr
    assert not entry.exists()


# ---- 3. sweeps -----------------------------------------------------------------------------------------


def test_sweep_runs_each_line_with_its_own_output_and_folder(jobs, lab, slurm):
    sub = jobs["sweep"]
    result = finished(slurm, sub)
    assert result["state"] == "COMPLETED", result
    lines = ["--lr 0.1 --seed 0", "--lr 0.02 --seed 0", "--lr 0.1 --seed 1"]
    found = {}
    for task, line in enumerate(lines, start=1):
        log = (sub.project / f"{sub.answers['project_slug']}-{sub.job_id}_{task}.out").read_text()
        assert f"sweep task {task}: {line}" in log, log
        found[task] = metrics(lab.results(sub, f"{sub.job_id}_{task}"))
    assert len({json.dumps(m, sort_keys=True) for m in found.values()}) == 3  # each ran its own parameters
    assert "ArrayTaskThrottle=2" in sub.extra["shown"], "the throttle (%2), as scontrol showed it at submission"


def test_a_sweep_of_ones_own_command_gives_it_each_line(jobs, lab, slurm):
    """./sweep.sh sweep.txt 2 -- -- COMMAND: each task runs the command with its line's words after it."""
    sub = jobs["sweep-command"]
    result = finished(slurm, sub)
    assert result["state"] == "COMPLETED", result
    lines = [line for line in (sub.project / "sweep.txt").read_text().splitlines() if line and line[0] != "#"]
    for task, line in enumerate(lines, start=1):
        args = json.loads((lab.results(sub, f"{sub.job_id}_{task}") / "args.json").read_text())
        assert args == ["--fixed", "1", *line.split()]


def test_a_sweep_line_starting_with_dashes_adds_training_flags(bakery, tmp_path):
    """Whether a task trains or runs a command is the submit's choice (sbatch job.sh -- ...), not the
    sweep line's: a line '-- --run-dir X' is training flags, and --run-dir is refused."""
    project = bakery.bake(cluster="fir", account=ACCOUNT)
    (tmp_path / "sweep.txt").write_text("-- --run-dir /elsewhere\n")
    done = job_sh_outside_slurm(project, tmp_path, SLURM_ARRAY_TASK_ID="1", SWEEP_FILE=str(tmp_path / "sweep.txt"))
    assert done.returncode == 1 and "ERROR: --run-dir is job.sh's to set" in done.stdout, done.stdout + done.stderr


# ---- 4. more than one node -------------------------------------------------------------------------------


def test_two_nodes_all_reduce_over_gloo(jobs, slurm):
    sub = jobs["two-nodes"]
    result = finished(slurm, sub)
    log = sub.log_text()
    assert result["state"] == "COMPLETED", (result, log)
    assert re.search(r"2 ranks, rank 0 on n1:\d+", log), log
    assert "world size 2, backend gloo" in log, "the backend the ranks really use"
    ranks = re.findall(r"rank (\d) of 2 on (\S+): all-reduce sum 3 \(expected 3\)", log)
    assert sorted(r for r, _ in ranks) == ["0", "1"], log
    assert sorted(node for _, node in ranks) == ["n1", "n2"], "one rank per node"


def test_the_gpu_version_uses_nccl_one_task_per_gpu(bakery, slurm):
    project = bakery.bake(cluster="nibi", gpus_per_node=4, nodes=2, account=ACCOUNT)
    job = (project / "job.sh").read_text()
    assert "#SBATCH --ntasks-per-node=4 " in job and "#SBATCH --gpus-per-node=h100:4 " in job
    assert "8 ranks, rank 0 on" in job
    train = "\n".join(p.read_text() for p in (project / "src").rglob("*.py"))
    assert '"nccl"' in train and "set_device" in train
    ok, message = slurm.test_only(project / "job.sh", cwd=project)
    assert ok, message


# ---- 6. failing clearly ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, line",
    [
        ("no-dataset", "job.sh: ERROR: dataset archive not found: "),
        ("missing-wheel", "build-env.sh: ERROR: a package of requirements.txt is not in DRAC's wheelhouse"),
        ("placeholder", "job.sh: ERROR: the job runs under the placeholder account def-someuser"),
        ("bad-archive", "could not be extracted on every node (a tar archive? room in $SLURM_TMPDIR?)"),
        ("own-run-dir", "job.sh: ERROR: --run-dir is job.sh's to set"),
        ("task-zero", "job.sh: ERROR: array task 0: a sweep's tasks are numbered from 1"),
    ],
)
def test_failing_clearly_before_training(name, line, jobs, lab, slurm):
    sub = jobs[name]
    result = finished(slurm, sub)
    log = sub.log_text()
    assert result["state"] == "FAILED" and result["exit_code"] != 0, (result, log)
    assert len([entry for entry in log.splitlines() if "ERROR:" in entry and line in entry]) == 1, log
    assert "training; results" not in log
    assert not lab.results(sub).exists()


# ---- 5. every cluster's request line (restarts Slurm: keep last) -------------------------------------------


def gpu_configs():
    """Each cluster's default GPU job, and its MIG jobs; the Slurm GPU type each must be matched by."""
    out = []
    for key, facts in clusters.clusters().items():
        out.append((key, {"cluster": key}))
        for gpu, info in facts["gpus"].items():
            for slice_ in info["mig"]:
                out.append((f"{key}-{slice_}", {"cluster": key, "gpu_type": gpu, "mig_slice": slice_}))
    return out


GPU_CONFIGS = gpu_configs()


@pytest.fixture(scope="module")
def all_jobs_done(jobs, slurm):
    jobs["own-reference"].extra["submitter"].join(timeout=900)
    for sub in jobs.values():
        slurm.wait(sub.job_id, timeout=900)


def test_every_cluster_request_line_matches_its_gpu_type(all_jobs_done, bakery, slurm):
    by_type: dict[str, list[tuple[str, Path]]] = {}
    for name, overrides in GPU_CONFIGS:
        answers = resolve(overrides)
        project = bakery.bake(**overrides)
        spec = plan.job(answers).gpu_spec
        by_type.setdefault(spec, []).append((name, project))
    failures = []
    for spec, projects in sorted(by_type.items()):
        with slurm.gpu_type(spec, 8):
            for name, project in projects:
                ok, message = slurm.test_only(project / "job.sh", cwd=project)
                if not ok:
                    failures.append(f"{name}: refused with {spec} GPUs: {message}")
    # and refused by a Slurm with other GPUs only: a100 for every type but a100, h100 for a100
    for other in ("a100", "h100"):
        with slurm.gpu_type(other, 8):
            for spec, projects in sorted(by_type.items()):
                if (spec == "a100") != (other == "h100"):
                    continue
                for name, project in projects:
                    ok, message = slurm.test_only(project / "job.sh", cwd=project)
                    if ok:
                        failures.append(f"{name}: accepted by a Slurm with only {other} GPUs")
    assert not failures, "\n".join(failures)


# ---- training scripts of one's own under job.sh (sbatch job.sh -- COMMAND): the README's recipes ---

RECIPES = recipes.SCRIPTS
# What each recipe's run prints when it starts again from the checkpoint of a stop
RESUMED = {"own": "my loop: resuming at step", "lightning": "Restoring states from the checkpoint path at",
           "transformers": "my trainer: checkpoints ['checkpoint-"}
RUN_SCRIPT = ["--", "python", "my_train.py"]


def recipe_project(lab, name: str, kind: str, time_limit: str) -> tuple[Path, dict]:
    """A project running RECIPES[name] as my_train.py; every recipe's project has the same
    requirements.txt (torch, Lightning, Transformers), so that their jobs build one venv."""
    # Nibi: a minute at least, so the 2-minute job is accepted (Fir, Narval: 5)
    project, answers = lab.project(f"{name} {kind}", framework="pytorch", cluster="nibi", time=time_limit, **FAST)
    with (project / "requirements.txt").open("a") as reqs:
        reqs.write("".join(recipes.REQUIREMENTS.values()))
    (project / "my_train.py").write_text(RECIPES[name].format(package=answers["package_name"]))
    return project, answers


def submit_recipes(lab, slurm, submitted: dict[str, Submitted]) -> None:
    """Each recipe twice, the same training: uninterrupted (10 minutes), and cut by a 2-minute limit.
    The cut ones are submitted once the first job has cached the venv they all share, so that their
    limit comes while they train, not while another job builds the venv."""
    references = [lab.submit(*recipe_project(lab, name, "reference", "10:00"), RUN_SCRIPT) for name in RECIPES]
    submitted.update({f"{name}-reference": sub for name, sub in zip(RECIPES, references, strict=True)})
    limited = {name: recipe_project(lab, name, "limited", "2") for name in RECIPES}
    for project, answers in limited.values():
        make_dataset(project, dataset_path(slurm, answers))

    def submit_limited() -> None:
        when(lambda: any("venv ready on every node" in s.log_text() for s in references), timeout=900)
        for name, (project, answers) in limited.items():
            submitted[f"{name}-limited"] = lab.submit(project, answers, RUN_SCRIPT)

    submitter = threading.Thread(target=submit_limited)
    submitter.start()
    for name in RECIPES:
        submitted[f"{name}-reference"].extra["submitter"] = submitter

    p, a = lab.project("missing module", framework="none", **FAST)
    (p / "my_train.py").write_text("import lightning  # not in this project's requirements.txt\n")
    submitted["missing-module"] = lab.submit(p, a, RUN_SCRIPT)
    p, a = lab.project("command not found", framework="none", **FAST)
    submitted["command-not-found"] = lab.submit(p, a, ["--", "no-such-trainer", "--x"])


@pytest.mark.parametrize("name", list(RECIPES))
def test_a_recipe_is_requeued_at_the_time_limit_and_finishes_as_uninterrupted(name, jobs, lab, slurm):
    """The README's recipes (a loop of one's own, Lightning, Transformers' Trainer) under job.sh:
    warned, saved, requeued, resumed, and ending with the numbers of an uninterrupted run."""
    reference = jobs[f"{name}-reference"]
    reference.extra["submitter"].join(timeout=900)
    limited = jobs[f"{name}-limited"]
    result = finished(slurm, limited, timeout=900)
    log = limited.log_text()
    assert result["state"] == "COMPLETED", (result, log)
    assert "time limit in 30 s: asking the training to save a checkpoint" in log
    assert f"requeueing job {limited.job_id} to resume" in log and RESUMED[name] in log, log
    assert "Traceback" not in log and "ERROR" not in log, log
    assert finished(slurm, reference)["state"] == "COMPLETED", reference.log_text()
    assert metrics(lab.results(limited)) == metrics(lab.results(reference))


@pytest.mark.parametrize(
    "name, line",
    [
        ("command-not-found", "job-node.sh: ERROR: command not found: no-such-trainer (in the project's venv"),
        ("missing-module", "job.sh: ERROR: no module named 'lightning' in the venv: add the package that provides "
                           "it to requirements.txt (most have its name: pip install --no-index lightning; PIL is "
                           "pillow, sklearn is scikit-learn; avail_wheels NAME lists DRAC's wheels), then resume "
                           "with: RUN_ID="),
    ],
)
def test_a_command_that_cannot_run_fails_with_one_clear_line(name, line, jobs, slurm):
    sub = jobs[name]
    result = finished(slurm, sub)
    log = sub.log_text()
    assert result["state"] == "FAILED", (result, log)
    assert len([entry for entry in log.splitlines() if line in entry]) == 1, log
    assert "requeueing" not in log
