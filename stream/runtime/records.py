"""A record as an agent sees it: the value, its key, timestamp and headers, and the broker's handle on it.

The Faust shell makes one of each event (``Received.of``); a test makes them by hand. Agents read only
these fields, so a list of them stands in for a topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream.runtime.clocks import kafka_time


@dataclass(frozen=True)
class Received:
    """One record read from a topic."""

    value: bytes
    key: bytes | None = None
    timestamp: float | None = None  # Kafka timestamp, unix seconds (None: the broker gave none)
    headers: Mapping[str, bytes] | Sequence[tuple[str, bytes]] = ()
    event: Any = None  # the Faust event, acked through it (None in tests)

    def header(self, name: str) -> bytes | None:
        """The value of the record's header ``name`` (the first one), or None."""
        pairs = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return next((value for key, value in pairs if key == name), None)

    @classmethod
    def of(cls, event: Any) -> Received:
        """The record of a Faust event."""
        message = event.message
        headers = event.headers or getattr(message, "headers", None) or ()
        return cls(event.value, event.key, kafka_time(message), headers, event)
