"""The standdowns feed on the real broker: a worker reads the compacted topic whole, keeps the newest version of
each standdown, forgets a tombstoned one, and skips a record that does not decode (logged with its reason)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from stream.core.standdowns import Standdown
from stream.ops.kafka import Topics, ensure_topics
from stream.runtime.standdown_feed import StanddownFeed

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)


def standdown(sid: str, **more) -> Standdown:
    return Standdown(id=sid, team="vi-central", reason="training", by="dns1", created_at=T0, starts=T0, ends=T0 + timedelta(hours=2),
                     **more)


async def _publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the feed did not catch up")


def test_a_worker_reads_the_standdowns_whole_and_keeps_the_newest_of_each(kafka_bootstrap: str) -> None:
    topics = Topics(f"sdfeed-{uuid.uuid4().hex[:8]}.")
    asyncio.run(ensure_topics(kafka_bootstrap, topics, partitions=1))
    first, second = standdown("sd-a"), standdown("sd-b")
    asyncio.run(_publish(kafka_bootstrap, topics.standdowns, [(b"sd-a", first.model_dump_json().encode()),
                                                                (b"sd-b", second.model_dump_json().encode()),
                                                                (b"sd-bad", b'{"id": "sd-bad"}')]))
    feed = StanddownFeed(kafka_bootstrap, topics.standdowns)
    feed.start()  # returns once caught up: what was published before the worker started is in force at once
    try:
        assert {s.id for s in feed.current()} == {"sd-a", "sd-b"}  # the bad record is skipped, not fatal
        ended = first.model_copy(update={"ended_at": T0 + timedelta(minutes=5), "ended_by": "dns2"})
        asyncio.run(_publish(kafka_bootstrap, topics.standdowns, [(b"sd-a", ended.model_dump_json().encode()), (b"sd-b", None)]))
        _wait_for(lambda: {s.id: s.ended_at for s in feed.current()} == {"sd-a": T0 + timedelta(minutes=5)})
    finally:
        feed.stop()
