"""scripts/install-bashrc.sh: idempotent, backed up, never overwrites what the user wrote."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
import time
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


# ---- hostile inputs: each refusal is one line, exits 1 and leaves the folder as it was ----------

END = "# <<< DRAC Slurm account (cookiecutter-drac-ml) <<<"


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every name in the folder with its kind, mode, inode and bytes: a refusal must change none."""
    state = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        body = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else None
        state[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino, body)
    return state


def assert_refused(result: subprocess.CompletedProcess, folder: Path, before: dict, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("install-bashrc.sh: "), result.stderr
    assert lines[0].endswith("nothing changed") and "run this again" in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert snapshot(folder) == before


def block_of(project: Path) -> str:
    return f"{BEGIN}\n{(project / 'scripts/bashrc-snippet.sh').read_text().rstrip(chr(10))}\n{END}\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"a\n{BEGIN}\nexport SLURM_ACCOUNT=def-old\nb\nc\n", "line 2 "),  # lone begin: b, c were dropped
        (f"a\n{BEGIN}\nexport SLURM_ACCOUNT=def-old\n{BEGIN}\nb\n{END}\nc\n", "line 4 "),  # begin inside a block
        (f"a\nb\n{END}\nc\n", "line 3 "),  # lone end
    ],
    ids=["lone-begin", "nested-begin", "lone-end"],
)
def test_refuses_broken_markers_naming_the_line(projects, tmp_path, text, line):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text(text)
    before = snapshot(tmp_path)
    assert_refused(install(project, bashrc), tmp_path, before, line, "marker")


