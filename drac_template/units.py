"""Slurm's time and memory formats, parsed strictly."""

from __future__ import annotations

import re

# sbatch --time: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (Running_jobs on the DRAC wiki; sbatch(1)).
_TIME_FORMS = (
    (re.compile(r"^(?P<m>\d+)$"), "minutes"),
    (re.compile(r"^(?P<m>\d+):(?P<s>\d{1,2})$"), "minutes:seconds"),
    (re.compile(r"^(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2})$"), "hours:minutes:seconds"),
    (re.compile(r"^(?P<d>\d+)-(?P<h>\d{1,2})$"), "days-hours"),
    (re.compile(r"^(?P<d>\d+)-(?P<h>\d{1,2}):(?P<m>\d{1,2})$"), "days-hours:minutes"),
    (re.compile(r"^(?P<d>\d+)-(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})$"), "days-hours:minutes:seconds"),
)
TIME_RULE = "a Slurm time: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S, more than zero"

_MEM = re.compile(r"^(?P<n>\d+)(?P<unit>[KMGT]?)$")
_MEM_FACTOR_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}
MEM_RULE = "a whole number with an optional K, M, G or T suffix (binary units; no suffix means M)"


def walltime_seconds(text: str) -> int:
    """Seconds in a Slurm time string; ValueError when it is not one."""
    for pattern, _name in _TIME_FORMS:
        match = pattern.match(text)
        if match:
            parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
            seconds = (
                parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
            )
            if seconds <= 0:
                break
            return seconds
    raise ValueError(f"{text!r} is not {TIME_RULE}")


def format_walltime(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def mem_megabytes(text: str) -> float:
    """Megabytes in a Slurm memory string (``--mem``); ValueError when it is not one."""
    match = _MEM.match(text)
    if not match or int(match["n"]) == 0:
        raise ValueError(f"{text!r} is not {MEM_RULE}")
    return int(match["n"]) * _MEM_FACTOR_MB[match["unit"]]


def format_mem(megabytes: float) -> str:
    """The shortest exact form: 286720 -> '280G'."""
    mb = int(megabytes)
    if mb % (1024 * 1024) == 0:
        return f"{mb // (1024 * 1024)}T"
    if mb % 1024 == 0:
        return f"{mb // 1024}G"
    return f"{mb}M"
