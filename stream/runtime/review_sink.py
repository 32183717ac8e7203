"""The review sink's writer: timeline records into the review store, riding out a database outage.

The sink must neither lose a record nor hold up an alert. So:

- a record's Kafka event is acked only once the record is stored (a crash re-reads it; the store keeps
  each ``entry_id`` once, so a record stored twice is stored once);
- when the store fails, the records wait in memory, unacked, and a background task retries with backoff
  (0.5 s doubling to 10 s, with jitter); meanwhile the sink keeps taking records off its stream, so its
  buffer never fills and the consumer, which every agent shares, never stalls (up to ``max_pending``
  records: beyond that the sink waits, which would in the end slow the whole worker; at Minneapolis's
  volume, hundreds of records a day, that is weeks of outage);
- Faust waits for every unacked record before it gives partitions away (a rebalance, a stop). Records
  held for a store that is down would hold up the rebalance, and with it every alert, for as long as the
  outage lasts. So when the consumer's flow is suspended, the records still waiting are handed back:
  produced again to the timeline topic (same key, same partition) and only then acked; whichever worker
  owns the partition next stores them once the database answers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import structlog

from stream.model.timeline import TimelineRecord, decode_timeline
from stream.ops.metrics import WorkerMetrics
from stream.runtime.clocks import AgentClock
from stream.runtime.outputs import DeadLetters, OutputPolicy, Outputs, halt
from stream.runtime.records import Received

log = structlog.get_logger(__name__)


class TimelineStore(Protocol):
    """Where the sink keeps timeline records (reviews.store.ReviewStore): each ``entry_id`` once."""

    def append(self, records: Iterable[TimelineRecord]) -> int:
        """Store the records not stored yet; how many were new."""
        ...


@dataclass(frozen=True)
class StoreBackoff:
    """Waits between attempts at a store that failed: exponential, capped, with jitter."""

    base_s: float = 0.5
    max_s: float = 10.0
    jitter: float = 0.3

    def delay(self, attempt: int, rnd: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_s, self.base_s * 2 ** (attempt - 1)) * (1 + self.jitter * (2 * rnd.random() - 1))


@dataclass
class _Waiting:
    event: Any  # the Kafka event to ack once stored (or handed back)
    record: TimelineRecord


@dataclass
class TimelineWriter:
    """Stores batches of timeline records, acking each record's event once it is stored (see the module).

    ``ack(event)`` acks one event; ``hand_back(event)`` produces the event's record again to its topic and
    returns once the broker has it; ``flowing()`` says whether the consumer may keep records unacked (False
    while Faust revokes partitions or stops)."""

    store: TimelineStore
    ack: Callable[[Any], Awaitable[Any]]
    hand_back: Callable[[Any], Awaitable[Any]]
    flowing: Callable[[], bool]
    backoff: StoreBackoff = field(default_factory=StoreBackoff)
    max_pending: int = 50_000
    seed: int | None = None
    waiting: list[_Waiting] = field(default_factory=list)
    stored: int = 0  # records stored new (not already there), for tests and logs
    handed_back: int = 0
    _retrying: asyncio.Task[None] | None = None
    _room: asyncio.Event = field(default_factory=asyncio.Event)
    _rnd: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rnd = random.Random(self.seed)
        self._room.set()

    @property
    def outage(self) -> bool:
        """True while records wait for a store that failed."""
        return self._retrying is not None and not self._retrying.done()

    async def write(self, batch: Sequence[tuple[Any, TimelineRecord | None]]) -> None:
        """Store a batch of (event, record) — a None record, one that did not decode, is only acked. Returns
        at once while an outage is being ridden out (the batch joins the waiting records)."""
        for event, record in batch:
            if record is None:
                await self.ack(event)
            else:
                self.waiting.append(_Waiting(event, record))
        if not self.waiting:
            return
        if self.outage:
            if len(self.waiting) >= self.max_pending:
                self._room.clear()
                log.warning("review_sink.full", waiting=len(self.waiting))
                await self._room.wait()
            return
        if not await self._flush():
            self._retrying = asyncio.create_task(self._retry())

    async def _flush(self) -> bool:
        """Try once to store every waiting record; ack them when stored. False when the store failed."""
        taken = list(self.waiting)
        try:
            # off the event loop: the alert path never waits for bookkeeping
            self.stored += await asyncio.to_thread(self.store.append, [w.record for w in taken])
        except Exception as exc:  # noqa: BLE001 - whatever the database says, the records wait and are retried
            log.warning("review_sink.store_failed", waiting=len(taken), error=f"{type(exc).__name__}: {str(exc)[:200]}")
            return False
        del self.waiting[: len(taken)]  # records added while the thread ran stay waiting
        for item in taken:
            await self.ack(item.event)
        return True

    async def _retry(self) -> None:
        """Retry the store with backoff until it takes every waiting record (or they are handed back)."""
        began, attempt = time.monotonic(), 0
        while self.waiting:
            attempt += 1
            if not await self._wait_flowing(self.backoff.delay(attempt, self._rnd)):
                await self._hand_back_all()
                return
            if await self._flush():
                attempt = 0  # records that came in meanwhile go next, without a long wait
                if len(self.waiting) < self.max_pending:
                    self._room.set()
        log.info("review_sink.caught_up", outage_s=round(time.monotonic() - began, 1))
        self._room.set()

    async def _wait_flowing(self, seconds: float) -> bool:
        """Sleep ``seconds``, watching the consumer's flow; False as soon as it stops (records must go back)."""
        wake = time.monotonic() + seconds
        while self.flowing():
            left = wake - time.monotonic()
            if left <= 0:
                return True
            await asyncio.sleep(min(0.2, left))
        return False

    async def _hand_back_all(self) -> None:
        """Give the waiting records back to the topic, so that a rebalance or a stop need not wait for the database."""
        taken = list(self.waiting)
        self.waiting.clear()
        for item in taken:
            await self.hand_back(item.event)
            await self.ack(item.event)
        self.handed_back += len(taken)
        log.warning("review_sink.handed_back", records=len(taken))
        self._room.set()


@dataclass
class ReviewSink:
    """The review sink agent: batches of timeline records decoded and handed to the ``TimelineWriter``; a record
    that does not decode is dead-lettered (with the reason) and acked."""

    writer: TimelineWriter
    dead_letters: DeadLetters
    metrics: WorkerMetrics
    clock: AgentClock
    policy: OutputPolicy = OutputPolicy()
    stop: Callable[[str], NoReturn] = halt

    async def handle(self, batch: Sequence[Received]) -> None:
        """Decode and store a batch (see ``TimelineWriter.write``)."""
        started = time.perf_counter()
        decoded: list[tuple[Any, TimelineRecord | None]] = []
        outputs = Outputs(self.policy)
        for record in batch:
            try:
                decoded.append((record.event, decode_timeline(record.value)))
            except Exception as exc:  # noqa: BLE001 - a record that does not decode is dead-lettered
                await self.dead_letters.failed(outputs, "review_sink", record.value, exc, self.clock.now("review_sink", record.timestamp))
                decoded.append((record.event, None))
        await outputs.confirm_or_stop(self.stop, "review sink")  # a dead letter is on the broker before its record is acked
        await self.writer.write(decoded)
        self.metrics.stage("review_sink", time.perf_counter() - started, len(batch))
