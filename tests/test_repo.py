"""The template's own files: its shell tools pass shellcheck, its hooks are Python before rendering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELLCHECK = Path(sys.executable).with_name("shellcheck")


def test_tools_pass_shellcheck():
    scripts = [ROOT / ".ci/run", *sorted(p for p in (ROOT / "tools").iterdir() if p.is_file())]
    result = subprocess.run([str(SHELLCHECK), "-s", "bash", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "tools/test" in readme.split("\n## ")[0], "the README opens with the test command"
    assert "exec tools/test" in (ROOT / ".ci/run").read_text()


def test_hooks_are_python_before_rendering():
    for hook in (ROOT / "hooks").glob("*.py"):
        compile(hook.read_text(), str(hook), "exec")


def test_the_templates_own_python_passes_ruff():
    ruff = Path(sys.executable).with_name("ruff")
    benches = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bench").iterdir())
    result = subprocess.run([str(ruff), "check", "--no-cache", "drac_template", "tests", "local_extensions.py",
                             *benches], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tools_need_no_tomllib():
    """tools/bake runs on Python 3.10, which has no tomllib: tools/dev-env reads pyproject.toml without it."""
    for tool in (ROOT / "tools" / "dev-env", ROOT / "drac_template" / "bake.py"):
        assert "import tomllib" not in tool.read_text(), tool
