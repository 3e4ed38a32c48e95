"""README.md's "Make it yours", done as written on a copy of a laptop project (images for the
data), then the project's own tests: they follow the task, so they pass on the images too."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.laptop import run

pytestmark = pytest.mark.xdist_group("laptop")  # the laptop projects' worker

# Small noisy pictures whose colour is their class, in PNG and JPEG, of two sizes, and the hidden
# files a Mac leaves beside them; made with the project's .venv (it has Pillow and NumPy).
MAKE_IMAGES = """
import sys
from pathlib import Path
import numpy as np
from PIL import Image

COLOURS = {"red": (190, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 190)}
rng = np.random.default_rng(0)
for split, per_class in (("train", 24), ("val", 8)):
    for name, colour in COLOURS.items():
        folder = Path(sys.argv[1]) / split / name
        folder.mkdir(parents=True)
        (folder / ".DS_Store").write_bytes(b"\\0\\0\\0\\1Bud1")
        for i in range(per_class):
            noise = rng.normal(0.0, 50.0, size=(12 + i % 2 * 8, 10, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:04d}.{'png' if i % 2 else 'jpg'}")
"""


def code_blocks(text: str, language: str) -> list[str]:
    blocks = re.findall(rf"^( *)```{language}\n(.*?)^\1```$", text, re.M | re.S)
    return [textwrap.dedent(block) for _, block in blocks]


@pytest.fixture(scope="session")
def made_yours(laptop_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the laptop project after the README's steps: its own images, its own task.py.
    The copy runs with the laptop project's .venv, its own src/ first on the path."""
    project = tmp_path_factory.mktemp("mine") / laptop_project.name
    shutil.copytree(laptop_project, project, ignore=shutil.ignore_patterns(".venv", "__pycache__", ".git"))
    (project / "data").mkdir(exist_ok=True)  # the quick start's make_dataset made it
    python = str(laptop_project / ".venv" / "bin" / "python")
    env = {"PYTHONPATH": str(project / "src"), "WANDB_MODE": "disabled"}  # no W&B account here
    made = run([python, "-c", MAKE_IMAGES, str(project / "my_images")], project, env)
    assert made.returncode == 0, made.stderr
    section = (project / "README.md").read_text().split("\n## Make it yours\n", 1)[1].split("\n## ", 1)[0]
    # Step 2: the README's functions replace the example's, defined again further down task.py.
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    task = project / "src" / package / "task.py"
    (new_code,) = code_blocks(section, "python")
    task.write_text(task.read_text() + "\n\n" + new_code)
    # Steps 1 and 3, their commands as written, with the laptop project's .venv.
    for commands in code_blocks(section, "bash"):
        script = commands.replace(".venv/bin/python", python)
        done = run(["bash", "-euo", "pipefail", "-c", script], project, env, timeout=600)
        assert done.returncode == 0, script + done.stdout + done.stderr
    return project


def test_the_readme_trains_on_the_images(made_yours: Path) -> None:
    metrics = json.loads((made_yours / "runs" / "images" / "metrics.json").read_text())
    assert metrics["epoch"] == 5
    assert metrics["val_accuracy"] > 0.6  # three colours: chance is 1/3


def test_the_projects_own_tests_pass_on_the_images(laptop_project: Path, made_yours: Path) -> None:
    """tests/conftest.py trains on data/dataset.tar, now the images of step 1."""
    python = str(laptop_project / ".venv" / "bin" / "python")
    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"], made_yours,
                 {"PYTHONPATH": str(made_yours / "src")}, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout
