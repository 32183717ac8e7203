"""Where the agents and the dispatch stages put records: the one method of a Kafka topic they use.

A Faust topic is a ``Sink``; so is a list in a test (tests/stream/runtime/fakes.py). ``send`` hands the
record to the producer and returns an awaitable that completes when the broker has it, or raises when
it never will: a stage that must not lose the record awaits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol


class Sink(Protocol):
    """A topic to write to."""

    async def send(self, *, key: bytes | None = None, value: bytes | None = None, timestamp: float | None = None,
                   headers: Mapping[str, bytes] | None = None) -> Awaitable[Any]:
        """Hand one record to the producer; the returned awaitable completes once the broker has it."""
        ...
