"""Read ``clusters.json``: every fact is ``{"value": ..., "source": ...}``; callers get the values."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("clusters.json")


@lru_cache(maxsize=1)
def raw() -> dict[str, Any]:
    """The data file as written, facts with their sources."""
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def _values(facts: dict[str, Any]) -> dict[str, Any]:
    return {key: fact["value"] for key, fact in facts.items()}


@lru_cache(maxsize=1)
def clusters() -> dict[str, dict[str, Any]]:
    """Cluster key (``fir``) -> its facts, values only."""
    return {key: _values(facts) for key, facts in raw()["clusters"].items()}


def cluster(key: str) -> dict[str, Any]:
    """The facts of one cluster; KeyError names the known clusters."""
    try:
        return clusters()[key]
    except KeyError:
        raise KeyError(f"unknown cluster {key!r}; known: {', '.join(clusters())}") from None


@lru_cache(maxsize=1)
def python() -> dict[str, Any]:
    return _values(raw()["python"])


@lru_cache(maxsize=1)
def accounts() -> dict[str, Any]:
    return _values(raw()["accounts"])


def is_ai_cluster(key: str) -> bool:
    return cluster(key)["kind"] == "ai"
