"""The standdowns every worker agrees on: the compacted ``standdowns`` topic, read whole by each worker.

DNS adds and ends standdowns on the web or with `vigil standdown` (kept in the review store, audited); each
change is published to the topic keyed by the standdown's id, the newest version being its state
(stream/core/standdowns.py). A worker reads the topic from its start on a thread and a consumer of its own,
with no consumer group (every worker reads every record: one partition, assigned, never committed), and keeps
the newest version of each standdown. The activation agent asks ``current()`` at each input, so a standdown
is in force on every worker within a fetch (tens of milliseconds) of its publication.

``start`` returns once the feed has read up to the end the topic had when it started (or after
``CATCH_UP_S``, with a warning): a worker does not decide on alerts before it knows the standdowns in force. A
record that does not decode is logged with its reason and skipped (the web and the command line only publish
what validates); an empty value (a tombstone) forgets the standdown. A broker that cannot be read is retried
every second, never the worker stopped: until it answers, the worker alerts as the protocols say (the
standdowns it had stay in force), which loses no alert.
"""

from __future__ import annotations

import asyncio
import threading

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from stream.core.standdowns import Standdown

log = structlog.get_logger(__name__)

CATCH_UP_S = 15.0


class StanddownFeed:
    """The standdowns topic, read on a daemon thread into ``current()`` (see the module)."""

    def __init__(self, bootstrap: str, topic: str, fetch_max_wait_ms: int = 50) -> None:
        self.bootstrap, self.topic, self.fetch_max_wait_ms = bootstrap, topic, fetch_max_wait_ms
        self._standdowns: dict[str, Standdown] = {}
        self._current: tuple[Standdown, ...] = ()
        self.caught_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def current(self) -> tuple[Standdown, ...]:
        """The newest version of every standdown read so far (one tuple, replaced whole: safe across threads)."""
        return self._current

    def start(self) -> None:
        """Start reading; return once caught up with the topic (or after ``CATCH_UP_S``)."""
        self._thread = threading.Thread(target=self._run, name="vigil-standdowns", daemon=True)
        self._thread.start()
        if not self.caught_up.wait(CATCH_UP_S):
            log.warning("standdown_feed.not_caught_up", topic=self.topic, after_s=CATCH_UP_S)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading and wait for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic: a standdown's newest version, or a tombstone."""
        if value is None or not value:
            if key is not None:
                self._standdowns.pop(key.decode("utf-8", "replace"), None)
        else:
            try:
                standdown = Standdown.model_validate_json(value)
            except ValueError as exc:
                log.error("standdown_feed.bad_record", key=key.decode("utf-8", "replace") if key else None, reason=str(exc)[:300])
                return
            self._standdowns[standdown.id] = standdown
        self._current = tuple(self._standdowns.values())

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._read()
            except Exception as exc:  # noqa: BLE001 - see the module: retried, the standdowns read so far stay
                log.warning("standdown_feed.read_failed", topic=self.topic, error=f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(1.0)

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=self.fetch_max_wait_ms)
        await consumer.start()
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            self._standdowns.clear()  # read again from the start: the topic is the whole truth
            end = (await consumer.end_offsets([partition]))[partition]
            while not self._stopping.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=200)
                except KafkaError as exc:
                    log.warning("standdown_feed.fetch_failed", error=type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
                for records in batches.values():
                    for record in records:
                        self.apply(record.key, record.value)
                if not self.caught_up.is_set() and await consumer.position(partition) >= end:
                    self.caught_up.set()
        finally:
            await consumer.stop()
