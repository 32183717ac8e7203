"""A worker's health as its event loop sees it: liveness and readiness for probes, and the loop's delay.

The metrics endpoint is served from a thread of its own (a scrape must never wait for the loop), so an
answer from it proves only that the *process* lives. A worker whose event loop is stuck (a blocking call,
a deadlock, a runaway computation) still answers /metrics, yet no alert leaves it. So the loop itself
beats: a task on the loop calls ``beat()`` every second, and the probe endpoints judge the age of the
last beat, from the probe's thread:

- ``/healthz`` (liveness): 503 when the last beat is older than ``stall_after`` (default 30 s), or when
  the loop has not beaten at all ``start_grace`` after the process started; a restart is the cure.
- ``/readyz`` (readiness): 503 until the worker has joined its group and been given its partitions (the
  first completed rebalance), and whenever it is not live.

Each beat also records how late it came (``vigil_event_loop_delay_seconds``): a loop that is slow but
not stuck shows there long before the liveness probe gives up on it. ``vigil_event_loop_heartbeat_age_seconds``
is computed at each scrape, so it grows while the loop is stuck (the WorkerLoopStalled alert).

``LoopHealth`` is plain state over an injected monotonic clock; the tests drive it by hand and through a
real loop that they block.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

from stream.ops.metrics import NAMESPACE

Monotonic = Callable[[], float]

STALL_AFTER_S = 30.0  # ten missed beats: far beyond any delay the alert path tolerates, well short of a shift
START_GRACE_S = 300.0  # joining the group and recovering tables from the changelogs, before the first beat
BEAT_EVERY_S = 1.0


@dataclass(frozen=True)
class HealthStatus:
    """A probe's answer: healthy or not, and why, in words an on-call engineer can act on."""

    ok: bool
    detail: str


class LoopHealth:
    """The last beat of the event loop and whether the worker is ready; read from any thread."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        clock: Monotonic = time.monotonic,
        stall_after: float = STALL_AFTER_S,
        start_grace: float = START_GRACE_S,
        beat_every: float = BEAT_EVERY_S,
        namespace: str = NAMESPACE,
    ):
        self.clock = clock
        self.stall_after = stall_after
        self.start_grace = start_grace
        self.beat_every = beat_every
        self._started = clock()
        self._last_beat: float | None = None
        self._ready = False
        self._lock = threading.Lock()  # beats come from the loop, probes from the server's threads
        self.delay = Gauge(
            "event_loop_delay_seconds", "How late the worker's event loop ran its last once-a-second heartbeat.",
            namespace=namespace, registry=registry,
        ) if registry is not None else None
        if registry is not None:
            # read at scrape time, from the server's thread: it grows while the loop is stuck, when no beat
            # comes to update anything
            Gauge(
                "event_loop_heartbeat_age_seconds", "Seconds since the worker's event loop last ran its heartbeat.",
                namespace=namespace, registry=registry,
            ).set_function(self.heartbeat_age)

    def beat(self) -> None:
        """Called by a task on the event loop every ``beat_every`` seconds: the loop is running."""
        now = self.clock()
        with self._lock:
            if self._last_beat is not None and self.delay is not None:
                self.delay.set(max(0.0, now - self._last_beat - self.beat_every))
            self._last_beat = now

    def heartbeat_age(self) -> float:
        """Seconds since the last beat (since the start while there has been none)."""
        with self._lock:
            last = self._last_beat
        return self.clock() - (self._started if last is None else last)

    def mark_ready(self, ready: bool = True) -> None:
        """The worker has joined its group and holds its partitions (or, with False, no longer does)."""
        with self._lock:
            self._ready = ready

    def liveness(self) -> HealthStatus:
        """Live while the loop beats; not live once it has been silent ``stall_after`` seconds."""
        now = self.clock()
        with self._lock:
            last = self._last_beat
        if last is None:
            waited = now - self._started
            if waited > self.start_grace:
                return HealthStatus(False, f"event loop has not beaten in the {waited:.0f} s since start "
                                           f"(allowed {self.start_grace:.0f} s)")
            return HealthStatus(True, f"starting ({waited:.0f} s)")
        age = now - last
        if age > self.stall_after:
            return HealthStatus(False, f"event loop stalled: last heartbeat {age:.1f} s ago (allowed {self.stall_after:.0f} s)")
        return HealthStatus(True, f"event loop beat {age:.1f} s ago")

    def readiness(self) -> HealthStatus:
        """Ready when live and the first rebalance has given the worker its partitions."""
        live = self.liveness()
        if not live.ok:
            return live
        with self._lock:
            ready = self._ready
        if not ready:
            return HealthStatus(False, "not ready: waiting for partitions (group join and table recovery)")
        return HealthStatus(True, "ready: " + live.detail)
