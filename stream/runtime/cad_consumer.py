"""The CAD ingest on a consumer and a thread of its own, off the alert path's event loop.

Nearly every CAD document is an ordinary call (98% of a year's): parsed, counted and dropped. Through
Faust's per-record stream machinery a worker drained about 1,000-1,700 of them a second, and a Faust agent
that did nothing at all topped out near 5,000 a second on this machine; the parsing competed with the
alerts for the worker's one event loop. So CAD documents are read here with aiokafka's ``getmany`` in
batches of up to ``max_records``, on a thread with its own event loop, consumer and producer:

- each batch goes through ``CadIngest.handle`` (stream/runtime/ingest.py): the shootings go to the events
  topic, bad documents to the dead-letter topic, and the batch returns only once the broker has them;
- then, and only then, the batch's offsets are committed (at least once: a worker that dies between the
  two re-reads the batch, and the core drops an event it has already seen by its id);
- the consumer group is ``<app id>.cad-ingest``; a partition this group has never committed starts where
  the worker's Faust group left it (the group that read CAD before this module existed; ``take_over_offsets``),
  else at the earliest record, so an upgrade neither skips nor re-reads the feed.

A commit refused because the partitions moved to another worker (a rebalance) is no loss: that worker
reads the batch again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stream.model.sinks import Sink
from stream.runtime.ingest import CadIngest
from stream.runtime.outputs import halt
from stream.runtime.records import Received

log = structlog.get_logger(__name__)

LAG_EVERY_S = 5.0  # as the Faust app's lag timer


@dataclass(frozen=True)
class CadConsumerSettings:
    """Where and how the CAD consumer reads."""

    bootstrap: str
    topic: str
    group_id: str  # this consumer's group
    takeover_group: str | None = None  # the group whose committed offsets a new partition starts from
    max_records: int = 2000
    fetch_max_wait_ms: int = 10
    session_timeout_ms: int = 6000  # as the Faust app's (Tansu answers a join after half the rebalance timeout)
    heartbeat_interval_ms: int = 1000
    commit_every_s: float = 1.0


class TopicSink:
    """An aiokafka producer's topic, as a ``Sink``."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer, self.topic = producer, topic

    async def send(self, *, key: bytes | None = None, value: bytes | None = None, timestamp: float | None = None,
                   headers: Mapping[str, bytes] | None = None) -> Any:
        """Hand one record to the producer; the returned future completes once the broker has it."""
        return await self.producer.send(self.topic, value, key=key, timestamp_ms=int(timestamp * 1000) if timestamp else None,
                                        headers=list(headers.items()) if headers else None)


async def take_over_offsets(settings: CadConsumerSettings) -> None:
    """Before this group first joins: every partition it has never committed gets the takeover group's offset,
    committed in its name (a commit from outside the group, which Kafka allows for a group with no
    generation), so that it starts where the takeover group left off. Done before subscribing, so no fetch can
    start from the earliest record meanwhile."""
    if not settings.takeover_group:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        partitions = [TopicPartition(settings.topic, p) for p in await _partitions(admin, settings.topic)]
        ours = await admin.list_consumer_group_offsets(settings.group_id, partitions=partitions)
        fresh = [tp for tp in partitions if ours.get(tp) is None or ours[tp].offset < 0]
        theirs = await admin.list_consumer_group_offsets(settings.takeover_group, partitions=fresh) if fresh else {}
    finally:
        await admin.close()
    offsets = {tp: meta.offset for tp, meta in theirs.items() if meta is not None and meta.offset >= 0}
    if not offsets:
        return
    committer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=settings.group_id, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign(list(offsets))
        await committer.commit(offsets)
    finally:
        await committer.stop()
    log.info("cad_consumer.took_over", group=settings.takeover_group, offsets={tp.partition: o for tp, o in offsets.items()})


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    described = await admin.describe_topics([topic])
    return sorted(p["partition"] for t in described for p in t["partitions"]) if described else []


class CadConsumer:
    """The CAD ingest loop on a daemon thread (see the module); ``make_ingest`` builds the agent around the
    thread's own producer, given a function from a topic name to its ``Sink``."""

    def __init__(self, settings: CadConsumerSettings, make_ingest: Callable[[Callable[[str], Sink]], CadIngest],
                 on_lag: Callable[[dict[tuple[str, int], int]], None] | None = None, halt: Callable[[str], Any] = halt) -> None:
        self.settings = settings
        self.make_ingest = make_ingest
        self.halt = halt
        self.on_lag = on_lag
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.ready = threading.Event()  # set once the consumer has joined its group

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="vigil-cad-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to stop after its batch, and wait for the thread."""
        if self._loop is not None and self._stopping is not None:
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop already ended (the consumer stopped on its own)
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - a feed that stopped reading must not go unnoticed: crash, restart
            self.halt(f"cad consumer: {type(exc).__name__}: {exc}")

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        settings = self.settings
        # acks="all": an event counts as sent once every in-sync replica has it (min.insync.replicas, stream/ops/topics.py)
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all", linger_ms=0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap, group_id=settings.group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.fetch_max_wait_ms, session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms, rebalance_timeout_ms=settings.session_timeout_ms,
        )
        await take_over_offsets(settings)
        consumer.subscribe([settings.topic])
        await producer.start()
        await consumer.start()
        try:
            await self._consume(consumer, self.make_ingest(lambda topic: TopicSink(producer, topic)))
        finally:
            await consumer.stop()
            await producer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer, ingest: CadIngest) -> None:
        assert self._stopping is not None
        lag_due = commit_due = 0.0
        handled: dict[TopicPartition, int] = {}  # the next offset to read of each partition, all before it handled
        committing: asyncio.Task[None] | None = None
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=self.settings.max_records)
            if consumer.assignment():
                self.ready.set()
            for tp, records in batches.items():
                await ingest.handle([Received(r.value, r.key, r.timestamp / 1000 if r.timestamp and r.timestamp > 0 else None,
                                              tuple(r.headers or ())) for r in records])
                handled[tp] = records[-1].offset + 1
            now = time.monotonic()
            if handled and now >= commit_due and (committing is None or committing.done()):
                # once a second at most, as Faust commits: a commit per batch of a quiet feed (one record) would be a
                # broker round trip per CAD document, and slowed every other client of the broker
                commit_due = now + self.settings.commit_every_s
                committing = asyncio.create_task(self._commit(consumer, dict(handled)))
                handled.clear()
            if self.on_lag is not None and now >= lag_due:
                lag_due = now + LAG_EVERY_S
                self.on_lag(await _lags(consumer))
        if committing is not None:
            await committing
        if handled:
            await self._commit(consumer, handled)

    @staticmethod
    async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # the partitions moved on a rebalance: their new owner reads the batches again
            log.warning("cad_consumer.commit_refused", offsets={tp.partition: o for tp, o in offsets.items()}, error=type(exc).__name__)


async def _lags(consumer: AIOKafkaConsumer) -> dict[tuple[str, int], int]:
    """highwater − position of every assigned partition (0 where either is not known yet)."""
    lags: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        try:
            position, highwater = await consumer.position(tp), consumer.highwater(tp)
        except KafkaError:
            position = highwater = None
        lags[(tp.topic, tp.partition)] = highwater - position if position is not None and highwater is not None else 0
    return lags
