from __future__ import annotations

import signal
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.engine.job import StopRequest, atomic_write


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "state.bin"
    atomic_write(path, lambda f: f.write(b"first"))
    atomic_write(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["state.bin"]


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "state.bin"
    atomic_write(path, lambda f: f.write(b"good"))

    def half_then_fail(f) -> None:
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_stop_request_only_records_signals() -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
    try:
        stop = StopRequest().install()
        assert not stop and stop.name == "none"
        signal.raise_signal(signal.SIGUSR1)
        assert stop and stop.name == "SIGUSR1"
        signal.raise_signal(signal.SIGTERM)  # a second signal: still just a request
        assert stop and stop.name == "SIGUSR1", "the first signal is the reason"
        stop.ignore()  # once the stop is agreed
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGUSR1)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
