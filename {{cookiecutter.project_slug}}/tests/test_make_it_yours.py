"""README.md's "Make it yours", done as written on a copy of the project: images for the data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

{% if cookiecutter.framework == "pytorch" -%}
pytest.importorskip("torch", reason="PyTorch is not installed")
{% endif -%}
Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (scripts/setup-laptop.sh)")

from {{ cookiecutter.package_name }}.train import EXIT_CHECKPOINTED

from helpers import PACKAGE, ROOT, child_env, read_metrics, stop_after, train_command

COLOURS = {"red": (190, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 190)}


def code_blocks(text: str, language: str) -> list[str]:
    blocks = re.findall(rf"^( *)```{language}\n(.*?)^\1```$", text, re.M | re.S)
    return [textwrap.dedent(block) for _, block in blocks]


def make_images(folder: Path, per_class: int, rng: np.random.Generator) -> None:
    """Small noisy pictures whose colour is their class, in PNG and JPEG, of two sizes, and the
    hidden files a Mac leaves beside them."""
    for name, colour in COLOURS.items():
        (folder / name).mkdir(parents=True)
        (folder / name / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        for i in range(per_class):
            noise = rng.normal(0.0, 50.0, size=(12 + i % 2 * 8, 10, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i:04d}.{'png' if i % 2 else 'jpg'}")


def run(command: list[str], cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = child_env(PYTHONPATH=str(src))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project after the README's steps: its own images, its own task.py."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Make it yours\n", 1)[1].split("\n## ", 1)[0]
    project = tmp_path_factory.mktemp("mine") / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "data").mkdir()
    rng = np.random.default_rng(0)
    make_images(project / "my_images" / "train", 24, rng)
    make_images(project / "my_images" / "val", 8, rng)
    # Step 2: the README's functions replace the example's, defined again further down task.py.
    task = project / "src" / PACKAGE / "task.py"
    (new_code,) = code_blocks(section, "python")
    task.write_text(task.read_text(encoding="utf-8") + "\n\n" + new_code, encoding="utf-8")
    # Steps 1 and 3, their commands as written, with this Python for the laptop's .venv.
    for commands in code_blocks(section, "bash"):
        script = commands.replace(".venv/bin/python", sys.executable)
        done = run(["bash", "-euo", "pipefail", "-c", script], project, project / "src")
        assert done.returncode == 0, script + done.stdout + done.stderr
    return project


def test_the_readme_trains_on_the_images(project: Path) -> None:
    metrics = read_metrics(project / "runs" / "images")
    assert metrics["epoch"] == 5
    assert metrics["val_accuracy"] > 0.6  # three colours: chance is 1/3


def test_a_stopped_run_on_the_images_resumes_exactly(project: Path, tmp_path: Path) -> None:
    """Stopped mid-epoch, then resumed{{ " (batches loaded by two worker processes)" if cookiecutter.framework == "pytorch" }}: the run ends
    exactly as the README's run, which nothing stopped."""
    data, src = project / "data" / "images", project / "src"
    command = train_command(data, tmp_path, "--epochs", "5"{{ ', "--workers", "2"' if cookiecutter.framework == "pytorch" }})
    stopped = run(stop_after(3, command), project, src)  # 72 images: 2 steps per epoch
    assert stopped.returncode == EXIT_CHECKPOINTED, stopped.stdout + stopped.stderr
    resumed = run(command, project, src)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from" in resumed.stdout and "(epoch 1, step 3)" in resumed.stdout
    assert read_metrics(tmp_path) == read_metrics(project / "runs" / "images")
