"""Stand-ins for the broker in agent tests, as Faust's ``Agent.test_context()`` or Quix Streams' ``sdf.test()``:
a topic is a list, a table a dict, a phone a list. Faults are injected here, never in the product code:
a topic whose broker refuses records, a table write that dies, a notifier that cannot reach anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifiers.apprise_adapter import Delivery
from stream.model.events import NotificationIntent
from stream.model.timeline import RecipientResult
from stream.runtime.clocks import AgentClock
from stream.runtime.records import Received


class Halted(BaseException):
    """The worker stopped (``stop``): a BaseException, so that nothing in the agent can catch it."""


class Died(BaseException):
    """The process died at an injected point (a SIGKILL, as the kill drill does to real workers)."""


def stop(reason: str) -> None:
    """An agent's ``stop`` in tests: raise instead of ending the process."""
    raise Halted(reason)


class BrokerRefused(Exception):
    """The broker did not take a record (what aiokafka raises is of no matter to the agents)."""


@dataclass
class Produced:
    """One record a topic took."""

    key: bytes | None
    value: bytes
    timestamp: float | None
    headers: Mapping[str, bytes] | None


@dataclass
class FakeTopic:
    """A topic: ``send`` returns a future that completes once 'the broker' has the record.

    ``refuse`` sends fail (their futures raise) before any is taken again; ``refuse_always`` makes every one
    fail; ``die_at`` raises ``Died`` at that send (1-based, counted over the topic's life), before the record is taken.
    """

    name: str = "topic"
    refuse: int = 0
    refuse_always: bool = False
    die_at: int | None = None
    records: list[Produced] = field(default_factory=list)
    sends: int = 0

    async def send(self, *, key: bytes | None = None, value: bytes | None = None, timestamp: float | None = None,
                   headers: Mapping[str, bytes] | None = None) -> asyncio.Future[None]:
        self.sends += 1
        if self.die_at is not None and self.sends == self.die_at:
            raise Died(f"{self.name}: send {self.sends}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.refuse_always or self.refuse > 0:
            self.refuse = max(0, self.refuse - 1)
            future.set_exception(BrokerRefused(f"{self.name}: not taken"))
        else:
            assert value is not None
            self.records.append(Produced(key, value, timestamp, headers))
            future.set_result(None)
        return future

    def values(self) -> list[bytes]:
        """The values taken, in order."""
        return [r.value for r in self.records]

    def received(self, start: int = 0) -> list[Received]:
        """The records taken from ``start`` on, as a consumer of the topic reads them."""
        return [Received(r.value, r.key, r.timestamp, r.headers or ()) for r in self.records[start:]]


class DyingTable(dict):  # type: ignore[type-arg]
    """A table whose ``die_at``-th write dies before (``after=False``) or after the value is kept."""

    def __init__(self, *args: Any, die_at: int | None = None, after: bool = False) -> None:
        super().__init__(*args)
        self.die_at, self.after, self.writes = die_at, after, 0

    def __setitem__(self, key: Any, value: Any) -> None:
        self.writes += 1
        dying = self.die_at is not None and self.writes == self.die_at
        if dying and not self.after:
            raise Died(f"table write {self.writes}")
        super().__setitem__(key, value)
        if dying:
            raise Died(f"after table write {self.writes}")


@dataclass
class Phones:
    """A notifier whose phones are a list; ``unreachable`` sends reach nobody (a gateway outage)."""

    unreachable: int = 0
    got: list[tuple[str, str]] = field(default_factory=list)  # (team, intent id), in order

    def waiting(self, intent_id: str) -> bool:
        """These phones never hold a send back."""
        return False

    async def send(self, intent: NotificationIntent) -> Delivery:
        if self.unreachable > 0:
            self.unreachable -= 1
            failed = RecipientResult(recipient=f"json://phone/{intent.team}", status="failed", elapsed_ms=1.0)
            return Delivery("failed", (failed,))
        self.got.append((intent.team, intent.intent_id))
        delivered = RecipientResult(recipient=f"json://phone/{intent.team}", status="delivered", elapsed_ms=1.0)
        return Delivery("delivered", (delivered,), reached_at=None)


def fixed_clock(moment: datetime) -> AgentClock:
    """An agent clock that always says ``moment``."""
    return AgentClock(lambda: moment)


def moving_clock(moments: list[datetime]) -> Callable[[], datetime]:
    """A clock that reads the last moment of a list the test appends to."""
    return lambda: moments[-1]
