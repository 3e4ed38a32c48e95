"""Hostile answers, property-based: every free-text and validated answer, full of quotes, $(),
backticks, Jinja, newlines and CRs, non-ASCII digits, long strings and path separators.

1. Validation alone (HOSTILE_EXAMPLES, default 1,000 answer sets, no bake): each set is refused
   with errors that name a field, or every value it holds has the strict form checked here,
   independently of drac_template.rules.
2. Baking and running (fewer sets: each bakes a project, then runs job.sh, sweep.sh and
   install-bashrc.sh with stand-in Slurm commands): a refused bake leaves nothing, an accepted one
   never runs the canary command in any answer, and its free text round-trips as data.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from cookiecutter.exceptions import FailedHookException, UndefinedVariableInTemplate
from cookiecutter.main import cookiecutter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from drac_template import plan, rules
from tests.bakery import TEMPLATE, answers, resolve

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "1000"))
CANARY = "CANARY"
PIECES = ["'", '"', f"$(touch {CANARY})", f"`touch {CANARY}`", "\n", "\r", "\\", "${HOME}", ";", "&&", "%",
          "#", " ", "\t", "/", "../", "３", "٣", "{{ cycler.__init__ }}", "{% raw %}", "x" * 300]
hostile_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), min_size=1, max_size=5).map("".join)

VALID = {  # a valid value for each validated answer, which a hostile piece may follow or precede
    "project_slug": "my_study", "package_name": "my_study", "username": "jsmith", "author_email": "j@x.ca",
    "account": "def-testlab", "python_version": "3.12", "gpus_per_node": "1", "nodes": "1",
    "cpus_per_task": "4", "mem": "32G", "time": "3:00:00", "mail_user": "j@x.ca",
}
FREE = ("project_name", "description", "author_name")


def mutated(valid: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(valid),
        st.sampled_from(["auto", "AUTO", "0", ""]),
        st.tuples(st.just(valid), st.sampled_from(PIECES)).map("".join),
        st.tuples(st.sampled_from(PIECES), st.just(valid)).map("".join),
        hostile_text,
    )


@st.composite
def answer_sets(draw, most_mutated: int) -> dict[str, str]:
    """Valid answers with up to ``most_mutated`` of the validated ones made hostile, and hostile
    free text: so that some sets pass validation, and those are the interesting ones."""
    chosen = draw(st.sets(st.sampled_from(sorted(VALID)), max_size=most_mutated))
    values = {key: draw(mutated(value)) if key in chosen else value for key, value in VALID.items()}
    values.update({key: draw(hostile_text) for key in FREE})
    values["cluster"] = draw(st.sampled_from(["fir", "narval", "trillium", "vulcan"]))
    return values

# The strict forms an accepted value must have, written here again on purpose.
STRICT = {
    "project_slug": r"[A-Za-z_][A-Za-z0-9_]{0,63}", "package_name": r"[A-Za-z_][A-Za-z0-9_]{0,63}",
    "username": r"[a-z_][a-z0-9_-]*", "author_email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+",
    "account": r"[a-z]+-[a-z0-9-]+(_cpu|_gpu)?", "python_version": r"3\.[0-9]+(\.[0-9]+)?",
    "gpus_per_node": r"[0-9]+|(?i:auto)", "nodes": r"[0-9]+", "cpus_per_task": r"[0-9]+|(?i:auto)",
    "mem": r"[0-9]+([KMGTkmgt][Bb]?)?|(?i:auto)", "time": r"[0-9]+(-[0-9]+)?(:[0-9]+){0,2}",
    "mail_user": r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)?",
}


@settings(max_examples=EXAMPLES, deadline=None)
@given(given_answers=answer_sets(most_mutated=4))
def test_validation_refuses_or_accepts_only_strict_values(given_answers):
    problems = rules.validate({**resolve({"cluster": given_answers["cluster"]}), **given_answers})
    errors = [p for p in problems if not p.warning]
    event("refused" if errors else "accepted")
    if errors:
        assert all(p.field in VALID or p.field in FREE or p.field == "cluster" for p in errors), errors
        return
    for field, pattern in STRICT.items():
        value = given_answers[field]
        assert re.fullmatch(pattern, value, re.ASCII), (field, value)
        assert value.isascii() and not any(c in value for c in "\n\r$`/;\\ "), (field, value)
    for field in FREE:
        given_answers[field].encode("utf-8")


def stand_ins(folder: Path) -> Path:
    """Slurm's and Lmod's commands as scripts that only record their arguments."""
    folder.mkdir()
    for name in ("module", "srun", "scontrol", "scancel", "sbatch"):
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >>"$STAND_IN_LOG"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def run_scripts(project: Path, bin_dir: Path, work: Path) -> None:
    """job.sh as Slurm would start it, sweep.sh, and install-bashrc.sh on a new bashrc."""
    archive = work / "dataset.tar"
    archive.write_bytes(b"")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work), "USER": "jsmith", "STAND_IN_LOG": str(work / "calls"),
           "SLURM_JOB_ID": "42", "SLURM_SUBMIT_DIR": str(project), "SLURM_JOB_NUM_NODES": "1",
           "SLURM_JOB_NODELIST": "n1", "SLURM_CPUS_PER_TASK": "1", "SLURM_TMPDIR": str(work / "tmp"),
           "DATASET_ARCHIVE": str(archive), "SCRATCH": str(work / "scratch")}
    for command in (["bash", "job.sh", "--epochs", "1"], ["bash", "sweep.sh", "sweep.txt", "2"],
                    ["bash", "scripts/install-bashrc.sh", str(work / "bashrc")]):
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    sourced = subprocess.run(["bash", "-c", f'source "{work}/bashrc" && printf %s "$SBATCH_ACCOUNT"'], env=env,
                             capture_output=True, text=True, check=True)
    assert sourced.stdout == plan.resolve(answers(project))["account"]


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory) -> Path:
    return stand_ins(tmp_path_factory.mktemp("stand-ins") / "bin")


@settings(max_examples=max(20, EXAMPLES // 25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(given_answers=answer_sets(most_mutated=1))
def test_bakes_refuse_or_run_without_running_an_answer(given_answers, bin_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    out, cwd = work / "out", work / "cwd"
    out.mkdir()
    cwd.mkdir()
    context = {**given_answers, "framework": "none"}
    os.chdir(cwd)
    try:
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(out)))
    except (FailedHookException, UndefinedVariableInTemplate) as refused:
        event(f"refused: {type(refused).__name__}")
        assert list(out.iterdir()) == [] and sorted(p.name for p in work.iterdir()) == ["cwd", "out"], (
            "a refused bake leaves nothing")
        return
    finally:
        os.chdir(TEMPLATE)
    event("baked and run")
    run_scripts(project, bin_dir, work)
    assert not [p for p in work.rglob(CANARY)], "an answer ran as a command"
    if not any("\r" in given_answers[f] or "{" in given_answers[f] for f in FREE):
        recorded = answers(project)
        assert [recorded[f] for f in FREE] == [given_answers[f] for f in FREE]
        assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["description"] == (
            given_answers["description"])


def test_jinja_in_an_answer_is_refused_by_the_sandbox_and_writes_nothing(tmp_path):
    canary = tmp_path / "ran"
    attack = f"{{{{ cycler.__init__.__globals__.os.system('touch {canary}') }}}}"
    with pytest.raises(UndefinedVariableInTemplate, match="description"):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context={"description": attack}, output_dir=str(tmp_path))
    assert not canary.exists() and list(tmp_path.iterdir()) == []
