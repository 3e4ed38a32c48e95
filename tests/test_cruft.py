"""cruft renders this template as cookiecutter does: the update path (cruft update) starts here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.bakery import TEMPLATE

CRUFT = Path(sys.executable).with_name("cruft")


def committed_copy(dest: Path) -> Path:
    """This working tree as a git repository (cruft records a commit)."""
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache")
    shutil.copytree(TEMPLATE, dest, ignore=ignore)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "template"]):
        subprocess.run(cmd, cwd=dest, check=True)
    return dest


def files(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): p.read_text() for p in sorted(project.rglob("*")) if p.is_file()}


def test_cruft_create_equals_cookiecutter(bakery, tmp_path):
    template = committed_copy(tmp_path / "template")
    out = tmp_path / "out"
    out.mkdir()
    answers = {"cluster": "narval", "account": "def-testlab", "gpus_per_node": "2"}
    result = subprocess.run(
        [str(CRUFT), "create", "--no-input", "--output-dir", str(out), "--extra-context", json.dumps(answers),
         str(template)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (made,) = out.iterdir()
    recorded = json.loads((made / ".cruft.json").read_text())
    assert recorded["context"]["cookiecutter"]["cluster"] == "narval"
    by_cruft = {k: v for k, v in files(made).items() if k != ".cruft.json"}
    by_cookiecutter = files(bakery.bake(**answers))
    by_cruft[".cookiecutter.json"] = by_cruft[".cookiecutter.json"].replace(str(template), "TEMPLATE")
    by_cookiecutter[".cookiecutter.json"] = by_cookiecutter[".cookiecutter.json"].replace(str(TEMPLATE), "TEMPLATE")
    assert by_cruft == by_cookiecutter
