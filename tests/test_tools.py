"""tools/bake as a student runs it: where the project goes, a typo in a choice, a refused answer."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bakery import TEMPLATE


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of this checkout in tmp_path/labs/cookiecutter-drac-ml, sharing its .venv."""
    copy = tmp_path / "labs" / "cookiecutter-drac-ml"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".*cache"))
    (copy / ".venv").symlink_to(Path(sys.executable).parents[1])
    return copy


def bake(checkout: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run([str(checkout / "tools" / "bake"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_from_inside_the_checkout_the_project_goes_next_to_it(checkout):
    done = bake(checkout, "--no-input", "account=def-testlab", cwd=checkout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"the project goes in {checkout.parent}, next to this checkout" in done.stdout
    assert (checkout.parent / "my_ml_project" / "job.sh").is_file()
    assert not (checkout / "my_ml_project").exists()


def test_elsewhere_the_project_goes_in_the_current_folder(checkout, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    done = bake(checkout, "--no-input", "account=def-testlab", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "my_ml_project" / "job.sh").is_file() and "next to this checkout" not in done.stdout


def test_a_typo_in_a_choice_is_one_line(checkout, tmp_path):
    done = bake(checkout, "--no-input", "cluster=narvall", "tracker=wandb", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "ERROR: cluster 'narvall': expected one of fir, nibi, narval, rorqual, trillium, tamia, killarney, vulcan; "
        "did you mean narval?",
        "Nothing was generated: fix the answer(s) above and run tools/bake again.",
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "labs"]


def test_a_refused_bake_prints_the_command_that_reruns_with_the_answers(checkout, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    done = bake(checkout, "--no-input", "project_name=Étude des réseaux", "cluster=narval", "account=def_prof",
                cwd=work)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "ERROR: account 'def_prof': expected def-<name>" in done.stderr
    assert "run tools/bake again" in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    command = lines[lines.index("Your answers, to edit and run again:") + 1].strip()
    words = shlex.split(command)
    assert words[:2] == ["tools/bake", "--no-input"]
    assert {"project_name=Étude des réseaux", "cluster=narval", "account=def_prof", "time=3:00:00"} <= set(words)
    assert list(work.iterdir()) == []
    fixed = [word.replace("def_prof", "def-prof") for word in words[1:]]
    again = bake(checkout, *fixed, cwd=work)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (work / "etude_des_reseaux" / "job.sh").is_file()


def test_a_labs_defaults_in_its_cookiecutterrc(checkout, tmp_path):
    """The README's lab defaults: a ~/.cookiecutterrc whose default_context answers for everyone."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cookiecutterrc").write_text(
        "default_context:\n"
        '  cluster: "narval"\n'
        '  account: "def-ourlab"\n'
        '  username: "jsmith"\n'
        '  mail_user: "jsmith@example.ca"\n'
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"HOME": str(home)}
    done = subprocess.run([str(checkout / "tools" / "bake"), "--no-input"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    job = (work / "my_ml_project" / "job.sh").read_text()
    assert "#SBATCH --account=def-ourlab " in job and "#SBATCH --mail-user=jsmith@example.ca " in job
    assert "Train my_ml_project on Narval." in job
    assert "    User jsmith\n" in (work / "my_ml_project" / "README.md").read_text()
