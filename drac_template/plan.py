"""Values derived from the answers and the cluster facts: the answers left at ``auto``, and what
job.sh asks Slurm for. Derived values are computed here, at every rendering, from the recorded
answers only: re-rendering a project (a changed answer, a newer template) derives them again."""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import clusters, units


def _int(value: Any, fallback: int = 0) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return fallback


def gpu_type(answers: Mapping[str, Any]) -> str:
    """The cluster's GPU specifier for the answer ``gpu_type`` (``default`` -> the cluster's main GPU)."""
    chosen = str(answers.get("gpu_type", "default"))
    facts = clusters.cluster(answers["cluster"])
    return facts["default_gpu"] if chosen == "default" else chosen


def gpu_facts(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The facts of the chosen GPU (or MIG slice) on the chosen cluster; None when the cluster lacks it."""
    gpus = clusters.cluster(answers["cluster"])["gpus"]
    facts = gpus.get(gpu_type(answers))
    if facts is None:
        return None
    slice_ = str(answers.get("mig_slice", "none"))
    if slice_ != "none":
        return facts["mig"].get(slice_)
    return facts


SLUG_LENGTH = 64
# Letters that Unicode does not decompose into a base letter and an accent.
_LETTERS_WITHOUT_ACCENTS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                                          "ß": "ss", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th"})


def slug(name: str) -> str:
    """A folder and package name from a project name: 'My ML Project (v2)' -> 'my_ml_project_v2',
    'Étude des réseaux' -> 'etude_des_reseaux' (accents dropped, letters kept); at most
    SLUG_LENGTH characters, cut between words."""
    spelled = name.translate(_LETTERS_WITHOUT_ACCENTS)
    ascii_name = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    text = "_".join(words) or "project"
    text = f"project_{text}" if text[0].isdigit() else text
    while len(text) > SLUG_LENGTH and "_" in text:
        text = text.rsplit("_", 1)[0]
    return text[:SLUG_LENGTH]


def project_space(answers: Mapping[str, Any]) -> str:
    """Shell expression for the project space, e.g. ``"$HOME/projects/def-someprof"``."""
    answers = resolve(answers)
    before, _, after = clusters.cluster(answers["cluster"])["project_path"].partition("{account}")
    account = shlex.quote(str(answers["account"])) if _ else ""
    if account and account == str(answers["account"]):
        return f'"{before}{account}{after}"'
    return f'"{before}"{account}"{after}"' if account else f'"{before}"'


# ---- derived answers -----------------------------------------------------------------------------
# An answer the user leaves at ``auto`` (or at the placeholder account) is derived from the others
# each time the project is rendered, so that it follows the cluster and the GPU count when they
# change (scripts/regenerate.sh). What the user typed is kept as typed.

AUTO = "auto"
AUTO_FIELDS = ("gpus_per_node", "cpus_per_task", "mem")


def is_auto(value: Any) -> bool:
    return str(value).strip().lower() == AUTO


def default_account(answers: Mapping[str, Any]) -> str:
    placeholders = clusters.accounts()["placeholders"]
    return placeholders[1] if clusters.is_ai_cluster(answers["cluster"]) else placeholders[0]


def default_gpus_per_node(answers: Mapping[str, Any]) -> int:
    """The smallest GPU count the cluster takes for this job (whole nodes where it must)."""
    facts = gpu_facts({**answers, "mig_slice": "none"})
    if facts is None:
        return 1
    allowed = facts["per_node"]
    whole = clusters.cluster(answers["cluster"])["whole_node"] or {}
    if _int(answers.get("nodes"), 1) > 1 and whole.get("multi_node_gpus_per_node"):
        allowed = [n for n in allowed if n in whole["multi_node_gpus_per_node"]] or allowed
    return allowed[0]


def gpu_node(answers: Mapping[str, Any]) -> dict[str, Any]:
    """What one node of the chosen GPU holds: the per-GPU shares times its GPUs (the wiki's
    shares divide each node among its GPUs); its memory is the node table's available memory
    (``node_mem``, what Slurm lets a job ask for) where the data has it."""
    gpu = clusters.cluster(answers["cluster"])["gpus"][gpu_type(answers)]
    most = max(gpu["per_node"])
    mem = units.mem_megabytes(gpu["node_mem"]) if "node_mem" in gpu else units.mem_megabytes(gpu["mem"]) * most
    return {"gpus": most, "cores": gpu["cpus"] * most, "mem": units.format_mem(mem)}


def whole_gpu_node(answers: Mapping[str, Any]) -> bool:
    """The job takes every GPU of its nodes (so their memory too: --mem=0)."""
    gpus = _int(answers.get("gpus_per_node"))
    if not gpus or str(answers.get("mig_slice", "none")) != "none" or gpu_facts(answers) is None:
        return False
    return gpus == gpu_node(answers)["gpus"]


def default_cpus_per_task(answers: Mapping[str, Any]) -> int:
    facts = clusters.cluster(answers["cluster"])
    if _int(answers.get("gpus_per_node")) == 0:
        whole = facts["whole_node"] or {}
        return facts["cpu_node"]["cores"] if whole.get("cpu_jobs_whole_node") else 4
    gpu = gpu_facts(answers)
    return gpu["cpus"] if gpu else 1


def default_mem(answers: Mapping[str, Any]) -> str:
    """4G per core for a CPU job (0, all of the node's, where CPU jobs take whole nodes); the cluster's
    share per GPU times the GPUs; 0 (all of it: Best_practices_for_job_submission) for a whole
    GPU node, whose usable memory is below the nominal figure."""
    gpus = _int(answers.get("gpus_per_node"))
    facts = clusters.cluster(answers["cluster"])
    if gpus == 0:
        whole = facts["whole_node"] or {}
        if whole.get("cpu_jobs_whole_node"):
            return units.WHOLE_NODE_MEM
        return units.format_mem(4 * 1024 * _int(answers.get("cpus_per_task"), 1))
    gpu = gpu_facts(answers)
    if gpu is None:
        return "4G"
    if whole_gpu_node(answers):
        return units.WHOLE_NODE_MEM
    per_gpu = units.mem_megabytes(gpu["mem"])
    return units.format_mem(per_gpu * (1 if answers.get("mig_slice", "none") != "none" else gpus))


def derived_fields(answers: Mapping[str, Any]) -> list[str]:
    """The answers that ``resolve`` computes: those at ``auto``, and a placeholder account."""
    fields = [key for key in AUTO_FIELDS if is_auto(answers.get(key, AUTO))]
    if str(answers.get("account")) in clusters.accounts()["placeholders"]:
        fields.insert(0, "account")
    return fields


def resolve(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers with every derived one computed from the others and the cluster data.

    In dependency order: the GPU count, then the cores per task (per GPU), then the memory.
    Assumes a known cluster."""
    out = dict(answers)
    derived = derived_fields(answers)
    if "account" in derived:
        out["account"] = default_account(out)
    if "gpus_per_node" in derived:
        out["gpus_per_node"] = str(default_gpus_per_node(out))
    if "cpus_per_task" in derived:
        out["cpus_per_task"] = str(default_cpus_per_task(out))
    if "mem" in derived:
        out["mem"] = default_mem(out)
    return out


# ---- what job.sh asks for ----------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    cluster: str
    account: str
    nodes: int
    gpus_per_node: int
    gpu_spec: str | None  # e.g. "h100" or "h100_3g.40gb"; None for a CPU job
    tasks_per_node: int
    cpus_per_task: int
    mem: str | None  # None where the cluster refuses memory requests
    time: str
    signal_seconds: int
    internet: bool
    python_module: str
    stdenv: str
    mail_user: str

    @property
    def gpu_option(self) -> str | None:
        if self.gpu_spec is None:
            return None
        return f"--gpus-per-node={self.gpu_spec}:{self.gpus_per_node}"

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks_per_node


def signal_seconds(walltime: str) -> int:
    """How long before the time limit Slurm warns the job: 5 minutes, less for short test jobs."""
    return min(300, max(30, units.walltime_seconds(walltime) // 4))


def job(answers: Mapping[str, Any]) -> Job:
    """The job's resources, derived answers computed; assumes the answers passed validation."""
    answers = resolve(answers)
    facts = clusters.cluster(answers["cluster"])
    gpus = _int(answers["gpus_per_node"])
    mig = str(answers.get("mig_slice", "none")) != "none"
    gpu = gpu_facts(answers) if gpus else None
    spec = None
    if gpu is not None:
        spec = gpu["type"] if mig else gpu_type(answers)
    whole = facts["whole_node"] or {}
    return Job(
        cluster=answers["cluster"],
        account=str(answers["account"]),
        nodes=_int(answers["nodes"], 1),
        gpus_per_node=gpus,
        gpu_spec=spec,
        tasks_per_node=max(1, gpus),
        cpus_per_task=_int(answers["cpus_per_task"], 1),
        mem=None if whole.get("memory_request_refused") else str(answers["mem"]),
        time=str(answers["time"]),
        signal_seconds=signal_seconds(str(answers["time"])),
        internet=bool(facts["internet_on_compute"]),
        python_module=f"python/{answers['python_version']}",
        stdenv=clusters.python()["stdenv"],
        mail_user=str(answers.get("mail_user", "")),
    )
