"""Every derived value comes from the recorded answers: re-baking from .cookiecutter.json gives
the same project, and a changed answer changes only what depends on it."""

from __future__ import annotations

import difflib
from pathlib import Path

from cookiecutter.main import cookiecutter

from tests.bakery import ANSWER_KEYS, TEMPLATE, answers


def tree(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): p.read_text() for p in sorted(project.rglob("*")) if p.is_file()}


def rebake(recorded: dict, out: Path, **changes) -> Path:
    context = {k: str(recorded[k]) for k in ANSWER_KEYS if k in recorded} | {k: str(v) for k, v in changes.items()}
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(out)))


def test_rebake_from_recorded_answers_is_identical(bakery, tmp_path):
    original = bakery.bake(cluster="narval", gpus_per_node=2, account="def-testlab", tracker="wandb")
    again = rebake(answers(original), tmp_path)
    assert tree(again) == tree(original)


def test_changing_the_time_changes_only_time_lines(bakery, tmp_path):
    original = bakery.bake(cluster="fir", account="def-testlab")
    changed = rebake(answers(original), tmp_path, time="12:00:00")
    before, after = tree(original), tree(changed)
    differing = sorted(name for name in before if before[name] != after[name])
    assert differing == [".cookiecutter.json", "README.md", "job.sh"]
    removed = [line for line in difflib.ndiff(before["job.sh"].splitlines(), after["job.sh"].splitlines())
               if line.startswith("- ")]
    assert removed == ["- #SBATCH --time=3:00:00                        # time limit per run, D-HH:MM:SS (Fir max "
                       "7-00:00:00)"]


def test_changing_the_cluster_rederives_the_defaults_it_was_not_given(bakery, tmp_path):
    original = bakery.bake(cluster="fir", account="def-testlab")
    recorded = {k: v for k, v in answers(original).items() if k not in ("cpus_per_task", "mem")}
    moved = rebake(recorded, tmp_path, cluster="rorqual")
    job = (moved / "job.sh").read_text()
    assert "#SBATCH --cpus-per-task=16 " in job and "#SBATCH --mem=124G " in job
