"""`vigil demo --serve` stops every process it started when it is told to stop (issue 15: on SIGTERM the
demo died at once and left its broker and worker running, re-parented, each using a fifth of a CPU).

The demo runs as a real subprocess; its descendants are found by walking /proc by parent pid before the
signal, and each must be gone within a few seconds after it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STOP_S = 25.0  # the demo's own exit: its worker's graceful stop takes a few seconds
GONE_S = 5.0  # then nothing it started may still run


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, from /proc/<pid>/stat; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name in parentheses may hold spaces
    return int(fields[1]), fields[0], fields[19]


def _descendants(root: int) -> dict[int, str]:
    """Every process under ``root`` (children, their children...), by pid, with its start time."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(int(entry))) is not None:
            children.setdefault(found[0], []).append((int(entry), found[2]))
    out: dict[int, str] = {}
    todo = [root]
    while todo:
        for pid, started in children.get(todo.pop(), []):
            out[pid] = started
            todo.append(pid)
    return out


def _alive(processes: dict[int, str]) -> list[int]:
    """The ones still running: same pid and start time (not a reused pid), and not a zombie."""
    return [pid for pid, started in processes.items() if (found := _stat(pid)) is not None and found[2] == started and found[1] != "Z"]


def _described(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes().replace(bytes(1), b' ')[:120].decode(errors='replace')}")
        except OSError:
            out.append(f"{pid} (gone meanwhile)")
    return out


def _wait_for_line(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"the demo did not print {text!r} (exit {process.poll()}):\n{path.read_text(errors='replace')[-3000:]}")


def _stop_and_check(tmp_path: Path, sig: signal.Signals, after_line: str) -> None:
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        demo = subprocess.Popen([sys.executable, "-m", "stream.cli", "--log-level", "warning", "demo", "--serve", "--workdir", str(tmp_path),
                                 "--timeout", "60"], stdout=sink, stderr=subprocess.STDOUT)
    started: dict[int, str] = {}
    try:
        _wait_for_line(out, after_line, demo, timeout=180)
        started = _descendants(demo.pid)
        assert len(started) >= 2, f"expected the broker and the worker under the demo, found {started}"
        demo.send_signal(sig)
        code = demo.wait(timeout=STOP_S)
        deadline = time.monotonic() + GONE_S
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _described(_alive(started)) == [], f"left running after {sig.name}"
        assert code == 128 + sig, out.read_text(errors="replace")[-3000:]
        assert f"stopped by {sig.name}" in out.read_text(errors="replace")
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in _alive(started):  # only what this test's demo started, by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        demo.wait(timeout=10)


def test_sigterm_while_serving_stops_the_broker_and_the_worker(tmp_path: Path) -> None:
    _stop_and_check(tmp_path, signal.SIGTERM, "\nserving: ")


def test_sigint_during_the_sample_stops_the_broker_and_the_worker(tmp_path: Path) -> None:
    # earlier than the first test (once the worker is ready, while the sample is being sent): the same stop path, faster
    _stop_and_check(tmp_path, signal.SIGINT, "worker     ready in")
