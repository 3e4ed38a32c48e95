"""bench/gpu-check on the CPU: its bake, a --cpu run (the same code paths as on a GPU, over gloo,
tiny sizes), and its refusal to report GPU figures without a GPU. The GPU run itself needs an
H100 (issue 17); its tests phase runs the suites test_generated_project.py and test_engine.py
already run here, so the --cpu run leaves it out (--skip tests) to keep this test short."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu-check"
TORCH_PROJECT = pytest.mark.parametrize("laptop_project", ["pytorch"], indirect=True)  # its .venv has torch



def gpu_check(python: Path | str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


def script_module():
    """bench/gpu-check imported, for its verdicts (a script: no .py to import it by)."""
    loader = importlib.machinery.SourceFileLoader("gpu_check_script", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gpu-check") / "baked"
    done = gpu_check(sys.executable, "bake", str(folder))  # this .venv: cookiecutter
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@TORCH_PROJECT
@pytest.mark.slow
@pytest.mark.xdist_group("laptop")  # the laptop projects' worker
def test_a_cpu_run_stops_resumes_to_the_same_bits_and_measures(
    baked: Path, laptop_project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "figures" / "gpu-check.json"
    done = gpu_check(laptop_project / ".venv" / "bin" / "python", "run", str(baked), "--out", str(out), "--cpu",
                     "--skip", "tests")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr
    figures = json.loads(out.read_text())
    assert figures["kind"] == "cpu" and figures["passed"] is True
    for precision in ("bf16", "fp32"):
        train = figures["train"][f"train {precision} --deterministic"]
        assert train["exit_codes"] == {"uninterrupted": 0, "stopped": 3, "resumed": 0}
        assert train["stopped_at"]["signal"] == "SIGUSR1" and train["mid_epoch"] is True
        assert train["resumed"] == train["uninterrupted"]  # bit for bit
        assert "device cpu," in train["setup"] and f"precision {precision}," in train["setup"]
        assert train["device"] == "3 training processes, 3 on cpu"
        speed = figures["speed"]["median"][precision]
        assert speed["engine"] > 0 and speed["plain"] > 0
    assert figures["speed"]["process_group"]["backend"] == "gloo"
    # The table comes last: a header, then one row per check, then where the figures are.
    lines = done.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("gpu-check on CPU")))
    rows = lines[start + 3 : -1]
    assert [row.split("  ")[0] for row in rows] == [check["check"] for check in figures["checks"]]
    assert all("  PASS  " in row for row in rows) and len(rows) == 6
    assert lines[-1].startswith(f"all figures: {out};") and lines[-1].endswith("every check passed")


@TORCH_PROJECT
@pytest.mark.slow
@pytest.mark.xdist_group("laptop")  # the laptop projects' worker
def test_without_cuda_it_refuses_to_report_gpu_figures(baked: Path, laptop_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpu-check.json"
    python = laptop_project / ".venv" / "bin" / "python"
    done = gpu_check(python, "run", str(baked), "--out", str(out), CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: CUDA is not available (torch ")
    assert "no GPU figures without a GPU; --cpu runs the same checks on the CPU" in done.stderr
    assert not out.exists() and not list(tmp_path.iterdir())

    elsewhere = gpu_check(python, "run", str(tmp_path), "--out", str(out), "--cpu")
    assert elsewhere.returncode == 2
    assert elsewhere.stderr == f"error: {tmp_path} is not a folder made by `bench/gpu-check bake`\n"
    assert not out.exists()


def test_on_a_gpu_every_training_process_must_have_used_cuda(tmp_path: Path) -> None:
    """The GPU run's verdict on the probe's records, which only a GPU makes for real."""
    run = script_module().Run(tmp_path, "cuda", tmp_path, budget=60)
    trained = {"pytest": False, "cuda": True, "cuda_bytes": 2**20}
    in_pytest = {"pytest": True, "cuda": False, "cuda_bytes": 0}  # a suite's own process, no training
    assert run.on_device([trained, in_pytest]) == (True, "1 training processes, 1 on cuda")
    for wrong in ({"cuda": False, "cuda_bytes": 0}, {"cuda": True, "cuda_bytes": 0}):
        passed, found = run.on_device([trained, trained | wrong])
        assert not passed and found.startswith("2 training processes, 1 on cuda; not: ")
    assert run.on_device([in_pytest])[0] is False  # nothing used the GPU: no pass
    assert run.on_device([])[0] is False


def test_resumed_metrics_agree_bit_for_bit_or_within_bf16s_epsilon() -> None:
    compare = script_module().compare
    whole = {"epoch": 3, "steps": 186, "train_loss": 0.5, "val_accuracy": 0.75, "settings": {"seed": 0}}
    assert compare(whole, dict(whole), exact=True) == (True, 0.0)
    close = whole | {"train_loss": 0.5 * (1 + 2**-9)}
    assert compare(whole, close, exact=True)[0] is False
    assert compare(whole, close, exact=False) == (True, 2**-9)
    assert compare(whole, whole | {"train_loss": 0.51}, exact=False)[0] is False
    assert compare(whole, whole | {"settings": {"seed": 1}}, exact=False)[0] is False
    assert compare(whole, {k: v for k, v in whole.items() if k != "val_accuracy"}, exact=False)[0] is False
