"""Say what was made and what to do next. During an update (scripts/regenerate.sh, cruft update)
it says nothing: the update prints its own summary."""

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


def remove_unused_files() -> None:
    """Files that only some answers need."""
    if ANSWERS["tracker"] != "wandb":
        Path("scripts/sync-runs.sh").unlink()


def job_line(job, derived: list[str]) -> str:
    gpus = f"{job.gpus_per_node} {job.gpu_spec} GPU(s)" if job.gpu_spec else "no GPU"
    memory = {None: "the cluster's fixed memory share", "0": "all the memory"}.get(job.mem, f"{job.mem} of memory")
    line = f"{job.nodes} node(s) with {gpus}, {job.tasks_per_node} task(s) and {memory} each, " \
        f"{job.cpus_per_task} core(s) per task, for {job.time}"
    auto = [field for field in derived if field != "account"]
    return line + (f" ({', '.join(auto)}: auto)" if auto else "")


def main() -> int:
    sys.path.insert(0, TEMPLATE_ROOT)
    from drac_template import clusters, plan, regenerate

    remove_unused_files()  # before the update check: an update's rendering must match a bake's
    if regenerate.rendering_for_update(ANSWERS, Path.cwd()):
        return 0
    for warning in regenerate.address_warnings(regenerate.read_state(Path.cwd()), Path(TEMPLATE_ROOT)):
        print(f"WARNING: {warning}", file=sys.stderr)
    cluster = clusters.cluster(ANSWERS["cluster"])
    slug = ANSWERS["project_slug"]
    job = plan.job(ANSWERS)
    if job.account in clusters.accounts()["placeholders"]:
        bar = "!" * 78
        example = "aip-yourprof" if clusters.is_ai_cluster(ANSWERS["cluster"]) else "def-yourprof"
        print(
            f"\n{bar}\n"
            f"!! The account is the placeholder {job.account!r}: jobs will not run.\n"
            f"!! Find your account in CCDB (My Resources and Allocations > Group Name), then,\n"
            f"!! in {slug}/ after a first commit: scripts/regenerate.sh account={example}\n"
            f"{bar}",
            file=sys.stderr,
        )
    login = ANSWERS["cluster"]
    if job.gpu_spec and cluster["gpu_login_host"] != cluster["login_host"]:
        login = cluster["gpu_login_host"].split(".")[0]
        print(f"\n{cluster['name']}'s GPU jobs are submitted from its GPU login node, {cluster['gpu_login_host']} "
              f"(ssh {login}): sbatch refuses them elsewhere.")
    print(
        f"\nCreated {slug}/ for {cluster['name']}. job.sh asks for {job_line(job, plan.derived_fields(ANSWERS))}.\n"
        f"Next:\n"
        f"  cd {slug} && git init && git add -A && git commit -m 'New project'\n"
        f"  scripts/setup-laptop.sh     # venv, tests and pre-commit on this machine\n"
        f"  then follow README.md: ssh {login}, scripts/install-bashrc.sh, sbatch job.sh\n"
        f"Change an answer later (cluster, GPUs, time): scripts/regenerate.sh KEY=VALUE"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
