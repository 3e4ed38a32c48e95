"""Jinja extension: the template's Python (``drac_template``) as the global ``drac``, the
``shquote`` filter for every user value placed in a shell script, the project's provenance
(``.cruft.json``), the answers' validation before anything is written, and a sandbox.

Cookiecutter renders every answer given on its command line as a Jinja template, before any hook
runs; in a plain environment ``{{ cycler.__init__.__globals__.os.system(...) }}`` in a description
would run. This extension turns each environment it is loaded into a sandboxed one, in which such
an answer fails with "Unable to render variable" instead (see the README's security section).

Keep this file small and stable: ``cruft update`` renders two template commits in one process and
imports it once, so the code that changes between versions lives in ``drac_template``, which is
imported afresh for every environment.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from jinja2.exceptions import TemplateSyntaxError, UndefinedError
from jinja2.ext import Extension
from jinja2.sandbox import SandboxedEnvironment, SecurityError

TEMPLATE_ROOT = Path(__file__).resolve().parent
# Keys cookiecutter adds about one run on one machine: not answers, not recorded.
RUN_KEYS = ("_output_dir", "_repo_dir", "_checkout")
# Set by tools/bake (drac_template/bake.py): the checkout's origin remote, recorded for its path.
ADDRESS_ENV = "DRAC_TEMPLATE_ADDRESS"


def fresh_package() -> ModuleType:
    """``drac_template`` as it is on disk now (cruft resets the checkout between renderings)."""
    for name in [m for m in sys.modules if m == "drac_template" or m.startswith("drac_template.")]:
        del sys.modules[name]
    sys.path.insert(0, str(TEMPLATE_ROOT))
    try:
        package = importlib.import_module("drac_template")
        for module in ("clusters", "plan", "rules"):
            importlib.import_module(f"drac_template.{module}")
        return package
    finally:
        sys.path.remove(str(TEMPLATE_ROOT))


def toml_string(value: object) -> str:
    """A TOML basic string: JSON escapes are not enough (TOML refuses surrogate-pair escapes)."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in str(value):
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def shquote(value: object) -> str:
    """One shell word, whatever the value holds: quotes, $(), newlines."""
    return shlex.quote(str(value))


def template_address(given: str | None) -> str | None:
    """Where the template can be cloned from again: a git URL; for a bake from a local checkout,
    its ``origin`` remote when tools/bake found one (a path works on this machine only: not on a
    login node), else the checkout's absolute path."""
    if not given:
        return None
    from cookiecutter.config import BUILTIN_ABBREVIATIONS
    from cookiecutter.repository import expand_abbreviations, is_repo_url

    expanded = expand_abbreviations(given, BUILTIN_ABBREVIATIONS)
    if is_repo_url(expanded):
        return expanded.removeprefix("git+")
    # A path: cruft and scripts/regenerate.sh give the recorded one (absolute), while they render
    # from a clone elsewhere; cookiecutter gives what the user typed, maybe relative.
    if Path(given).is_absolute() and Path(given).resolve() != TEMPLATE_ROOT:
        return given
    return os.environ.get(ADDRESS_ENV) or str(TEMPLATE_ROOT)  # tools/bake gives the checkout's origin


def template_commit() -> str | None:
    """The commit checked out in this template's own git repository, if it is one."""

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", "-C", str(TEMPLATE_ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != TEMPLATE_ROOT:
        return None
    return git("rev-parse", "--verify", "HEAD")


def cruft_json(context: dict[str, Any]) -> str:
    """The project's ``.cruft.json``: template address, commit and answers, in cruft's format, so
    that ``cruft check|diff|update`` and ``scripts/regenerate.sh`` work on a cookiecutter bake too.
    (``cruft create`` writes its own, the same, after rendering.)"""
    answers = {key: value for key, value in context.items() if key not in RUN_KEYS}
    answers["_template"] = template_address(context.get("_template"))
    answers["_commit"] = context.get("_commit") or template_commit()
    state = {
        "template": answers["_template"],
        "commit": answers["_commit"],
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
    }
    return json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": "))


class UnsafeAnswer(UndefinedError):
    """What the sandbox refused: an UndefinedError, so that cookiecutter reports it in one line
    ("Unable to render variable ...") rather than with a traceback."""


class _Sandboxed(SandboxedEnvironment):
    """Mixed in front of cookiecutter's environment class: Jinja's sandbox, its refusals raised
    as UnsafeAnswer."""

    def unsafe_undefined(self, obj, attribute):
        return self.undefined(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe",
                              name=attribute, obj=obj, exc=UnsafeAnswer)

    def call(self, context, obj, *args, **kwargs):
        try:
            return super().call(context, obj, *args, **kwargs)
        except SecurityError as refused:
            raise UnsafeAnswer(str(refused)) from None

    def from_string(self, source, *args, **kwargs):
        """Cookiecutter renders each answer with this: broken Jinja in one ("{% raw %}" alone) is
        reported as the answer that cannot be rendered, not as a traceback."""
        try:
            return super().from_string(source, *args, **kwargs)
        except TemplateSyntaxError as broken:
            raise UnsafeAnswer(f"{broken.message} (Jinja syntax in an answer)") from None


def sandbox(environment) -> None:
    """Make ``environment`` (already built by cookiecutter) a sandboxed one, in place."""
    if environment.sandboxed:
        return
    cls = type(environment)
    environment.__class__ = type(f"Sandboxed{cls.__name__}", (_Sandboxed, cls), {})
    environment.sandboxed = True
    environment.binop_table = dict(SandboxedEnvironment.default_binop_table)
    environment.unop_table = dict(SandboxedEnvironment.default_unop_table)


class DracExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        sandbox(environment)
        drac = fresh_package()
        clusters, plan = drac.clusters, drac.plan
        environment.filters["shquote"] = shquote
        environment.filters["toml_string"] = toml_string
        environment.filters["drac_cruft_json"] = cruft_json
        environment.globals["drac"] = SimpleNamespace(
            template_root=str(TEMPLATE_ROOT),
            cluster=clusters.cluster,
            clusters=clusters.clusters,
            python=clusters.python,
            accounts=clusters.accounts,
            job=plan.job,
            resolve=plan.resolve,
            derived_fields=plan.derived_fields,
            slug=plan.slug,
            project_space=plan.project_space,
            gpu_type=plan.gpu_type,
            default_account=plan.default_account,
            check=drac.rules.check_answers,
        )
