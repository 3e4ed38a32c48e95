"""Jobs that something happens to, on the local Slurm (issue 9): an administrator requeues one at
a random point, its node goes DOWN under it, it keeps being sent back before it saves anything,
its training hangs.
Each must end as an uninterrupted run ends, or stop with the reason.

The reference is the same training run uninterrupted, in this process (NumPy: a second or two).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.joblab import FAST, Lab, Submitted, dataset_path, finished, metrics, when

pytestmark = pytest.mark.xdist_group("slurm")
# About 35 s of training, in 4 epochs: room for a requeue after the first.
SLOW = ["--epochs", "4", "--step-seconds", "1.2"]


def node_of(lab: Lab, sub: Submitted) -> str:
    return lab.slurm.run(["squeue", "-h", "-o", "%N", "-j", sub.job_id], cwd=sub.project).strip()


def requeue_at_a_random_point(lab: Lab, sub: Submitted) -> None:
    if when(lambda: "epoch 1/" in sub.log_text()):
        time.sleep(random.uniform(0, 4))
        lab.slurm.run(["scontrol", "requeue", sub.job_id], cwd=sub.project)
        sub.extra["done"] = True


def node_down_under_it(lab: Lab, sub: Submitted) -> None:
    if not when(lambda: "epoch 1/" in sub.log_text()):
        return
    node = node_of(lab, sub)
    run = lab.slurm.run
    run(["scontrol", "update", f"nodename={node}", "state=down", "reason=chaos-test"], cwd=sub.project)
    try:
        when(lambda: "DUE TO NODE FAILURE" in sub.log_text(), timeout=120)
    finally:
        run(["scontrol", "update", f"nodename={node}", "state=resume"], cwd=sub.project, check=False)
    sub.extra["done"] = when(lambda: "(run 2)" in sub.log_text(), timeout=300)
    sub.extra["node"] = node


def warn_during_setup(lab: Lab, sub: Submitted, times: int) -> None:
    """USR1 to the batch shell while it sets up the venv, in each of ``times`` runs."""
    for run in range(1, times + 1):
        setting_up = re.compile(rf"\(run {run}\)[^\n]*\n[^\n]*setting up the venv")
        if not when(lambda pattern=setting_up: pattern.search(sub.log_text()) is not None):
            return
        lab.slurm.run(["scancel", "--batch", "--signal=USR1", sub.job_id], cwd=sub.project, check=False)
    sub.extra["done"] = True


@pytest.fixture(scope="module")
def chaos(lab, slurm):
    submitted = {}
    # The node set DOWN is n2, and only that job runs there: the others would fail with it.
    on_n1, on_n2 = ["--nodelist=n1"], ["--nodelist=n2"]
    for name, target, where in (("admin requeue", requeue_at_a_random_point, on_n1),
                                ("node down", node_down_under_it, on_n2)):
        project, answers = lab.project(f"chaos {name}", framework="none", time="10:00", **FAST)
        sub = lab.submit(project, answers, SLOW, sbatch_options=where)
        thread = threading.Thread(target=target, args=(lab, sub))
        thread.start()
        submitted[name] = sub
        sub.extra["thread"] = thread
    project, answers = lab.project("chaos stalls", framework="none", time="10:00", **FAST)
    # ENV_CACHE=off: every run builds its venv, long enough to be warned during it
    sub = lab.submit(project, answers, SLOW, sbatch_options=on_n1,
                     env={"ENV_CACHE": "off", "MAX_REQUEUES_WITHOUT_PROGRESS": "1"})
    thread = threading.Thread(target=warn_during_setup, args=(lab, sub, 2))
    thread.start()
    submitted["stalls"] = sub
    sub.extra["thread"] = thread
    # every step would take 10 minutes: the watchdog (6 s) ends each run, job.sh requeues it once
    project, answers = lab.project("chaos hangs", framework="none", time="10:00", **FAST)
    hangs = ["--epochs", "2", "--step-seconds", "600", "--hang-minutes", "0.1"]
    submitted["hangs"] = lab.submit(project, answers, hangs, sbatch_options=on_n1,
                                    env={"MAX_REQUEUES_WITHOUT_PROGRESS": "1"})
    return submitted


def uninterrupted(sub: Submitted, slurm, tmp_path: Path) -> dict:
    """The metrics of the same training, never stopped (the step pause changes no number)."""
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["tar", "-xf", str(dataset_path(slurm, sub.answers)), "-C", str(data)], check=True)
    args = [arg for arg in SLOW if arg not in ("--step-seconds", "1.2")]
    subprocess.run([sys.executable, "-m", f"{sub.answers['package_name']}.train", "--data-dir", str(data),
                    "--run-dir", str(tmp_path / "run"), *args], cwd=sub.project, check=True, capture_output=True,
                   env={"PYTHONPATH": str(sub.project / "src"), "PATH": "/usr/bin:/bin"})
    return metrics(tmp_path / "run")


@pytest.mark.parametrize("name", ["admin requeue", "node down"])
def test_a_job_sent_back_by_slurm_resumes_to_the_same_result(name, chaos, lab, slurm, tmp_path):
    sub = chaos[name]
    result = finished(slurm, sub, timeout=900)
    sub.extra["thread"].join(timeout=60)
    log = sub.log_text()
    assert sub.extra.get("done"), f"the {name} did not happen:\n{log}"
    assert result["state"] == "COMPLETED", (result, log)
    assert re.findall(rf"job {sub.job_id} \(run (\d+)\)", log)[:2] == ["1", "2"], log
    assert "resuming from" in log
    assert metrics(lab.results(sub)) == uninterrupted(sub, slurm, tmp_path)
    report = json.loads((lab.results(sub) / "run.json").read_text())
    assert report["restarts"] >= 1 and len(report["runs"]) == report["restarts"] + 1, report


def test_a_job_that_keeps_coming_back_without_progress_stops(chaos, lab, slurm):
    sub = chaos["stalls"]
    result = finished(slurm, sub, timeout=600)
    sub.extra["thread"].join(timeout=60)
    log = sub.log_text()
    assert sub.extra.get("done"), log
    assert result["state"] == "FAILED", (result, log)
    assert log.count("time limit reached during setup; requeueing job") == 1, log
    assert re.search(r"job\.sh: ERROR: time limit reached during setup, but the job was requeued 1 times in a row "
                     r"without a new checkpoint: not again \(MAX_REQUEUES_WITHOUT_PROGRESS=1\); see the lines above, "
                     rf"then resume with: RUN_ID={sub.job_id} sbatch job.sh", log), log


def test_a_hung_training_shows_its_stacks_is_requeued_then_stops(chaos, lab, slurm):
    sub = chaos["hangs"]
    result = finished(slurm, sub, timeout=600)
    log = sub.log_text()
    assert result["state"] == "FAILED", (result, log)
    assert log.count("WATCHDOG: rank 0: no step finished for") == 2, log
    assert len(re.findall(r"line \d+ in train$", log, re.M)) == 2, "each run's stacks, with the loop's frame"
    hung = "the training hung: no step finished for --hang-minutes (the watchdog's stacks are above)"
    assert log.count(f"{hung}; requeueing job {sub.job_id} to resume") == 1, log
    assert f"job.sh: ERROR: {hung}, but the job was requeued 1 times in a row without a new checkpoint" in log
    assert not (lab.results(sub) / "metrics.json").exists()
