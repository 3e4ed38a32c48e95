"""Free-text answers full of quotes, $(), backticks and newlines stay data: property-based."""

from __future__ import annotations

import subprocess
from pathlib import Path

import tomllib
from cookiecutter.main import cookiecutter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drac_template import plan
from tests.bakery import TEMPLATE, answers

PIECES = ["'", '"', "$(touch MARKER)", "`touch MARKER`", "\n", "\\", "${HOME}", ";", "&&", "%", "#", " ", "\t"]
# cookiecutter itself renders --no-input values as Jinja: "{{" is its syntax, see the last test.
JINJA = ("{{", "{%", "{#")
hostile = (
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), min_size=1, max_size=6)
    .map("".join)
    # and Jinja turns "\r" into "\n" when it renders them
    .filter(lambda text: not any(mark in text for mark in JINJA) and "\r" not in text)
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile, description=hostile, author=hostile)
def test_free_text_never_runs_and_round_trips(name, description, author, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    context = {"project_name": name, "description": description, "author_name": author, "account": "def-testlab"}
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(out)))
    assert project.name == plan.slug(name)
    assert not list(out.rglob("MARKER"))
    recorded = answers(project)
    assert (recorded["project_name"], recorded["description"], recorded["author_name"]) == (name, description, author)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == description
    for script in [project / "job.sh", project / "sweep.sh", *project.glob("scripts/*.sh")]:
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_jinja_in_a_no_input_answer_stops_before_anything_is_written(tmp_path):
    import pytest
    from cookiecutter.exceptions import UndefinedVariableInTemplate

    with pytest.raises(UndefinedVariableInTemplate, match="project_name"):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context={"project_name": "{{ x }}"}, output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
