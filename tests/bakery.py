"""Baking for the tests: one bake per configuration per session, misspelled keys refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1]
CONTEXT = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
ANSWER_KEYS = [key for key in CONTEXT if not key.startswith("_")]
CHOICES = {key: value for key, value in CONTEXT.items() if key in ANSWER_KEYS and isinstance(value, list)}


def check_keys(overrides: dict[str, Any]) -> None:
    """cookiecutter silently ignores unknown keys; a test that misspells one would test nothing."""
    unknown = sorted(set(overrides) - set(ANSWER_KEYS))
    if unknown:
        raise KeyError(f"not answers in cookiecutter.json: {unknown}; known: {ANSWER_KEYS}")


def config_id(overrides: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "defaults"


class Bakery:
    """Bakes through pytest-cookies (``cookies_session``); the same overrides give the same
    folder, baked once. A refused bake raises the exception cookiecutter raised."""

    def __init__(self, cookies):
        self.cookies = cookies
        self._baked: dict[str, Path] = {}

    def bake(self, **overrides: Any) -> Path:
        check_keys(overrides)
        key = json.dumps(overrides, sort_keys=True)
        if key not in self._baked:
            result = self.cookies.bake(extra_context={k: str(v) for k, v in overrides.items()},
                                       template=str(TEMPLATE))
            if result.exception is not None:
                raise result.exception
            self._baked[key] = result.project_path
        return self._baked[key]


class PlainCookies:
    """What Bakery needs of pytest-cookies' ``cookies``, for scripts outside pytest (bench/)."""

    def __init__(self, out: Path):
        self.out, self.count = out, 0

    def bake(self, extra_context: dict, template: str) -> Any:
        from types import SimpleNamespace

        from cookiecutter.main import cookiecutter

        self.count += 1
        folder = self.out / f"bake{self.count:02d}"
        folder.mkdir(parents=True)
        project = cookiecutter(template, no_input=True, extra_context=extra_context, output_dir=str(folder))
        return SimpleNamespace(exception=None, project_path=Path(project))


def answers(project: Path) -> dict[str, Any]:
    """The answers a baked project recorded (in ``.cruft.json``, as cruft records them)."""
    return json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["context"]["cookiecutter"]


def resolve(overrides: dict[str, Any]) -> dict[str, Any]:
    """The full answers cookiecutter would record for these overrides (defaults rendered)."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    check_keys(overrides)
    context = generate_context(
        context_file=str(TEMPLATE / "cookiecutter.json"),
        extra_context={k: str(v) for k, v in overrides.items()},
    )
    context["cookiecutter"]["_template"] = str(TEMPLATE)
    context["cookiecutter"].pop("__answers_checked")  # the answers' check: tests resolve refused answers too
    return dict(prompt_for_config(context, no_input=True))
