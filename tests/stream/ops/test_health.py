"""stream/ops/health.py: liveness and readiness from the event loop's heartbeat, and the probe endpoints."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

from stream.ops.health import LoopHealth
from stream.ops.probes import serve_metrics


class FakeMonotonic:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _health(**kw: float) -> tuple[LoopHealth, FakeMonotonic, CollectorRegistry]:
    clock, registry = FakeMonotonic(), CollectorRegistry()
    return LoopHealth(registry, clock=clock, **kw), clock, registry


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_live_while_starting_within_the_grace() -> None:
    health, clock, _ = _health(start_grace=300)
    clock.now += 299
    assert health.liveness().ok
    assert health.liveness().detail == "starting (299 s)"


def test_not_live_when_the_loop_never_beat_after_the_grace() -> None:
    health, clock, _ = _health(start_grace=300)
    clock.now += 301
    status = health.liveness()
    assert not status.ok
    assert status.detail == "event loop has not beaten in the 301 s since start (allowed 300 s)"


def test_live_while_beating_and_stalled_after_stall_after() -> None:
    health, clock, _ = _health(stall_after=30)
    health.beat()
    clock.now += 30
    assert health.liveness().ok
    clock.now += 0.5
    status = health.liveness()
    assert not status.ok
    assert status.detail == "event loop stalled: last heartbeat 30.5 s ago (allowed 30 s)"
    health.beat()
    assert health.liveness().ok


def test_ready_only_after_partitions_and_while_live() -> None:
    health, clock, _ = _health(stall_after=30)
    health.beat()
    assert health.readiness().detail == "not ready: waiting for partitions (group join and table recovery)"
    health.mark_ready()
    assert health.readiness().ok
    clock.now += 31
    assert not health.readiness().ok
    assert health.readiness().detail.startswith("event loop stalled")


def test_each_beat_records_how_late_it_came() -> None:
    health, clock, registry = _health()
    health.beat()
    assert registry.get_sample_value("vigil_event_loop_delay_seconds") == 0.0
    clock.now += 3.25  # due after 1 s
    health.beat()
    assert registry.get_sample_value("vigil_event_loop_delay_seconds") == 2.25
    clock.now += 0.5  # early (timers drift): never negative
    health.beat()
    assert registry.get_sample_value("vigil_event_loop_delay_seconds") == 0.0


def test_heartbeat_age_grows_at_each_scrape_while_no_beat_comes() -> None:
    health, clock, registry = _health()
    clock.now += 4
    assert registry.get_sample_value("vigil_event_loop_heartbeat_age_seconds") == 4.0  # since the start
    health.beat()
    clock.now += 42
    assert registry.get_sample_value("vigil_event_loop_heartbeat_age_seconds") == 42.0


def test_probes_served_beside_metrics_and_other_paths_refused() -> None:
    registry = CollectorRegistry()
    health = LoopHealth(registry)
    port = serve_metrics(registry, "127.0.0.1", 0, health)
    base = f"http://127.0.0.1:{port}"
    health.beat()
    assert _get(f"{base}/healthz")[0] == 200
    assert _get(f"{base}/readyz") == (503, "not ready: waiting for partitions (group join and table recovery)\n")
    health.mark_ready()
    assert _get(f"{base}/readyz")[0] == 200
    assert "vigil_event_loop_delay_seconds" in _get(f"{base}/metrics")[1]
    assert _get(f"{base}/nope") == (404, "not found: /nope (this port serves /metrics, /healthz and /readyz)\n")


def test_a_process_without_a_loop_health_serves_only_metrics() -> None:
    registry = CollectorRegistry()
    port = serve_metrics(registry, "127.0.0.1", 0)
    assert _get(f"http://127.0.0.1:{port}/healthz") == (404, "not found: /healthz (this port serves /metrics)\n")


async def test_a_blocked_event_loop_fails_liveness_while_metrics_still_answer() -> None:
    """The reason for the heartbeat: a real loop, beating, then blocked by a synchronous call; the probe,
    answered from the server's thread, sees the stall while /metrics (same thread) still answers."""
    registry = CollectorRegistry()
    health = LoopHealth(registry, stall_after=0.5, beat_every=0.05)
    port = serve_metrics(registry, "127.0.0.1", 0, health)
    base = f"http://127.0.0.1:{port}"

    async def beating() -> None:
        while True:
            health.beat()
            await asyncio.sleep(health.beat_every)

    beats = asyncio.create_task(beating())
    try:
        await asyncio.sleep(0.2)
        assert (await asyncio.to_thread(_get, f"{base}/healthz"))[0] == 200
        seen: dict[str, tuple[int, str]] = {}

        def probe_during_the_block() -> None:
            time.sleep(1.0)
            seen["healthz"] = _get(f"{base}/healthz")
            seen["metrics"] = _get(f"{base}/metrics")

        prober = threading.Thread(target=probe_during_the_block)
        prober.start()
        time.sleep(1.5)  # blocks the loop: no beat for 1.5 s
        prober.join()
        assert seen["healthz"][0] == 503
        assert seen["healthz"][1].startswith("event loop stalled: last heartbeat")
        assert seen["metrics"][0] == 200
        await asyncio.sleep(0.01)  # the first beat after the block, and only that one
        assert registry.get_sample_value("vigil_event_loop_delay_seconds") >= 1.0
        await asyncio.sleep(0.2)
        assert (await asyncio.to_thread(_get, f"{base}/healthz"))[0] == 200
    finally:
        beats.cancel()
