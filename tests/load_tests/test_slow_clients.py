"""The slow-client drill, small: 150 slow clients against real `vigil hl7-listen`, `vigil ingest-http` and
`vigil web` subprocesses (the session's broker); the legitimate requests among them are all answered."""

from __future__ import annotations

from pathlib import Path

from load_tests import slow_clients


async def test_legitimate_requests_are_answered_among_150_slow_clients(kafka_bootstrap: str, tmp_path: Path) -> None:
    results = await slow_clients.run(clients=150, hold=3.0, every=0.25, baseline=3, bootstrap=kafka_bootstrap, workdir=tmp_path)
    for name, got in results["services"].items():
        during = got["under_slow_clients"]
        assert during["count"] == 12 and during["failed"] == 0, (name, during["failures"])
        assert during["p50_ms"] < 100, (name, during)
        assert got["alive"], name
        assert got["log"]["problems"] == 0, (name, got["log"]["examples"])
        assert got["slow_clients"]["connections"] >= 150
    for name, cap in (("hl7", 64), ("ingest", 128)):  # the listeners' caps hold: the longest-silent make room
        got = results["services"][name]
        assert got["slow_clients"]["closed_by_service"] >= 150 - cap, (name, got["slow_clients"])
        assert got["service"]["peak_fds"] < cap + 150, (name, got["service"])
        assert got["log"]["events"].get(f"{'hl7' if name == 'hl7' else 'http_ingest'}.connections_at_cap") == 1


def test_goals_fail_when_a_request_is_lost_or_slow() -> None:
    answered = {"under_slow_clients": {"failed": 0, "count": 40, "p95_ms": 20.0}, "alive": True, "log": {"problems": 0}}
    lost = {**answered, "under_slow_clients": {"failed": 1, "count": 40, "p95_ms": 20.0}}
    slow = {**answered, "under_slow_clients": {"failed": 0, "count": 40, "p95_ms": 150.0}}
    found = slow_clients.goals({"services": {"hl7": answered, "ingest": lost, "web": slow}}, 100)
    assert [goal for goal, ok in found.items() if not ok] == [
        "ingest: every legitimate request answered", "web: p95 under 100 ms with the slow clients connected"]
