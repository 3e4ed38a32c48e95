"""Validation of the answers, as plain functions.

Each ``check_*`` function returns the problems it finds with one or a few answers: a list of
``Problem`` (errors refuse the bake, warnings are printed). ``validate`` runs them all, so a
user sees every problem at once. Messages read
``field 'value': rule; e.g. example``.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import clusters, plan, units


@dataclass(frozen=True)
class Problem:
    field: str
    value: Any
    rule: str
    example: str = ""
    warning: bool = False
    auto: bool = False  # the value was derived from the other answers (the answer is ``auto``)

    def __str__(self) -> str:
        text = f"{self.field} {str(self.value)!r}{' (auto)' if self.auto else ''}: {self.rule}"
        return f"{text}; e.g. {self.example}" if self.example else text


def _error(field: str, value: Any, rule: str, example: str = "") -> list[Problem]:
    return [Problem(field, value, rule, example)]


def _warning(field: str, value: Any, rule: str, example: str = "") -> list[Problem]:
    return [Problem(field, value, rule, example, warning=True)]


# ---- names -------------------------------------------------------------------------------------


NAME_LENGTH = plan.SLUG_LENGTH  # a folder, a package and log names (<name>-<job id>.out) stay well under 255 bytes
# Top-level modules a job imports besides the package: with src/ first on the path, a package of
# the same name would be imported in their place. The standard library, what requirements.txt
# installs (and what it pulls in), and the test tools.
TAKEN_NAMES = frozenset(sys.stdlib_module_names) | {
    "numpy", "torch", "torchvision", "wandb", "tensorboard", "tensorboardX", "sympy", "mpmath",
    "networkx", "jinja2", "markupsafe", "filelock", "fsspec", "typing_extensions", "triton",
    "pytest", "pluggy", "iniconfig", "packaging", "setuptools", "pkg_resources", "pip", "helpers",
    "conftest", "tests", "test",
}


def check_identifier(field: str, value: str) -> list[Problem]:
    """project_slug and package_name: a Python identifier that is not a keyword; the package
    name also must not shadow a module the job imports."""
    if not value.isidentifier() or keyword.iskeyword(value) or not value.isascii():
        return _error(
            field, value,
            "expected a Python identifier (ASCII letters, digits and underscores, not starting "
            "with a digit) that is not a Python keyword",
            "my_ml_project",
        )
    if len(value) > NAME_LENGTH:
        return _error(field, value, f"expected at most {NAME_LENGTH} characters, not {len(value)}", "my_ml_project")
    if field == "package_name" and value in TAKEN_NAMES:
        return _error(field, value, f"a module named {value} already exists (the standard library, a package the "
                      "project installs or its tests): the package would hide it", f"{value}_study")
    return []


FREE_TEXT_LENGTH = {"project_name": 200, "description": 1000, "author_name": 200}


def check_free_text(field: str, value: str) -> list[Problem]:
    """project_name, description, author_name: any text, as data; it must be writable as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _error(field, value, "expected UTF-8 text: it holds bytes that are not (an encoding problem "
                      "in the terminal?)", "My ML Project")
    if "\0" in value:
        return _error(field, value, "expected text without NUL characters", "My ML Project")
    if len(value) > FREE_TEXT_LENGTH[field]:
        return _error(field, value[:40] + "...", f"expected at most {FREE_TEXT_LENGTH[field]} characters, "
                      f"not {len(value)}", "My ML Project")
    return []


# Whole matches only (re.fullmatch: "$" would let a final newline through), ASCII digits only.
_USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


PLACEHOLDER_USERNAME = "someuser"  # cookiecutter.json's default


def check_username(value: str) -> list[Problem]:
    if not _USERNAME.fullmatch(value):
        return _error("username", value, "expected a CCDB user name: lowercase letters, digits, '_' or '-'", "jsmith")
    if value == PLACEHOLDER_USERNAME:
        return _warning("username", value, "this is the placeholder: the README's ~/.ssh/config logs in as it; "
                        "give your CCDB user name (or fix the User line later)", "jsmith")
    return []


