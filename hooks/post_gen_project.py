"""Say what to do next. Safe to run again (cruft runs hooks on every update): it only prints."""

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
    from drac_template import clusters

    cluster = clusters.cluster(ANSWERS["cluster"])
    slug = ANSWERS["project_slug"]
    if ANSWERS["account"] in clusters.accounts()["placeholders"]:
        bar = "!" * 78
        print(
            f"\n{bar}\n"
            f"!! The account is the placeholder {ANSWERS['account']!r}: jobs will not run.\n"
            f"!! Find your account in CCDB (My Resources and Allocations > Group Name), then\n"
            f"!! put it in {slug}/.cookiecutter.json and re-bake, or edit {slug}/job.sh and\n"
            f"!! {slug}/scripts/bashrc-snippet.sh.\n"
            f"{bar}",
            file=sys.stderr,
        )
    print(
        f"\nCreated {slug}/ for {cluster['name']}. Next:\n"
        f"  cd {slug} && scripts/setup-laptop.sh     # venv, tests and pre-commit on this machine\n"
        f"  then follow README.md: ssh {ANSWERS['cluster']}, scripts/install-bashrc.sh, sbatch job.sh"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