def test_writes_through_a_symlink(projects, tmp_path):
    project, _ = projects
    (tmp_path / "dotfiles").mkdir()
    real = tmp_path / "dotfiles" / "bashrc"
    real.write_text("# mine\n")
    bashrc = tmp_path / ".bashrc"
    bashrc.symlink_to("dotfiles/bashrc")
    result = install(project, bashrc)
    assert result.returncode == 0, result.stderr
    assert bashrc.is_symlink() and os.readlink(bashrc) == "dotfiles/bashrc"
    assert real.read_text() == "# mine\n" + block_of(project)
    assert account_in_login_shell(bashrc) == "def-testlab def-testlab def-testlab"
    assert [b.read_text() for b in tmp_path.glob(".bashrc.bak-*")] == ["# mine\n"]
    again = install(project, bashrc)
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_keeps_a_hard_link(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\n")
    other = tmp_path / "dotfiles-bashrc"
    os.link(bashrc, other)
    inode = bashrc.stat().st_ino
    result = install(project, bashrc)
    assert result.returncode == 0, result.stderr
    assert bashrc.stat().st_ino == inode and bashrc.stat().st_nlink == 2
    assert other.read_text() == bashrc.read_text() == "# mine\n" + block_of(project)
    # nothing else beside it: no temporary .bashrc.XXXXXX left (issue 18, item 23)
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak-" not in p.name) == [".bashrc", "dotfiles-bashrc"]


def test_outside_a_cluster_it_says_what_it_is_for_and_asks(projects, tmp_path):
    """Issue 14, item 7: ~/.bashrc of a laptop is not the cluster's; without a terminal to ask on,
    it refuses unless --yes (or INSTALL_BASHRC_YES=1) says to go on."""
    project, _ = projects
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CC_CLUSTER", "INSTALL_BASHRC_YES")}
    env["HOME"] = str(home)
    script = str(project / "scripts/install-bashrc.sh")
    refused = subprocess.run([script], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert refused.returncode == 1 and not (home / ".bashrc").exists()
    assert "this is for your ~/.bashrc on the cluster" in refused.stdout
    assert "scripts/install-bashrc.sh --yes; nothing changed" in refused.stderr
    said_no = subprocess.run(["script", "-qec", script, "/dev/null"], env=env, input="n\n", capture_output=True,
                             text=True)
    assert said_no.returncode == 1 and not (home / ".bashrc").exists(), said_no.stdout
    written = subprocess.run([script, "--yes"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert account_in_login_shell(home / ".bashrc") == "def-testlab def-testlab def-testlab"
    on_cluster = subprocess.run([script], env={**env, "CC_CLUSTER": "fir"}, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True)
    assert on_cluster.returncode == 0 and "already has this block" in on_cluster.stdout


def test_refuses_a_read_only_bashrc(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\n")
    bashrc.chmod(0o444)
    before = snapshot(tmp_path)
    assert_refused(install(project, bashrc), tmp_path, before, "read-only", "chmod u+w")


def test_refuses_to_drop_the_users_lines_inside_the_block(projects, tmp_path):
    first, second = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("before\n")
    assert install(first, bashrc).returncode == 0
    lines = bashrc.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("export SALLOC_ACCOUNT"))
    lines[at + 1 : at + 1] = ["alias gs='git status'\n", "module load python\n"]
    bashrc.write_text("".join(lines))
    before = snapshot(tmp_path)
    n = at + 2  # 1-based line number of the alias
    assert_refused(
        install(second, bashrc), tmp_path, before,
        "inside the marked block", f"line {n}: alias gs='git status'", f"line {n + 1}: module load python",
    )


def test_replaces_an_older_block_with_other_comments_and_blank_lines(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text(f"a\n{BEGIN}\n# an older snippet\n\nexport SLURM_ACCOUNT='def-old'\n{END}\nb\n")
    result = install(project, bashrc)
    assert result.returncode == 0, result.stderr
    assert bashrc.read_text() == "a\n" + block_of(project) + "b\n"  # in place, not moved to the end


def test_recognises_a_block_saved_with_crlf(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    crlf = ("# mine\n" + block_of(project) + "after\n").replace("\n", "\r\n")
    bashrc.write_bytes(crlf.encode())
    result = install(project, bashrc)
    assert result.returncode == 0, result.stderr
    # One block, rewritten with LF (bash would keep the CR in the account); the user's lines as they were.
    assert bashrc.read_bytes() == ("# mine\r\n" + block_of(project) + "after\r\n").encode()
    assert account_in_login_shell(bashrc) == "def-testlab def-testlab def-testlab"
    again = install(project, bashrc)
    assert again.returncode == 0 and "nothing changed" in again.stdout


@pytest.mark.parametrize(
    "line",
    [
        "declare -x SLURM_ACCOUNT=def-mine",
        "typeset -x SALLOC_ACCOUNT=def-mine",
        "declare -gx SBATCH_ACCOUNT='def-mine'",
        "  export SLURM_ACCOUNT=def-mine",
        "SLURM_ACCOUNT=def-mine; export SLURM_ACCOUNT",
        "export PATH=$PATH:~/bin SBATCH_ACCOUNT=def-mine",
        ': "${SLURM_ACCOUNT:=def-mine}"',
        "export -n SBATCH_ACCOUNT",
        "unset SALLOC_ACCOUNT",
    ],
)
def test_refuses_every_way_of_setting_the_account_outside_the_block(projects, tmp_path, line):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text(f"# mine\n{line}\n")
    before = snapshot(tmp_path)
    assert_refused(install(project, bashrc), tmp_path, before, "outside the marked block", f"line 2: {line}")


def test_comments_and_reads_of_the_account_are_not_settings(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    mine = '# export SLURM_ACCOUNT=def-old\necho "$SLURM_ACCOUNT"\nexport MY_SLURM_ACCOUNT=x\n'
    bashrc.write_text(mine)
    result = install(project, bashrc)
    assert result.returncode == 0, result.stderr
    assert bashrc.read_text() == mine + block_of(project)


def test_backups_in_the_same_second_get_new_names(projects, tmp_path):
    first, second = projects
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "date").write_text("#!/bin/sh\necho 20250101-000000\n")  # every run in the same second
    (fake / "date").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    home = tmp_path / "home"
    home.mkdir()
    bashrc = home / ".bashrc"
    bashrc.write_text("# mine\n")
    states = [bashrc.read_text()]
    for project in (first, second, first):
        run = subprocess.run([str(project / "scripts/install-bashrc.sh"), str(bashrc)],
                             capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
        states.append(bashrc.read_text())
    backups = sorted(home.glob(".bashrc.bak-20250101-000000*"), key=lambda p: p.stat().st_mtime_ns)
    assert len(backups) == 3
    assert sorted(b.read_text() for b in backups) == sorted(states[:3])


def test_replaces_the_file_atomically_keeping_its_mode(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\n")
    bashrc.chmod(0o600)
    inode = bashrc.stat().st_ino
    assert install(project, bashrc).returncode == 0
    assert bashrc.stat().st_ino != inode  # renamed over, not rewritten in place
    assert stat.S_IMODE(bashrc.stat().st_mode) == 0o600
    [backup] = tmp_path.glob(".bashrc.bak-*")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # a backup is no more readable than the file
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bashrc", backup.name]  # no temporary or lock file


def test_waits_for_the_lock(projects, tmp_path):
    project, _ = projects
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\n")
    lock = tmp_path / ".bashrc.install-bashrc.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = subprocess.Popen([str(project / "scripts/install-bashrc.sh"), str(bashrc)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert run.poll() is None and bashrc.read_text() == "# mine\n"
        fcntl.flock(held, fcntl.LOCK_UN)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert bashrc.read_text() == "# mine\n" + block_of(project)
    assert not lock.exists()


def test_concurrent_runs_lose_no_line(projects, tmp_path):
    first, second = projects
    bashrc = tmp_path / ".bashrc"
    mine = "".join(f"alias a{i}=true\n" for i in range(200))
    bashrc.write_text(mine)
    runs = [subprocess.Popen([str(p / "scripts/install-bashrc.sh"), str(bashrc)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for p in (first, second) * 6]
    for run in runs:
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    text = bashrc.read_text()
    assert text in (mine + block_of(first), mine + block_of(second))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".bashrc.bak-")) == [".bashrc"]


def install_with_snippet(project: Path, tmp_path: Path, snippet: str | None) -> subprocess.CompletedProcess:
    """install-bashrc.sh copied beside a snippet of this text (None: no snippet file)."""
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "install-bashrc.sh"
    shutil.copy2(project / "scripts/install-bashrc.sh", script)
    if snippet is not None:
        (tmp_path / "scripts" / "bashrc-snippet.sh").write_text(snippet)
    return install(tmp_path, tmp_path / ".bashrc")


def test_an_unreadable_snippet_is_refused_with_a_clear_line(projects, tmp_path):
    project, _ = projects
    (tmp_path / ".bashrc").write_text("# mine\n")
    result = install_with_snippet(project, tmp_path, None)
    assert result.returncode == 1
    assert "install-bashrc.sh: cannot read" in result.stderr and "bashrc-snippet.sh" in result.stderr
    assert result.stderr.rstrip().endswith("nothing changed"), result.stderr
    assert (tmp_path / ".bashrc").read_text() == "# mine\n"


def test_an_empty_snippet_keeps_the_users_lines(projects, tmp_path):
    project, _ = projects
    (tmp_path / ".bashrc").write_text("# mine\nalias ll='ls -l'\n")
    result = install_with_snippet(project, tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".bashrc").read_text() == f"# mine\nalias ll='ls -l'\n{BEGIN}\n\n{END}\n"
