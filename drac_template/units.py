"""Slurm's time and memory formats, parsed strictly."""

from __future__ import annotations

import re

# sbatch --time: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (Running_jobs on the DRAC wiki; sbatch(1)).
# Patterns are matched whole (fullmatch: no final newline slips through) and take ASCII digits only.
_TIME_FORMS = tuple(
    (re.compile(pattern.replace("N", "[0-9]+").replace("T", "[0-9]{1,2}")), name)
    for pattern, name in (
        (r"(?P<m>N)", "minutes"),
        (r"(?P<m>N):(?P<s>T)", "minutes:seconds"),
        (r"(?P<h>N):(?P<m>T):(?P<s>T)", "hours:minutes:seconds"),
        (r"(?P<d>N)-(?P<h>T)", "days-hours"),
        (r"(?P<d>N)-(?P<h>T):(?P<m>T)", "days-hours:minutes"),
        (r"(?P<d>N)-(?P<h>T):(?P<m>T):(?P<s>T)", "days-hours:minutes:seconds"),
    )
)
TIME_RULE = "a Slurm time: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S, more than zero"

# sbatch --mem: a number and a unit, K, M, G or T in either case, with an optional B (the wiki
# itself writes 62gb, 100g and 64GB); 0 asks for all the memory of each node.
_MEM = re.compile(r"(?P<n>[0-9]+)(?P<unit>[KMGTkmgt]?)[Bb]?")
_MEM_FACTOR_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}
MEM_RULE = (
    "a whole number with an optional K, M, G or T suffix (binary units; no suffix means M), "
    "or 0 for all of a node's memory"
)
WHOLE_NODE_MEM = "0"


def walltime_seconds(text: str) -> int:
    """Seconds in a Slurm time string; ValueError when it is not one."""
    for pattern, _name in _TIME_FORMS:
        match = pattern.fullmatch(text)
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
    """Megabytes in a Slurm memory string (``--mem``), 0 for ``0`` (a whole node's memory);
    ValueError when it is not one."""
    match = _MEM.fullmatch(text)
    if not match or (int(match["n"]) == 0 and text != WHOLE_NODE_MEM):
        raise ValueError(f"{text!r} is not {MEM_RULE}")
    return int(match["n"]) * _MEM_FACTOR_MB[match["unit"].upper()]


def format_mem(megabytes: float) -> str:
    """The shortest exact form: 286720 -> '280G'."""
    mb = int(megabytes)
    if mb % (1024 * 1024) == 0:
        return f"{mb // (1024 * 1024)}T"
    if mb % 1024 == 0:
        return f"{mb // 1024}G"
    return f"{mb}M"
