"""Refuse bad answers before anything is written.

The answers arrive as JSON data, never as code. The rules live in ``drac_template.rules``
(plain functions with their own unit tests). A non-zero exit makes cookiecutter delete the
project folder it just created, so a refused bake leaves nothing behind.
"""

import json
import sys

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
    from drac_template import rules

    return rules.report(rules.validate(ANSWERS), lambda line: print(line, file=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
