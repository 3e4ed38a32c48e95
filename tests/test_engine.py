"""The engine's own checks (tests/engine_checks/), run against the laptop projects: signals, loss
sums, world sizes, torchrun, checkpoint formats, the watchdog, the sampler's seams. They are the
template's to keep, not the student's: a generated project keeps only the tests of its task."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from tests.bakery import answers
from tests.laptop import run

pytestmark = pytest.mark.xdist_group("laptop")  # the laptop projects' worker

ENGINE_CHECKS = Path(__file__).resolve().parent / "engine_checks"


def render_engine_checks(project: Path, out: Path) -> Path:
    """The checks rendered with the project's answers, as cookiecutter renders its files."""
    out.mkdir()
    context = {"cookiecutter": answers(project)}
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    for source in sorted(ENGINE_CHECKS.glob("*.py")):
        (out / source.name).write_text(env.from_string(source.read_text()).render(context))
    (out / "pytest.ini").write_text(
        f"[pytest]\npythonpath = {project.resolve() / 'src'}\n"
        "filterwarnings = error::pytest.PytestUnhandledThreadExceptionWarning\n"
    )
    return out


def test_the_engine_checks_pass(laptop_project: Path, tmp_path: Path) -> None:
    checks = render_engine_checks(laptop_project, tmp_path / "engine_checks")
    python = str(laptop_project / ".venv" / "bin" / "python")
    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(checks)], checks,
                 extra_env={"PROJECT_ROOT": str(laptop_project)}, timeout=1800)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout
