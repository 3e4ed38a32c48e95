"""Jinja extension: the template's Python (``drac_template``) as the global ``drac``, and the
``shquote`` filter for every user value placed in a shell script."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from types import SimpleNamespace

from jinja2.ext import Extension

from drac_template import clusters, plan

TEMPLATE_ROOT = Path(__file__).resolve().parent


def answers_json(context: dict) -> str:
    """The answers as a JSON file (private keys dropped, except the template's address)."""
    kept = {k: v for k, v in context.items() if not k.startswith("_") or k == "_template"}
    return json.dumps(kept, indent=2, ensure_ascii=False)


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


class DracExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["shquote"] = shquote
        environment.filters["toml_string"] = toml_string
        environment.filters["drac_answers_json"] = answers_json
        environment.globals["drac"] = SimpleNamespace(
            template_root=str(TEMPLATE_ROOT),
            cluster=clusters.cluster,
            clusters=clusters.clusters,
            python=clusters.python,
            job=plan.job,
            slug=plan.slug,
            project_space=plan.project_space,
            accounts=clusters.accounts,
            gpu_type=plan.gpu_type,
            default_account=plan.default_account,
            default_gpus_per_node=plan.default_gpus_per_node,
            default_cpus_per_task=plan.default_cpus_per_task,
            default_mem=plan.default_mem,
        )