def check_framework(framework: str, gpus: int, nodes: int) -> list[Problem]:
    """framework=none runs one NumPy process, which uses no GPU."""
    if framework != "none":
        return []
    if nodes > 1 or gpus > 1:
        return _error("framework", framework, f"a NumPy job is one process: {nodes} node(s) with {gpus} GPU(s) "
                      "would start copies that write the same checkpoint; ask for 1 node and at most 1 GPU, "
                      "or use pytorch", "pytorch")
    if gpus == 1:
        return _warning("framework", framework, "NumPy does not use the GPU this job asks for: set gpus_per_node=0 "
                        "(a CPU job starts sooner), or use pytorch", "pytorch")
    return []


def check_email(field: str, value: str, *, optional: bool) -> list[Problem]:
    if optional and value == "":
        return []
    if not _EMAIL.fullmatch(value):
        rule = "expected an email address" + (" or nothing (no mail)" if optional else "")
        return _error(field, value, rule, "jsmith@example.ca")
    return []


# ---- Python ------------------------------------------------------------------------------------

_PYTHON = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(\.(?P<patch>[0-9]+))?")


def check_python_version(value: str) -> list[Problem]:
    """X.Y (the module's default X.Y.Z) or X.Y.Z naming a python module of the standard environment."""
    facts = clusters.python()
    modules = facts["modules"]
    offered = sorted({".".join(m.split(".")[:2]) for m in modules}, key=lambda v: tuple(map(int, v.split("."))))
    rule = (f"expected X.Y or X.Y.Z naming a python module of {facts['stdenv']} "
            f"({', '.join(modules)}; X.Y loads the newest X.Y.Z)")
    match = _PYTHON.fullmatch(value)
    if not match:
        return _error("python_version", value, rule, "3.12")
    minor = f"{match['major']}.{match['minor']}"
    oldest = tuple(map(int, facts["oldest_supported"].split(".")))
    if (int(match["major"]), int(match["minor"])) < oldest:
        return _error(
            "python_version", value,
            f"Python {minor} is no longer supported on DRAC's clusters (oldest: {facts['oldest_supported']})", "3.12",
        )
    if minor not in offered or (match["patch"] is not None and value not in modules):
        return _error("python_version", value, rule, "3.12")
    if minor not in facts["full_wheel_support"]:
        cap = facts["torch_cap"].get(minor)
        note = f"; torch stops at {cap} there" if cap else ""
        return _warning(
            "python_version", value,
            f"DRAC builds wheels only for Python {', '.join(facts['full_wheel_support'])}; "
            f"fewer packages exist for {minor}{note}",
            "3.12",
        )
    return []


# ---- account -----------------------------------------------------------------------------------

# DRAC's Slurm accounts of one group: def-prof_cpu and def-prof_gpu (clusters.json: accounts.suffixes)
_SUFFIXES = "|".join(map(re.escape, clusters.accounts()["suffixes"]))
_ACCOUNT = re.compile(rf"(?P<prefix>[a-z]+)-(?P<name>[a-z0-9]+(-[a-z0-9]+)*)(_(?P<suffix>{_SUFFIXES}))?")


def account_group(value: str) -> str:
    """The CCDB group an account belongs to: def-prof_gpu and def-prof are the same group (the bake
    accepts either; scripts/doctor.sh compares the groups, with the same suffixes)."""
    match = _ACCOUNT.fullmatch(value)
    return value[: -len(match["suffix"]) - 1] if match and match["suffix"] else value


def check_cluster_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Problem]:
    """A RAC account (rrg-, rpp-, ctb-, aip-) is granted on one cluster (Running_jobs; Trillium
    Quickstart: 'a RAC for Nibi cannot be used on Trillium'): moving it to another cluster is
    worth a warning. def- accounts and the placeholders work everywhere."""
    account = str(after.get("account", ""))
    if before.get("cluster") == after.get("cluster") or account in clusters.accounts()["placeholders"]:
        return []
    if account.startswith("def-") or str(before.get("account")) != account:
        return []
    old, new = (clusters.cluster(str(a["cluster"]))["name"] for a in (before, after))
    group = "def-" + account.split("-", 1)[-1].split("-")[0].split("_")[0]
    other = "your group's aip- account there" if clusters.is_ai_cluster(str(after["cluster"])) else f"{group} there"
    return _warning("account", account, f"an allocation (RAC) is granted on one cluster: {account} was for "
                    f"{old}; check in CCDB that it exists on {new}, or use {other}",
                    account if clusters.is_ai_cluster(str(after["cluster"])) else group)


