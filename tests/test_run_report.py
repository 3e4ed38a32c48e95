"""scripts/run-report.py: what a run used, summed over its jobs (issue 9). The Slurm tests run it
inside real jobs; these feed it the files a job leaves behind, including the runs that ended
without a word (a node failure), so every branch of its arithmetic is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def script(bakery) -> Path:
    return bakery.bake(cluster="fir", account="def-testlab") / "scripts" / "run-report.py"


def report(script: Path, run_dir: Path, job: str, restart: int, outcome: str, start: float, gpus: int = 1,
           path: str = "/usr/bin:/bin"):
    args = [sys.executable, str(script), str(run_dir), "--job-id", job, "--restart", str(restart),
            "--gpus", str(gpus), "--start", str(start), "--setup", "2.5", "--outcome", outcome]
    done = subprocess.run(args, capture_output=True, text=True, env={"PATH": path})
    assert done.returncode == 0, done.stderr
    return done.stdout


def samples(run_dir: Path, job: str, restart: int, *lines: str) -> None:
    (run_dir / "usage").mkdir(parents=True, exist_ok=True)
    (run_dir / "usage" / f"gpu-node1-{job}-{restart}.csv").write_text("".join(f"{line}\n" for line in lines))


def test_a_run_killed_without_a_word_is_counted_from_its_heartbeat(script, tmp_path):
    start = time.time() - 3  # the run started, set up in 3 s, and began training
    assert report(script, tmp_path, "7", 0, "started", start) == ""  # a start prints nothing
    samples(tmp_path, "7", 0, "0, 80, 2048", "1, 60, 1024", "0, 70")  # the last line cut short
    beat = tmp_path / "usage" / "heartbeat-7-0"
    beat.touch()
    heard = start + 300  # rank 0's last heartbeat: 300 s in, then the node died
    os.utime(beat, (heard, heard))
    out = report(script, tmp_path, "7", 1, "done", time.time() - 100)
    runs = json.loads((tmp_path / "run.json").read_text())
    first, second = runs["runs"]
    assert first["outcome"] == "interrupted" and first["wall_seconds"] == pytest.approx(300, abs=1)
    assert (first["gpu_samples"], first["gpu_utilization_mean"], first["gpu_memory_mean_mib"]) == (2, 70.0, 1536)
    assert second["outcome"] == "done" and second["wall_seconds"] == pytest.approx(100, abs=2)
    assert runs["restarts"] == 1 and runs["job_ids"] == ["7"]
    assert runs["wall_seconds"] == pytest.approx(first["wall_seconds"] + second["wall_seconds"], abs=0.2)
    assert runs["gpu_hours"] == pytest.approx(runs["wall_seconds"] / 3600, abs=0.002)
    assert runs["setup_seconds"] == 5.0
    assert "2 run(s) of job(s) 7" in out and "GPUs busy 70.0%" in out and "WARNING" not in out


def test_idle_gpus_are_warned_and_missing_samples_are_said(script, tmp_path):
    idle, blind, cpu = tmp_path / "idle", tmp_path / "blind", tmp_path / "cpu"
    samples(idle, "8", 0, "0, 5, 100", "0, 15, 100")
    out = report(script, idle, "8", 0, "requeued", time.time() - 10)
    assert "GPUs busy 10.0%" in out and "WARNING: the GPUs were busy 10.0% of the time" in out
    out = report(script, blind, "9", 0, "failed", time.time() - 10)
    note = json.loads((blind / "run.json").read_text())["gpu_note"]
    assert note == "no samples: nvidia-smi was not found on the nodes"
    assert "nvidia-smi was not found" in out
    mig = tmp_path / "mig"  # nvidia-smi on a MIG slice: no utilization
    samples(mig, "12", 0, "0, [N/A], 4000", "0, [N/A], 4100")
    report(script, mig, "12", 0, "done", time.time() - 10)
    note = json.loads((mig / "run.json").read_text())["gpu_note"]
    assert note == "no samples: nvidia-smi reported no utilization (MIG slices do not)"
    report(script, cpu, "10", 0, "done", time.time() - 10, gpus=0)
    assert json.loads((cpu / "run.json").read_text())["gpu_note"] == "no GPU in these jobs"


def test_reporting_the_same_run_twice_replaces_it(script, tmp_path):
    start = time.time() - 50
    report(script, tmp_path, "11", 0, "started", start)
    report(script, tmp_path, "11", 0, "requeued", start)
    runs = json.loads((tmp_path / "run.json").read_text())["runs"]
    assert [(r["job_id"], r["restart"], r["outcome"]) for r in runs] == [("11", 0, "requeued")]


# What the local Slurm's sacct printed for a job of job.sh as it reported its end (the venv, the
# data and the training steps done, the batch step still running); Debian has no seff.
SACCT = """132|00:00.482|00:00:10|1|RUNNING
132.batch|00:00:00|00:00:10|1|RUNNING
132.0|00:00.463|00:00:02|1|COMPLETED
132.1|00:00.018|00:00:01|1|COMPLETED
132.2|00:00:00|00:00:07|1|RUNNING
"""


def test_without_seff_the_cpu_efficiency_is_seffs_arithmetic_on_sacct(script, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sacct = bin_dir / "sacct"  # prints the capture, in the columns run-report.py asks for
    sacct.write_text(f"#!/bin/sh\n[ \"$*\" = \"-j 132 -n -P -o JobID,TotalCPU,Elapsed,AllocCPUS\" ] || exit 1\n"
                     f"cut -d'|' -f1-4 <<'EOF'\n{SACCT}EOF\n")
    sacct.chmod(0o755)
    out = report(script, tmp_path / "run", "132", 0, "done", time.time() - 10, path=f"{bin_dir}:/usr/bin:/bin")
    [run] = json.loads((tmp_path / "run" / "run.json").read_text())["runs"]
    assert run["cpu_efficiency"] == "4.81%"  # the steps' 0.481 s of CPU over 1 core for 10 s
    assert ", CPU efficiency 4.81%; " in out
    report(script, tmp_path / "other", "77", 0, "done", time.time() - 10, path=f"{bin_dir}:/usr/bin:/bin")
    assert json.loads((tmp_path / "other" / "run.json").read_text())["runs"][0]["cpu_efficiency"] is None
