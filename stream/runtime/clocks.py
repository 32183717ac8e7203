"""The worker's clocks: the wall, a demo or drill clock that starts elsewhere and may run faster, and stream
time (the records' own timestamps, as Kafka Streams' stream-time punctuation). The core never reads a
clock: an agent reads one of these and hands the core its ``now``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, for the shell only; the core is always handed its ``now``."""
    return datetime.now(UTC)


def running_clock(start: datetime, rate: float = 1.0) -> Clock:
    """A clock that starts at ``start`` and runs ``rate`` times the real pace (the demo replays an
    evening live; drills and tests run deadlines faster)."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=(time.monotonic() - began) * rate)


def kafka_time(message: Any) -> float | None:
    """A record's Kafka timestamp (unix seconds), or None when it has none (-1 from the broker)."""
    timestamp = getattr(message, "timestamp", None)
    return timestamp if timestamp and timestamp > 0 else None


@dataclass
class AgentClock:
    """The moment an agent handles a record: the worker's clock, or in stream-time mode the record's own
    timestamp (the latest an agent has seen for a record without one). A record read again after a rebalance
    keeps its moment, though the agent's stream time may have run hours past it: a successor then decides
    exactly as its predecessor did (kill drill, 2026-12-02: an arrival handled again at the later stream time
    no longer joined its shooting and opened an activation of its own)."""

    clock: Clock = utc_now
    stream_time: bool = False
    _latest: dict[str, float] = field(default_factory=dict)

    def now(self, agent: str, timestamp: float | None) -> datetime:
        """The agent's ``now`` for a record with this Kafka timestamp."""
        if not self.stream_time:
            return self.clock()
        latest = max(self._latest.get(agent, 0.0), timestamp or 0.0)
        self._latest[agent] = latest
        return datetime.fromtimestamp(timestamp or latest, UTC)

    def carried(self, timestamp: float | None, now: datetime) -> float | None:
        """The timestamp of what a record causes: in stream-time mode its moment; otherwise the input's own
        Kafka timestamp, carried on so that dispatch measures the alert latency from the input's arrival."""
        return now.timestamp() if self.stream_time else timestamp

    def arrived(self, timestamp: float | None) -> float | None:
        """When a feed's record arrived, for the feed-silence gauge: in stream-time mode record timestamps are
        the scenario's, and the feed is alive now, on the wall clock (None)."""
        return None if self.stream_time else timestamp
