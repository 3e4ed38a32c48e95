"""Refuse bad answers, a second time.

The answers are checked first while cookiecutter collects them (cookiecutter.json's
``__answers_checked``), before the project folder exists; this hook checks them again for the
runs that skip that step (``cookiecutter --replay``), and prints only errors. The answers arrive
as JSON data, never as code; the rules live in ``drac_template.rules``. A non-zero exit makes
cookiecutter delete the project folder it just created; during an update (scripts/regenerate.sh,
cruft update) it stops the update before the project is touched.
"""

import json
import sys
from pathlib import Path

TEMPLATE_ROOT = json.loads(
    r"""
{{ drac.template_root | tojson }}
""".strip()
)
ANSWERS = json.loads(
    r"""
{{ cookiecutter | tojson }}
""".strip()
)


def main() -> int:
    sys.path.insert(0, TEMPLATE_ROOT)
    from drac_template import regenerate, rules

    closing = ""
    if regenerate.rendering_for_update(ANSWERS, Path.cwd()):
        closing = "Nothing was changed: give scripts/regenerate.sh answers that fit (KEY=VALUE, or KEY=auto)."
    errors = [problem for problem in rules.validate(ANSWERS) if not problem.warning]
    return rules.report(errors, lambda line: print(line, file=sys.stderr), closing)


if __name__ == "__main__":
    sys.exit(main())
