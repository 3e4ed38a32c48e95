"""tools/bake as a student runs it: where the project goes, a typo in a choice, a refused answer."""

from __future__ import annotations

import json
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
        "Nothing was generated: fix the answer(s) above and run labs/cookiecutter-drac-ml/tools/bake again.",
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "labs"]


def test_a_refused_bake_prints_the_command_that_reruns_with_the_answers(checkout, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    done = bake(checkout, "--no-input", "project_name=Étude des réseaux", "cluster=narval", "account=def_prof",
                cwd=work)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "ERROR: account 'def_prof': expected def-<name>" in done.stderr
    assert f"run {checkout / 'tools' / 'bake'} again" in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    command = lines[lines.index("Your answers, to edit and run again:") + 1].strip()
    words = shlex.split(command)
    assert words[:2] == [str(checkout / "tools" / "bake"), "--no-input"]  # work is not in the checkout
    assert {"project_name=Étude des réseaux", "cluster=narval", "account=def_prof", "time=3:00:00"} <= set(words)
    assert list(work.iterdir()) == []
    # pasted, edited, in the folder where the student baked
    again = subprocess.run(command.replace("def_prof", "def-prof"), shell=True, cwd=work, capture_output=True,
                           text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert (work / "etude_des_reseaux" / "job.sh").is_file()


def test_from_inside_the_checkout_the_rerun_command_is_tools_bake(checkout):
    done = bake(checkout, "--no-input", "account=def_prof", cwd=checkout)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[lines.index("Your answers, to edit and run again:") + 1].strip().startswith("tools/bake --no-input ")
    assert "run tools/bake again" in done.stdout + done.stderr


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.ca", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.ca"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def committed(checkout: Path) -> Path:
    git("init", "-q", "-b", "main", cwd=checkout)
    git("add", "-A", cwd=checkout)
    git("commit", "-qm", "template", cwd=checkout)
    return checkout


def test_a_checkout_with_an_origin_records_it_and_regenerate_reaches_it(checkout, tmp_path):
    """The project must find its template from a login node: the checkout's origin, not its path."""
    committed(checkout)
    upstream = f"file://{tmp_path / 'upstream.git'}"
    git("init", "-q", "--bare", "-b", "main", str(tmp_path / "upstream.git"), cwd=tmp_path)
    git("remote", "add", "origin", upstream, cwd=checkout)
    work = tmp_path / "work"
    work.mkdir()
    unpushed = bake(checkout, "--no-input", "account=def-testlab", "project_name=unpushed", cwd=work)
    assert unpushed.returncode == 0, unpushed.stdout + unpushed.stderr
    assert f"is not on {upstream} (as far as the checkout knows): push it" in unpushed.stderr

    git("push", "-q", "origin", "main", cwd=checkout)
    done = bake(checkout, "--no-input", "account=def-testlab", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ".cruft.json records" not in done.stderr and "is not on" not in done.stderr
    project = work / "my_ml_project"
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == upstream and state["commit"] == git("rev-parse", "HEAD", cwd=checkout).strip()
    shutil.move(checkout, tmp_path / "moved")  # the checkout is not where the project is used
    check = subprocess.run([str(project / "scripts" / "regenerate.sh"), "--check"], cwd=project, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and f"up to date with the template ({upstream}" in check.stderr, check.stderr


def test_a_checkout_without_a_remote_records_its_path_with_a_warning(checkout, tmp_path):
    committed(checkout)
    done = bake(checkout, "--no-input", "account=def-testlab", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads((tmp_path / "my_ml_project" / ".cruft.json").read_text())
    assert state["template"] == str(checkout)
    assert f"WARNING: .cruft.json records the template as a path on this machine, {checkout}: " in done.stderr
    assert "scripts/regenerate.sh --template URL" in done.stderr


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
