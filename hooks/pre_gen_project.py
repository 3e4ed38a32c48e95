"""Refuse bad answers before anything is written.

The answers arrive as JSON data, never as code. The rules live in ``drac_template.rules``
(plain functions with their own unit tests). A non-zero exit makes cookiecutter delete the
project folder it just created, so a refused bake leaves nothing behind; during an update
(scripts/regenerate.sh, cruft update) it stops the update before the project is touched.
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
    return rules.report(rules.validate(ANSWERS), lambda line: print(line, file=sys.stderr), closing)


if __name__ == "__main__":
    sys.exit(main())
