"""``tools/bake``: cookiecutter on this checkout, with what a first bake needs around it.

    tools/bake [cookiecutter options] [KEY=VALUE ...]

- The project goes outside the checkout: without ``-o``/``--output-dir``, a bake started inside
  the checkout writes next to it, and says where.
- A KEY=VALUE answer for a choice that is not one of its choices gets one line with the valid
  ones (cookiecutter itself answers with a traceback).
- When the answers are refused, it prints the one command that reruns with every answer given
  (typed at the prompts or on the command line), to edit and run again, pasted in the same folder:
  ``tools/bake`` from the checkout, else this checkout's ``tools/bake`` by its path.
- The project records the checkout's ``origin`` remote as the template's address, when it has one.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
# Set for the answers' check (rules.check_answers): where to leave the answers of a refused bake,
# and the command the refusal's last line tells the user to run again.
ANSWERS_ENV, RERUN_ENV = "DRAC_TEMPLATE_ANSWERS", "DRAC_TEMPLATE_RERUN"
# Read by local_extensions.template_address: the address .cruft.json records for this checkout.
ADDRESS_ENV = "DRAC_TEMPLATE_ADDRESS"
OUTPUT_OPTIONS = ("-o", "--output-dir")


def choice_problems(pairs: list[str], context: dict) -> list[str]:
    """One line for each KEY=VALUE whose KEY is a choice and VALUE is not one of its choices."""
    problems = []
    for pair in pairs:
        key, _, value = pair.partition("=")
        choices = context.get(key)
        if isinstance(choices, list) and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"ERROR: {key} {value!r}: expected one of {', '.join(choices)}{hint}")
    return problems


def bake_command(cwd: Path) -> str:
    """tools/bake as it runs from ``cwd``: relative when it is below ``cwd``, else absolute."""
    bake = TEMPLATE / "tools" / "bake"
    return str(bake.relative_to(cwd)) if cwd in bake.parents else str(bake)


def origin_address() -> str | None:
    """This checkout's ``origin`` remote, where scripts/regenerate.sh can clone the template from
    any machine (the checkout's path works on this one only); None without one."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(TEMPLATE), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    top = git("rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != TEMPLATE:
        return None
    origin = git("remote", "get-url", "origin")
    if origin and "://" not in origin and not re.match(r"[\w.-]+@[\w.-]+:", origin):
        origin = str((TEMPLATE / origin).resolve())  # a path, relative to the checkout
    return origin or None


def rerun_command(answers: dict, cwd: Path) -> str:
    words = [bake_command(cwd), "--no-input"] + [f"{key}={value}" for key, value in answers.items()]
    return " ".join(shlex.quote(word) for word in words)


def main(argv: list[str]) -> int:
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    pairs = [arg for arg in argv if "=" in arg and not arg.startswith("-")]
    problems = choice_problems(pairs, context)
    cwd = Path.cwd().resolve()
    again = shlex.quote(bake_command(cwd))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"Nothing was generated: fix the answer(s) above and run {again} again.", file=sys.stderr)
        return 1
    options = list(argv)
    if not any(arg in OUTPUT_OPTIONS or arg.startswith("--output-dir=") for arg in argv):
        if cwd == TEMPLATE or TEMPLATE in cwd.parents:
            options = ["--output-dir", str(TEMPLATE.parent), *options]
            print(f"tools/bake: the project goes in {TEMPLATE.parent}, next to this checkout "
                  "(run tools/bake from another folder, or pass -o DIR, to put it elsewhere)")
    with tempfile.TemporaryDirectory(prefix="bake-") as tmp:
        kept = Path(tmp) / "answers.json"
        env = {**os.environ, ANSWERS_ENV: str(kept), RERUN_ENV: again}
        origin = origin_address()
        if origin:
            env[ADDRESS_ENV] = origin
        done = subprocess.run([sys.executable, "-m", "cookiecutter", str(TEMPLATE), *options], env=env)
        if done.returncode != 0 and kept.is_file():
            answers = json.loads(kept.read_text(encoding="utf-8"))
            print(f"Your answers, to edit and run again:\n  {rerun_command(answers, cwd)}", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
