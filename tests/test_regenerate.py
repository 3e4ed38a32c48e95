"""scripts/regenerate.sh on real git repositories: a committed copy of this template (cloned by
path and by file:// URL), projects baked from it with the cookiecutter command, edited and
committed as a user would, then moved to other answers and template commits. cruft itself runs
on the same projects."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drac_template import plan, rules
from tests.bakery import TEMPLATE, answers, resolve

BIN = Path(sys.executable).parent  # cookiecutter, cruft and a python3 that has cookiecutter
GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.ca", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.ca"}
ACCOUNT = "def-testlab"


HOME: list[Path] = []  # a home of the tests' own: cookiecutter writes replay files and clones there


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory):
    HOME[:] = [tmp_path_factory.mktemp("home")]


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return {**clean, **GIT_ENV, "HOME": str(HOME[0]), "PATH": f"{BIN}:{os.environ['PATH']}"}


def sh(*cmd, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env(), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def commit(repo: Path, message: str) -> str:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", message, cwd=repo)
    return sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def copy_template(dest: Path) -> Path:
    """This working tree, as the files git would commit, in a repository of its own."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=TEMPLATE,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (TEMPLATE / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / rel, dest / rel)
    sh("git", "init", "-q", "-b", "main", cwd=dest)
    commit(dest, "template A")
    return dest


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return copy_template(tmp_path_factory.mktemp("template") / "cookiecutter-drac-ml")


def bake(template_address: str, out: Path, **overrides) -> Path:
    """The user's first day: cookiecutter, git init, a first commit."""
    out.mkdir(parents=True, exist_ok=True)
    pairs = [f"{k}={v}" for k, v in {"account": ACCOUNT, **overrides}.items()]
    sh(BIN / "cookiecutter", "--no-input", "-o", out, template_address, *pairs, cwd=out)
    (project,) = [p for p in out.iterdir() if p.is_dir()]
    sh("git", "init", "-q", cwd=project)
    commit(project, "New project")
    return project


