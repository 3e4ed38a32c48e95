"""scripts/install-bashrc.sh: idempotent, backed up, never overwrites what the user wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

BEGIN = "# >>> DRAC Slurm account (cookiecutter-drac-ml) >>>"


@pytest.fixture(scope="module")
def projects(bakery):
    return bakery.bake(account="def-testlab"), bakery.bake(account="rrg-testlab-ab")


def install(project: Path, bashrc: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(project / "scripts/install-bashrc.sh"), str(bashrc)], capture_output=True, text=True)


def account_in_login_shell(bashrc: Path) -> str:
    script = f'source "{bashrc}"; echo "$SLURM_ACCOUNT $SBATCH_ACCOUNT $SALLOC_ACCOUNT"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def test_installs_once_and_keeps_the_users_lines(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\nalias ll='ls -l'\n")
    first = install(project, bashrc)
    assert first.returncode == 0, first.stderr
    assert "backup" in first.stdout
    text = bashrc.read_text()
    assert text.startswith("# mine\nalias ll='ls -l'\n") and text.count(BEGIN) == 1
    assert account_in_login_shell(bashrc) == "def-testlab def-testlab def-testlab"
    backups = list(tmp_path.glob(".bashrc.bak-*"))
    assert [b.read_text() for b in backups] == ["# mine\nalias ll='ls -l'\n"]

    again = install(project, bashrc)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert bashrc.read_text() == text
    assert len(list(tmp_path.glob(".bashrc.bak-*"))) == 1


def test_a_new_account_replaces_only_the_block(projects, tmp_path):
    first, second = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("before\n")
    assert install(first, bashrc).returncode == 0
    bashrc.write_text(bashrc.read_text() + "after\n")
    assert install(second, bashrc).returncode == 0
    text = bashrc.read_text()
    assert text.count(BEGIN) == 1 and "def-testlab" not in text
    assert text.startswith("before\n") and "after\n" in text
    assert account_in_login_shell(bashrc) == "rrg-testlab-ab rrg-testlab-ab rrg-testlab-ab"


def test_refuses_when_the_user_sets_the_account_elsewhere(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    original = "export SBATCH_ACCOUNT=def-mine\n"
    bashrc.write_text(original)
    result = install(project, bashrc)
    assert result.returncode == 1
    assert "outside the marked block" in result.stderr and "1: export SBATCH_ACCOUNT=def-mine" in result.stderr
    assert bashrc.read_text() == original
    assert not list(tmp_path.glob(".bashrc.bak-*"))


def test_creates_a_missing_bashrc(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / "new" / ".bashrc"
    bashrc.parent.mkdir()
    assert install(project, bashrc).returncode == 0
    assert account_in_login_shell(bashrc) == "def-testlab def-testlab def-testlab"
