#!/usr/bin/env python3
"""What a run used: job.sh calls this when training starts and when the job ends (done, requeued,
stopped: a requeue the cluster refused, or failed) to add the job to RUN_DIR/run.json and print a
one-line summary for the log. Standard library only: it runs with the cluster's python module,
before or without the project's venv.

    run-report.py RUN_DIR --job-id ID --restart N --nodes LIST --gpus N --start EPOCH
                  --setup SECONDS --outcome started|done|requeued|stopped|failed

"started" records the run as "interrupted" and prints nothing: a run that Slurm kills outright
(a node failure, an administrator's requeue) never reports its end, so its record stays
"interrupted", and its wall time is taken from the last heartbeat job-node.sh wrote.

GPU use comes from the samples job-node.sh writes (RUN_DIR/usage/gpu-*.csv: nvidia-smi's
"index, utilization.gpu, memory.used" CSV, no header, no units), CPU efficiency from seff (or,
where seff is not installed, from sacct).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

IDLE_GPU = 30.0  # percent: below this mean, the log warns (sites stop jobs whose GPUs idle)


def gpu_usage(run_dir: Path, job_id: str, restart: int) -> dict:
    """The means of the GPU samples this job's run took, on every node, as run.json keeps them."""
    samples = []  # (utilization %, memory MiB)
    for path in sorted((run_dir / "usage").glob(f"gpu-*-{job_id}-{restart}.csv")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split(",")
            try:
                samples.append((float(fields[1]), float(fields[2])))
            except (IndexError, ValueError):
                continue  # a line cut short when the job ended, or "[N/A]" (a MIG slice)
    return {
        "gpu_utilization_mean": mean([s[0] for s in samples], 1),
        "gpu_memory_mean_mib": mean([s[1] for s in samples]),
        "gpu_samples": len(samples),
    }


def mean(values: list[float], digits: int | None = None) -> float | None:
    """The mean, rounded; None for no values."""
    return round(statistics.fmean(values), digits) if values else None


def heartbeat_wall(run_dir: Path, run: dict) -> float:
    """Seconds an interrupted run lasted: its rank 0 heartbeat's last write, less its start."""
    beat = run_dir / "usage" / f"heartbeat-{run['job_id']}-{run['restart']}"
    try:
        return max(run["wall_seconds"], round(beat.stat().st_mtime - run["start"], 1))
    except (OSError, KeyError, TypeError):
        return run["wall_seconds"]


def no_gpu_samples(run_dir: Path, runs: list[dict]) -> str:
    """Why run.json has no GPU figures."""
    if not any(r["gpus"] for r in runs):
        return "no GPU in these jobs"
    if any((run_dir / "usage").glob("gpu-*.csv")):
        return "no samples: nvidia-smi reported no utilization (MIG slices do not)"
    return "no samples: nvidia-smi was not found on the nodes"


def slurm_seconds(text: str) -> float:
    """Slurm's [D-][HH:]MM:SS[.mmm] (sacct's Elapsed, TotalCPU) in seconds."""
    days, _, clock = text.rpartition("-")
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return int(days or 0) * 86400 + seconds


def ask(*command: str) -> str:
    """What an accounting command prints; "" when it is missing, fails or is slow (a slow
    database must not cost the report, nor the job's last minutes)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (subprocess.TimeoutExpired, OSError):  # OSError: not installed here
        return ""
    return done.stdout if done.returncode == 0 else ""


def cpu_efficiency(job_id: str) -> str | None:
    """seff's "CPU Efficiency: 65.20% of ..." as "65.20%"; without seff, seff's arithmetic on
    sacct's figures: the CPU time of the job's finished steps over its cores times its wall time.
    None when neither answers."""
    found = re.search(r"CPU Efficiency:\s*([0-9.]+%)", ask("seff", job_id))
    if found:
        return found.group(1)
    table = ask("sacct", "-j", job_id, "-n", "-P", "-o", "JobID,TotalCPU,Elapsed,AllocCPUS")
    rows = [line.split("|") for line in table.splitlines() if line.count("|") == 3]
    try:
        used = sum(slurm_seconds(row[1]) for row in rows if row[0].startswith(f"{job_id}."))
        cores = next(slurm_seconds(row[2]) * int(row[3]) for row in rows if row[0] == job_id)
    except (StopIteration, ValueError):
        return None
    return f"{100 * used / cores:.2f}%" if cores else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--restart", type=int, default=0)
    parser.add_argument("--nodes", default="")
    parser.add_argument("--gpus", type=int, default=0)  # the job's GPUs, on all its nodes
    parser.add_argument("--start", type=float, required=True)  # when the run started, epoch s
    parser.add_argument("--setup", type=float, default=0.0)  # seconds to set up the venv and data
    outcomes = ("started", "done", "requeued", "stopped", "failed")
    parser.add_argument("--outcome", choices=outcomes, required=True)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    report_file = args.run_dir / "run.json"
    runs = json.loads(report_file.read_bytes())["runs"] if report_file.is_file() else []  # UTF-8
    runs = [r for r in runs if (r["job_id"], r["restart"]) != (args.job_id, args.restart)]
    for r in runs:
        if r["outcome"] == "interrupted":  # it ended without a word: read what it left behind
            r["wall_seconds"] = heartbeat_wall(args.run_dir, r)
            left = gpu_usage(args.run_dir, r["job_id"], r["restart"])
            if left["gpu_samples"]:
                r.update(left)
    run = {
        "job_id": args.job_id,
        "restart": args.restart,
        "nodes": args.nodes,
        "gpus": args.gpus,
        "wall_seconds": round(max(0.0, time.time() - args.start), 1),
        "setup_seconds": round(args.setup, 1),
        "start": round(args.start, 1),
        "outcome": "interrupted" if args.outcome == "started" else args.outcome,
        **gpu_usage(args.run_dir, args.job_id, args.restart),
        "cpu_efficiency": None if args.outcome == "started" else cpu_efficiency(args.job_id),
    }
    runs.append(run)
    used = [r for r in runs if r["gpu_utilization_mean"] is not None]
    busy = mean([r["gpu_utilization_mean"] for r in used], 1)
    report = {
        "job_ids": sorted({r["job_id"] for r in runs}, key=lambda j: (len(j), j)),
        "runs": runs,
        "restarts": len(runs) - 1,
        "wall_seconds": round(sum(r["wall_seconds"] for r in runs), 1),
        "gpu_hours": round(sum(r["wall_seconds"] * r["gpus"] for r in runs) / 3600, 3),
        "setup_seconds": round(sum(r["setup_seconds"] for r in runs), 1),
        "gpu_utilization_mean": busy,
        "gpu_memory_mean_mib": mean([r["gpu_memory_mean_mib"] for r in used]),
        "gpu_note": None if used else no_gpu_samples(args.run_dir, runs),
    }
    args.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = report_file.with_name(f".run.json.{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(report_file)
    if args.outcome == "started":
        return 0
    gpu = report["gpu_note"] or f"GPUs busy {busy}% (memory {report['gpu_memory_mean_mib']} MiB)"
    cpu = f", CPU efficiency {run['cpu_efficiency']}" if run["cpu_efficiency"] else ""
    print(
        f"summary: {len(runs)} run(s) of job(s) {', '.join(report['job_ids'])}, "
        f"{report['wall_seconds']:.0f} s in all, {report['gpu_hours']} GPU-hours, "
        f"setup {report['setup_seconds']:.1f} s, {gpu}{cpu}; {report_file}"
    )
    if used and busy < IDLE_GPU:
        print(
            f"WARNING: the GPUs were busy {busy}% of the time on average: sites stop jobs whose"
            " GPUs idle. Feed them faster (more DataLoader workers, data in $SLURM_TMPDIR, a"
            " larger batch), or ask for fewer GPUs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