def regenerate(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return sh(project / "scripts/regenerate.sh", *args, cwd=cwd or project, check=False)


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def status(project: Path) -> str:
    return sh("git", "status", "--porcelain", cwd=project).stdout


# The user's edits, each one line that a test can look for and take out again.
EDITS = {
    "job.sh": ("\nlog() {", "\n# my own note in the job\nlog() {"),
    "README.md": ("\n## On your laptop\n", "\nMy lab's notes: ask Sam for the data.\n\n## On your laptop\n"),
    "sweep.txt": ("--lr 0.05 --seed 0\n", "--lr 0.05 --seed 0\n--lr 0.01 --seed 7\n"),
    "requirements.txt": ("numpy>=1.26,<3\n", "numpy>=1.26,<3\npandas>=2.2\n"),
}


def edit(project: Path) -> dict[str, str]:
    """Make EDITS, change train.py, delete a test file, commit; return what was committed."""
    for rel, (old, new) in EDITS.items():
        text = (project / rel).read_text()
        assert text.count(old) == 1, (rel, old)
        (project / rel).write_text(text.replace(old, new))
    train = next(project.glob("src/*/train.py"))
    train.write_text(train.read_text().replace("default=20", "default=30"))
    (project / "tests" / "test_make_dataset.py").unlink()
    (project / "README.md").write_text((project / "README.md").read_text() + "\n## Results\n\nSee the wiki.\n")
    commit(project, "My edits")
    return files(project)


def without_edits(text: str, rel: str) -> str:
    if rel in EDITS:
        old, new = EDITS[rel]
        text = text.replace(new, old)
    return text.replace("\n## Results\n\nSee the wiki.\n", "") if rel == "README.md" else text


# ---- changing answers ----------------------------------------------------------------------------


def test_a_move_keeps_every_edit_and_derives_what_was_auto(template, tmp_path):
    project = bake(str(template), tmp_path / "user", cluster="narval")
    mine = edit(project)
    result = regenerate(project, "cluster=fir", "gpus_per_node=4", "time=12:00:00")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in ("  cluster: narval -> fir", "  gpus_per_node: auto (1) -> 4", "  time: 3:00:00 -> 12:00:00",
                 "  mem: auto, 124G -> 0"):  # a whole Fir node: all its memory
        assert line in out.splitlines(), out
    assert "Created" not in out + result.stderr and "Next:" not in out, "the hooks were quiet"
    # derived values equal a fresh bake with the same explicit answers; every edit is still there
    fresh = bake(str(template), tmp_path / "fresh", cluster="fir", gpus_per_node=4, time="12:00:00")
    now, expected = files(project), files(fresh)
    assert "tests/test_make_dataset.py" not in now, "a file the user deleted stays deleted"
    train = next(k for k in now if k.endswith("/train.py"))
    assert now[train] == mine[train], "a file the change does not touch stays byte for byte"
    for rel, text in expected.items():
        if rel in ("tests/test_make_dataset.py", train, ".cruft.json"):
            continue
        assert without_edits(now[rel], rel) == text, f"{rel} is not a fresh bake plus the user's edits"
        if rel in EDITS:
            assert EDITS[rel][1] in now[rel], f"the edit to {rel} was lost"
    assert answers(project) | {"_commit": None} == answers(fresh) | {"_commit": None}
    # left for review: uncommitted, listed by git, no leftovers
    assert sh("git", "log", "-1", "--format=%s", cwd=project).stdout.strip() == "My edits"
    assert {line[3:] for line in status(project).splitlines()} >= {"job.sh", "README.md", ".cruft.json"}
    assert not [p for p in project.rglob("*") if p.suffix in (".rej", ".orig") or "regenerate" in p.name
                and p.suffix == ".tmp"]


def test_moving_a_rac_account_to_another_cluster_warns(template, tmp_path):
    """RACs are bound to one cluster (issue 18, item 13): the move is made, with a warning."""
    project = bake(str(template), tmp_path / "user", cluster="nibi", account="rrg-testlab-ab")
    result = regenerate(project, "cluster=fir")
    assert result.returncode == 0, result.stdout + result.stderr
    warning = [line for line in result.stdout.splitlines() if line.startswith("WARNING: account")]
    assert warning == ["WARNING: account 'rrg-testlab-ab': an allocation (RAC) is granted on one cluster: "
                       "rrg-testlab-ab was for Nibi; check in CCDB that it exists on Fir, or use def-testlab there; "
                       "e.g. def-testlab"], result.stdout


def test_a_value_the_user_set_is_kept_or_refused_in_the_bake_time_words(template, tmp_path):
    project = bake(str(template), tmp_path / "user", cluster="narval", cpus_per_task=10)
    kept = regenerate(project, "cluster=rorqual")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "#SBATCH --cpus-per-task=10 " in (project / "job.sh").read_text()
    commit(project, "Rorqual")
    before = files(project)
    refused = regenerate(project, "cluster=trillium")
    assert refused.returncode == 2
    words = rules.validate(resolve({"cluster": "trillium", "cpus_per_task": 10, "account": ACCOUNT}))
    [error] = [str(p) for p in words if not p.warning]
    assert f"ERROR: {error}" in refused.stderr.splitlines(), refused.stderr
    assert "cpus_per_task '10': Trillium gives each h100 exactly 24 cores" in error
    assert "nothing was changed" in refused.stderr
    assert files(project) == before and status(project) == ""
    # given back to the template, it follows the cluster
    auto = regenerate(project, "cluster=trillium", "cpus_per_task=auto")
    assert auto.returncode == 0, auto.stdout + auto.stderr
    assert "#SBATCH --cpus-per-task=24 " in (project / "job.sh").read_text()


def test_a_conflicting_edit_keeps_the_users_lines_and_lists_the_hunk(template, tmp_path):
    project = bake(str(template), tmp_path / "user", cluster="fir")
    job = project / "job.sh"
    job.write_text(job.read_text().replace("#SBATCH --time=3:00:00  ", "#SBATCH --time=5:00:00  "))
    commit(project, "Five hours")
    result = regenerate(project, "time=12:00:00", "gpus_per_node=2")
    assert result.returncode == 1, result.stdout + result.stderr
    out, text = result.stdout, job.read_text()
    assert "CONFLICTS: in 1 file(s)" in out and "\njob.sh:\n" in out
    hunk = re.search(r"  line (\d+): yours\n(.*?)\n    the template's change:\n(.*?)(?:\n\S|\Z)", out, re.S)
    assert hunk, out
    assert text.splitlines()[int(hunk.group(1)) - 1].startswith("#SBATCH --time=5:00:00  "), "the user's line"
    assert "- #SBATCH --time=3:00:00" in hunk.group(3) and "+ #SBATCH --time=12:00:00" in hunk.group(3)
    assert "#SBATCH --time=12:00:00" not in text
    assert "#SBATCH --gpus-per-node=h100:2 " in text, "the changes that do not conflict are applied"
    assert "README.md" in status(project)
    assert not [rel for rel, text in files(project).items() if rel.endswith((".rej", ".orig")) or "<<<<<<<" in text]


def test_an_uncommitted_tree_is_refused_in_one_line(template, tmp_path):
    project = bake(str(template), tmp_path / "user")
    (project / "sweep.txt").write_text("--lr 1\n")
    result = regenerate(project, "time=1:00:00")
    assert result.returncode == 2
    [reason] = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert "uncommitted changes in 1 tracked file(s) (sweep.txt): commit or stash them first" in reason
    assert status(project) == " M sweep.txt\n"


@pytest.mark.parametrize(
    "args, words",
    [
        (["gpus_per_nod=2"], "gpus_per_nod '2': not an answer of this template; did you mean gpus_per_node?"),
        (["_template=/elsewhere"], "_template '/elsewhere': a private key of the template, not an answer"),
        (["cluster=narvall"], "cluster 'narvall': expected one of fir, nibi, narval"),
        (["cluster"], "'cluster': expected KEY=VALUE"),
        (["package_name=other"], "package_name 'other': cannot be changed here"),
        (["--template", "/nowhere/cookiecutter-drac-ml"], "cannot reach the template at /nowhere/cookiecutter-drac-ml"),
        (["--checkout", "v9"], "the template has no branch, tag or commit 'v9'"),
    ],
    ids=["unknown-key", "private-key", "choice", "no-value", "package", "unreachable", "no-such-ref"],
)
def test_bad_input_is_named_and_changes_nothing(template, tmp_path, args, words):
    project = bake(str(template), tmp_path / "user")
    before = files(project)
    result = regenerate(project, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr, result.stderr
    assert files(project) == before and status(project) == ""


def test_a_python_older_than_3_10_is_named_before_any_install(template, tmp_path):
    project = bake(str(template), tmp_path / "user")
    old = tmp_path / "bin" / "python3"  # fails every version check, as a Python 3.9 would
    old.parent.mkdir()
    old.write_text(f'#!/bin/sh\ncase "$*" in *version_info*) exit 1 ;; esac\nexec {sys.executable} "$@"\n')
    old.chmod(0o755)
    cache = tmp_path / "cache"
    done = subprocess.run([project / "scripts/regenerate.sh"], cwd=project, capture_output=True, text=True,
                          env={**env(), "PATH": f"{old.parent}:/usr/bin:/bin", "XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cookiecutter needs Python 3.10 or newer" in done.stderr and "scripts/setup-laptop.sh" in done.stderr
    assert not cache.exists() and status(project) == "", done.stderr

def test_running_it_from_inside_the_project_makes_no_nested_copy(template, tmp_path):
    project = bake(str(template), tmp_path / "user")
    inside = next(project.glob("src/*"))
    result = regenerate(project, "time=6:00:00", cwd=inside)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {line[3:] for line in status(project).splitlines()} == {".cruft.json", "README.md", "job.sh"}
    assert sorted(p.name for p in tmp_path.joinpath("user").iterdir()) == [project.name]


def test_a_round_trip_gives_the_files_back_with_the_edits(template, tmp_path):
    project = bake(str(template), tmp_path / "user", cluster="narval", tracker="wandb")
    mine = edit(project)
    there = regenerate(project, "cluster=killarney", "account=aip-testlab", "gpus_per_node=2")
    assert there.returncode == 0, there.stdout + there.stderr
    commit(project, "To Killarney")
    back = regenerate(project, "cluster=narval", f"account={ACCOUNT}", "gpus_per_node=auto")
    assert back.returncode == 0, back.stdout + back.stderr
    assert files(project) == mine


def test_nothing_to_change_is_said_and_done(template, tmp_path):
    project = bake(str(template), tmp_path / "user", time="3:00:00")
    result = regenerate(project, "time=3:00:00")
    assert result.returncode == 0 and "nothing to change" in result.stdout
    assert status(project) == ""


def test_the_placeholder_account_is_replaced_as_the_readme_says(template, tmp_path):
    project = bake(str(template), tmp_path / "user", cluster="vulcan", account="aip-someuser")
    command = re.search(r"^scripts/regenerate\.sh account=(\S+)$", (project / "README.md").read_text(), re.M)
    assert command and command.group(1) == "aip-yourprof"
    result = regenerate(project, "account=aip-testlab")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  account: aip-someuser -> aip-testlab" in result.stdout.splitlines()
    fresh = bake(str(template), tmp_path / "fresh", cluster="vulcan", account="aip-testlab")
    assert {k: v for k, v in files(project).items() if k != ".cruft.json"} == {
        k: v for k, v in files(fresh).items() if k != ".cruft.json"}


# ---- template versions --------------------------------------------------------------------------


@pytest.fixture
def two_versions(tmp_path):
    """A template at commit A, and the way to its commit B: Fir's memory per H100 and a line of
    job.sh change."""
    repo = copy_template(tmp_path / "template")
    a = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()

    def advance() -> str:
        data = repo / "drac_template" / "clusters.json"
        text = data.read_text()
        fir = text.index('"fir": {')
        data.write_text(text[:fir] + text[fir:].replace('"mem": "280G"', '"mem": "300G"', 1))
        job = repo / "{{cookiecutter.project_slug}}" / "job.sh"
        job.write_text(job.read_text().replace("set -euo pipefail\n", "set -euo pipefail\n# template B\n", 1))
        return commit(repo, "template B")

    return repo, a, advance


@pytest.mark.parametrize("address", ["path", "file-url"])
def test_no_answer_brings_in_the_newest_template(two_versions, tmp_path, address):
    repo, a, advance = two_versions
    # cookiecutter takes a local repository's URL as git+file://; git, cruft and this record file://
    where = str(repo) if address == "path" else f"file://{repo}"
    project = bake(where.replace("file://", "git+file://"), tmp_path / "user", cluster="fir")
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (where, a)
    mine = edit(project)
    assert regenerate(project, "--check").returncode == 0
    b = advance()
    check = regenerate(project, "--check")
    assert check.returncode == 1 and "the template has a newer commit" in check.stderr
    result = regenerate(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"template: {a[:12]} -> {b[:12]}" in result.stdout
    assert "  mem: auto, 280G -> 300G" in result.stdout.splitlines()
    job = (project / "job.sh").read_text()
    assert "# template B\n" in job and "#SBATCH --mem=300G " in job and EDITS["job.sh"][1] in job
    assert (project / "sweep.txt").read_text() == mine["sweep.txt"]
    assert json.loads((project / ".cruft.json").read_text())["commit"] == b
    commit(project, "Template B")
    assert regenerate(project, "--check").returncode == 0
    assert sh(BIN / "cruft", "check", cwd=project).returncode == 0


def test_answers_and_a_template_update_together(two_versions, tmp_path):
    repo, a, advance = two_versions
    project = bake(str(repo), tmp_path / "user", cluster="narval")
    advance()
    result = regenerate(project, "--latest", "cluster=fir")
    assert result.returncode == 0, result.stdout + result.stderr
    job = (project / "job.sh").read_text()
    assert "# template B\n" in job and "#SBATCH --mem=300G " in job
    commit(project, "Fir, template B")
    back = regenerate(project, "--checkout", a, "time=4:00:00")
    assert back.returncode == 0, back.stdout + back.stderr
    job = (project / "job.sh").read_text()
    assert "# template B" not in job and "#SBATCH --mem=280G " in job and "#SBATCH --time=4:00:00 " in job


# ---- cruft, on the same projects ------------------------------------------------------------------


def test_cruft_check_diff_and_update_work_on_a_cookiecutter_bake(two_versions, tmp_path):
    repo, a, advance = two_versions
    project = bake(str(repo), tmp_path / "user", cluster="fir")
    assert sh(BIN / "cruft", "check", cwd=project).returncode == 0
    assert sh(BIN / "cruft", "diff", "--exit-code", cwd=project).returncode == 0
    advance()
    assert sh(BIN / "cruft", "check", cwd=project, check=False).returncode == 1
    edit(project)
    updated = sh(BIN / "cruft", "update", "--skip-apply-ask", cwd=project)
    assert "Created" not in updated.stdout + updated.stderr, "the hooks knew it was an update"
    job = (project / "job.sh").read_text()
    assert "# template B\n" in job and EDITS["job.sh"][1] in job
    assert "#SBATCH --mem=300G " in job, "cruft rendered B with B's cluster data"
    assert not [p for p in project.rglob("*") if p.suffix in (".rej", ".orig")]


def test_cruft_create_equals_cookiecutter(template, tmp_path):
    out = tmp_path / "cruft"
    out.mkdir()
    overrides = {"cluster": "narval", "account": ACCOUNT, "gpus_per_node": "2"}
    sh(BIN / "cruft", "create", "--no-input", "--output-dir", out, "--extra-context", json.dumps(overrides),
       template, cwd=tmp_path)
    (made,) = out.iterdir()
    baked = bake(str(template), tmp_path / "cookiecutter", **overrides)
    by_cruft, by_cookiecutter = files(made), files(baked)
    state_cruft = json.loads(by_cruft.pop(".cruft.json"))
    state_cookiecutter = json.loads(by_cookiecutter.pop(".cruft.json"))
    assert by_cruft == by_cookiecutter
    for key in ("template", "commit", "checkout"):
        assert state_cruft[key] == state_cookiecutter[key], key
    assert state_cruft["context"]["cookiecutter"] == state_cookiecutter["context"]["cookiecutter"]
    assert plan.resolve(state_cruft["context"]["cookiecutter"])["mem"] == "248G"