def check_account(value: str, cluster: str, gpus_per_node: int) -> list[Problem]:
    prefixes = clusters.accounts()["prefixes"]
    ai = clusters.is_ai_cluster(cluster)
    name = clusters.cluster(cluster)["name"]
    example = "aip-someprof" if ai else "def-someprof"
    match = _ACCOUNT.fullmatch(value)
    if not match or match["prefix"] not in prefixes:
        return _error(
            "account", value,
            "expected " + ", ".join(f"{p}-<name>" for p in prefixes)
            + " with a lowercase name (letters, digits, hyphens inside)",
            example,
        )
    if ai and match["prefix"] != "aip":
        return _error("account", value, f"{name} accepts only aip- accounts (PAICE allocations)", example)
    if not ai and match["prefix"] == "aip":
        return _error(
            "account", value, f"aip- accounts work only on TamIA, Killarney and Vulcan, not on {name}", "def-someprof"
        )
    suffix = match["suffix"]
    if suffix == "gpu" and gpus_per_node == 0:
        return _error("account", value, "a _gpu account cannot run a CPU-only job (gpus_per_node is 0)",
                      value[: -len("_gpu")])
    if suffix == "cpu" and gpus_per_node > 0:
        return _error("account", value, f"a _cpu account cannot run a job with {gpus_per_node} GPU(s)",
                      value[: -len("_cpu")])
    if value in clusters.accounts()["placeholders"]:
        return _warning(
            "account", value,
            "this is the placeholder account: jobs will not run until you set your own "
            "(CCDB > My Resources and Allocations > Group Name)",
            example,
        )
    if suffix:
        return _warning("account", value, "the _cpu/_gpu suffix is normally left out; Slurm picks it", value[:-4])
    return []


# ---- resources ---------------------------------------------------------------------------------

_WHOLE = re.compile(r"[0-9]+")


def _count(field: str, value: Any, minimum: int) -> tuple[int | None, list[Problem]]:
    text = str(value)
    if not _WHOLE.fullmatch(text) or int(text) < minimum:
        return None, _error(field, value, f"expected a whole number, at least {minimum}", str(max(minimum, 1)))
    return int(text), []


def check_time(value: str, cluster: str) -> list[Problem]:
    facts = clusters.cluster(cluster)
    try:
        seconds = units.walltime_seconds(value)
    except ValueError:
        return _error("time", value, f"expected {units.TIME_RULE}", "3:00:00")
    longest = units.walltime_seconds(facts["max_walltime"])
    if seconds > longest:
        return _error("time", value, f"{facts['name']} allows at most {facts['max_walltime']}", facts["max_walltime"])
    shortest = units.walltime_seconds(facts["min_walltime"])
    if seconds < shortest:
        return _error("time", value, f"{facts['name']} requires at least {facts['min_walltime']}", "1:00:00")
    if seconds < 3600:
        return _warning("time", value, "production jobs should run 1 hour or more; this is fine for a test", "3:00:00")
    return []


def check_mem_format(value: str) -> list[Problem]:
    try:
        units.mem_megabytes(value)
    except ValueError:
        return _error("mem", value, f"expected {units.MEM_RULE}", "64G")
    return []


