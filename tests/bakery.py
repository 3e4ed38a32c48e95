"""Baking for the tests: one bake per configuration per session, misspelled keys refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

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
    """Bakes into ``root``; the same overrides give the same folder, baked once."""

    def __init__(self, root: Path):
        self.root = root
        self._baked: dict[str, Path] = {}

    def bake(self, **overrides: Any) -> Path:
        check_keys(overrides)
        key = json.dumps(overrides, sort_keys=True)
        if key not in self._baked:
            out = self.root / hashlib.sha1(key.encode()).hexdigest()[:12]
            out.mkdir(parents=True, exist_ok=True)
            project = cookiecutter(
                str(TEMPLATE),
                no_input=True,
                extra_context={k: str(v) for k, v in overrides.items()},
                output_dir=str(out),
            )
            self._baked[key] = Path(project)
        return self._baked[key]


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
    return dict(prompt_for_config(context, no_input=True))