def _check_cpu_job(answers: Mapping[str, Any], cpus: int, mem_mb: float) -> list[Problem]:
    """A CPU-only job: whole nodes where the cluster says so; memory up to its largest node type."""
    facts = clusters.cluster(answers["cluster"])
    name, node, whole = facts["name"], facts["cpu_node"], facts["whole_node"] or {}
    slice_, chosen = str(answers.get("mig_slice", "none")), str(answers.get("gpu_type", "default"))
    if chosen != "default" or slice_ != "none":
        field, value = ("mig_slice", slice_) if slice_ != "none" else ("gpu_type", chosen)
        return _error(field, value, "a CPU-only job (gpus_per_node 0) takes no GPU model or MIG slice",
                      "default" if field == "gpu_type" else "none")
    problems: list[Problem] = []
    if not facts["cpu_only_nodes"]:
        problems += _warning("gpus_per_node", 0, f"{name} has no CPU-only nodes: the job would hold a GPU node "
                             "and leave its GPUs idle; a general-purpose cluster (Fir, Nibi, Narval, Rorqual) suits it",
                             str(plan.default_gpus_per_node({**answers, "gpus_per_node": "1"})))
    if whole.get("cpu_jobs_whole_node") and cpus != node["cores"]:
        if whole.get("cpu_cores_enforced") or cpus > node["cores"]:
            problems += _error("cpus_per_task", cpus, f"{name} gives CPU jobs whole {node['cores']}-core nodes",
                               str(node["cores"]))
        else:
            problems += _warning("cpus_per_task", cpus, f"{name} allocates whole nodes: the job holds (and is "
                                 f"charged for) a {node['cores']}-core node with {_mem(node['mem'])}; use them all",
                                 str(node["cores"]))
    elif cpus > node["cores"]:
        problems += _error("cpus_per_task", cpus, f"a {name} CPU node has {node['cores']} cores",
                           str(min(node["cores"], 4)))
    if whole.get("memory_request_refused") or mem_mb == 0:
        return problems
    types = [node, *facts["large_mem_nodes"]]
    fitting = [t for t in types if units.mem_megabytes(t["mem"]) >= mem_mb]
    if not fitting:
        largest = max(types, key=lambda t: units.mem_megabytes(t["mem"]))
        problems += _error("mem", answers["mem"], f"{name}'s largest nodes have {_mem(largest['mem'])}",
                           largest["mem"])
    elif fitting[0] is not node:
        kinds = " or ".join(f"{_mem(t['mem'])} ({t['count']} nodes)" for t in fitting)
        problems += _warning("mem", answers["mem"], f"more than a regular {name} CPU node's {_mem(node['mem'])}: "
                             f"only its large-memory nodes fit, {kinds}, and jobs wait longer for them", node["mem"])
    return problems


def _mem(text: str) -> str:
    """A node table's Slurm value, shown with the G figure where it has one: '768000M' -> '750G',
    '766000M' stays (the tables give both forms; the M value is the exact one)."""
    return units.format_mem(units.mem_megabytes(text))


def _check_node_count(answers: Mapping[str, Any], nodes: int, gpus: int) -> list[Problem]:
    facts = clusters.cluster(answers["cluster"])
    limits = facts["node_limits"]
    if not limits:
        return []
    kind = "gpu_nodes" if gpus else "cpu_nodes"
    label = "GPU" if gpus else "CPU"
    default, allocated = limits[kind], limits[f"{kind}_with_allocation"]
    if nodes > allocated and kind in limits.get("safeguards", []):
        return _warning("nodes", nodes, f"{facts['name']} takes at most {allocated} {label} nodes per job with an "
                        f"allocation, as a safeguard: if your RAC needs larger jobs, ask "
                        f"{facts['support_email']} first", str(default))
    if nodes > allocated:
        return _error("nodes", nodes, f"{facts['name']} allows at most {allocated} {label} nodes per job, "
                      f"even with an allocation", str(default))
    if nodes > default:
        return _warning("nodes", nodes, f"{facts['name']} allows {default} {label} nodes per job by default; "
                        f"up to {allocated} needs an allocation (RAC)", str(default))
    return []


def check_resources(answers: Mapping[str, Any]) -> list[Problem]:
    """GPUs, MIG, nodes, cores and memory against the chosen cluster. Above the cluster's per-GPU
    share of cores or memory is a warning (it is charged against priority); above what a node
    has is an error."""
    cluster = answers["cluster"]
    facts = clusters.cluster(cluster)
    name = facts["name"]
    whole = facts["whole_node"] or {}
    problems: list[Problem] = []
    gpus, bad = _count("gpus_per_node", answers["gpus_per_node"], 0)
    nodes, bad_nodes = _count("nodes", answers["nodes"], 1)
    cpus, bad_cpus = _count("cpus_per_task", answers["cpus_per_task"], 1)
    problems += bad + bad_nodes + bad_cpus + check_mem_format(str(answers["mem"]))
    if problems or gpus is None or nodes is None or cpus is None:
        return problems
    mem_mb = units.mem_megabytes(str(answers["mem"]))
    problems += _check_node_count(answers, nodes, gpus)
    if gpus == 0:
        return problems + _check_cpu_job(answers, cpus, mem_mb)

    slice_ = str(answers.get("mig_slice", "none"))
    chosen = str(answers.get("gpu_type", "default"))
    gpu_kind = plan.gpu_type(answers)
    if gpu_kind not in facts["gpus"]:
        return _error("gpu_type", chosen, f"{name} has {', '.join(facts['gpus'])} GPUs", facts["default_gpu"])
    gpu = facts["gpus"][gpu_kind]
    if slice_ != "none":
        mig = gpu["mig"].get(slice_)
        if mig is None:
            offered = ", ".join(gpu["mig"]) or "none"
            return _error("mig_slice", slice_, f"{name} offers these MIG slices of its {gpu_kind}: {offered}", "none")
        if gpus != 1 or nodes != 1:
            field, value = ("gpus_per_node", gpus) if gpus != 1 else ("nodes", nodes)
            return _error(field, value, "a job gets one MIG slice: 1 GPU on 1 node", "1")
        per_gpu_cpus, per_gpu_mem, label = mig["cpus"], mig["mem"], f"a {slice_} slice"
        if mig.get("scarce"):
            problems += _warning("mig_slice", slice_, f"{name}'s allocation page says {slice_} profiles are not "
                                 "available: few or no GPUs may offer one, and the job may wait long", "3g")
    else:
        allowed = gpu["per_node"]
        if nodes > 1 and whole.get("multi_node_gpus_per_node"):
            allowed = [n for n in allowed if n in whole["multi_node_gpus_per_node"]]
        if gpus not in allowed:
            if len(allowed) == 1:
                rule = f"{name} takes exactly {allowed[0]} {gpu_kind} GPUs per node (whole nodes)"
            elif allowed == list(range(allowed[0], allowed[-1] + 1)):
                rule = f"{name} has {allowed[-1]} {gpu_kind} GPUs per node: use {allowed[0]} to {allowed[-1]}"
            else:
                rule = f"{name} takes {' or '.join(map(str, allowed))} {gpu_kind} GPUs per node"
            if nodes > 1 and whole.get("multi_node_gpus_per_node"):
                rule += " in a multi-node job"
            return _error("gpus_per_node", gpus, rule, str(allowed[0]))
        per_gpu_cpus, per_gpu_mem, label = gpu["cpus"], gpu["mem"], f"each {gpu_kind}"

    node = plan.gpu_node(answers)
    tasks = 1 if slice_ != "none" else gpus
    if whole.get("fixed_cpus_per_gpu"):
        if cpus != per_gpu_cpus:
            problems += _error("cpus_per_task", cpus,
                               f"{name} gives {label} exactly {per_gpu_cpus} cores (one task per GPU)",
                               str(per_gpu_cpus))
    elif cpus * tasks > node["cores"]:
        problems += _error("cpus_per_task", cpus,
                           f"a {name} {gpu_kind} node has {node['cores']} cores: {tasks} task(s) of {cpus} do not fit",
                           str(per_gpu_cpus))
    elif cpus > per_gpu_cpus:
        problems += _warning("cpus_per_task", cpus,
                             f"{name} recommends at most {per_gpu_cpus} cores for {label} (one task per GPU); "
                             "more is charged against your priority",
                             str(per_gpu_cpus))
    if whole.get("memory_request_refused"):
        return problems  # job.sh writes no --mem there
    limit_mb = units.mem_megabytes(per_gpu_mem) * tasks
    if mem_mb == 0:
        if not plan.whole_gpu_node(answers):
            problems += _warning("mem", answers["mem"],
                                 f"0 asks for all of the node's memory ({node['mem']}) for {tasks} of its "
                                 f"{max(gpu['per_node'])} GPUs; more than {units.format_mem(limit_mb)} is charged "
                                 "against your priority", units.format_mem(limit_mb))
    elif mem_mb > units.mem_megabytes(node["mem"]):
        problems += _error("mem", answers["mem"], f"a {name} {gpu_kind} node has {node['mem']} available",
                           units.format_mem(limit_mb))
    elif mem_mb > limit_mb and not plan.whole_gpu_node(answers):
        problems += _warning("mem", answers["mem"],
                             f"{name} recommends at most {per_gpu_mem} per GPU ({units.format_mem(limit_mb)} "
                             f"for {tasks}); more is charged against your priority",
                             units.format_mem(limit_mb))
    return problems


# ---- all of it ---------------------------------------------------------------------------------

CHOICES: dict[str, list[str]] = {
    "framework": ["pytorch", "none"],
    "tracker": ["none", "tensorboard", "wandb"],
    "gpu_type": ["default", "h100", "h200", "a100", "l40s"],
    "mig_slice": ["none", "1g", "2g", "3g", "4g"],
}


def validate(answers: Mapping[str, Any]) -> list[Problem]:
    """Every problem with the answers, errors and warnings, in prompt order. Answers left at
    ``auto`` are derived first (``plan.resolve``); a problem with one is marked ``auto``."""
    text = {key: str(value) for key, value in answers.items()}
    problems: list[Problem] = []
    for field in FREE_TEXT_LENGTH:
        problems += check_free_text(field, text[field])
    problems += check_identifier("project_slug", text["project_slug"])
    problems += check_identifier("package_name", text["package_name"])
    problems += check_email("author_email", text["author_email"], optional=False)
    problems += check_username(text["username"])
    if text["cluster"] not in clusters.clusters():
        return problems + _error("cluster", text["cluster"], f"expected one of {', '.join(clusters.clusters())}", "fir")
    for field, allowed in CHOICES.items():
        if text.get(field, allowed[0]) not in allowed:
            problems += _error(field, text[field], f"expected one of {', '.join(allowed)}", allowed[0])
    problems += check_python_version(text["python_version"])
    auto = [key for key in plan.derived_fields(text) if key in plan.AUTO_FIELDS]
    text = {key: str(value) for key, value in plan.resolve(text).items()}
    gpus = int(text["gpus_per_node"]) if _WHOLE.fullmatch(text["gpus_per_node"]) else 1
    problems += check_account(text["account"], text["cluster"], gpus)
    problems += check_resources(text)
    problems += check_time(text["time"], text["cluster"])
    problems += check_email("mail_user", text["mail_user"], optional=True)
    if _WHOLE.fullmatch(text["gpus_per_node"]) and _WHOLE.fullmatch(text["nodes"]):
        problems += check_framework(text.get("framework", "pytorch"), int(text["gpus_per_node"]), int(text["nodes"]))
    return [replace(p, auto=True) if p.field in auto else p for p in problems]


def report(problems: list[Problem], write: Callable[[str], Any], closing: str = "") -> int:
    """Print the problems, then ``closing`` when any is an error; 1 when any is an error, else 0."""
    errors = [p for p in problems if not p.warning]
    for problem in problems:
        if problem.warning:
            write(f"WARNING: {problem}")
    for problem in errors:
        write(f"ERROR: {problem}")
    if errors:
        rerun = os.environ.get("DRAC_TEMPLATE_RERUN", "cookiecutter")  # tools/bake says "tools/bake"
        write(closing or f"Nothing was generated: fix the {len(errors)} answer(s) above and run {rerun} again.")
    return 1 if errors else 0


def check_answers(answers: Mapping[str, Any]) -> str:
    """Validate while cookiecutter collects the answers (cookiecutter.json's ``__answers_checked``
    renders this after the last answer): a refusal stops it before the project folder exists, so
    nothing is written, wherever the folder would go. Problems go to stderr, one per line; errors
    then raise cookiecutter's FailedHookException with the closing line, which cookiecutter prints
    alone (no traceback)."""
    from cookiecutter.exceptions import FailedHookException

    lines: list[str] = []
    failed = report(validate(answers), lines.append)
    for line in lines[:-1] if failed else lines:
        print(line, file=sys.stderr)
    if failed:
        kept = os.environ.get("DRAC_TEMPLATE_ANSWERS")  # tools/bake prints a command that reruns with them
        if kept:
            given = {key: value for key, value in answers.items() if not key.startswith("_")}
            Path(kept).write_text(json.dumps(given, ensure_ascii=False), encoding="utf-8")
        raise FailedHookException(lines[-1])  # "Nothing was generated: ..."
    return "yes"
