"""The review sink's writer against a real PostgreSQL that goes away (through a proxy we cut): records wait,
unacked, and are stored once when the database returns; a rebalance gets them handed back at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import make_url

from load_tests.chaos_proxy import CuttableProxy
from reviews.store import ReviewStore
from stream.model.timeline import AlertDelivered, RecipientResult
from stream.runtime.review_sink import StoreBackoff, TimelineWriter


def _record(n: int) -> AlertDelivered:
    return AlertDelivered(entry_id=f"tl-sink-{n}", activation_id="act-sink", at=datetime(2026, 7, 5, 3, n, tzinfo=UTC), intent_id=f"int-{n}",
                          team="vi-central", status="delivered", recipients=(RecipientResult(recipient="json://x", status="delivered", elapsed_ms=1.0),))


@pytest.fixture
def through_proxy(postgres_url):
    """A store reached through a proxy the test can cut; and a store reached directly."""
    url = make_url(postgres_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    port = proxy.start()
    store = ReviewStore(url.set(port=port).render_as_string(hide_password=False))
    store.create_schema()
    direct = ReviewStore(postgres_url)
    yield proxy, store, direct
    store.dispose()
    direct.dispose()
    proxy.stop()


async def test_records_wait_through_an_outage_and_are_stored_once(through_proxy) -> None:
    proxy, store, direct = through_proxy
    acked: list[int] = []

    async def ack(event: int) -> None:
        acked.append(event)

    async def never(event: int) -> None:
        raise AssertionError("nothing is handed back while the consumer flows")

    writer = TimelineWriter(store, ack=ack, hand_back=never, flowing=lambda: True, backoff=StoreBackoff(base_s=0.1, max_s=0.3), seed=1)
    await writer.write([(1, _record(1)), (2, None)])  # a record that did not decode is acked at once
    assert sorted(acked) == [1, 2]
    proxy.cut()
    await writer.write([(3, _record(3)), (4, _record(4))])
    assert writer.outage and sorted(acked) == [1, 2]  # returned at once, nothing acked while the database is away
    await writer.write([(5, _record(5)), (1, _record(1))])  # the sink goes on taking records; one is a re-read
    await asyncio.sleep(1.0)
    assert sorted(acked) == [1, 2] and len(writer.waiting) == 4
    proxy.restore()
    for _ in range(100):
        if not writer.outage:
            break
        await asyncio.sleep(0.1)
    assert not writer.outage and sorted(acked) == [1, 1, 2, 3, 4, 5]
    assert sorted(r.entry_id for r in direct.records()) == ["tl-sink-1", "tl-sink-3", "tl-sink-4", "tl-sink-5"]


async def test_a_rebalance_during_the_outage_hands_the_records_back(through_proxy) -> None:
    proxy, store, direct = through_proxy
    acked: list[int] = []
    handed: list[int] = []
    flowing = [True]

    async def ack(event: int) -> None:
        acked.append(event)

    async def hand_back(event: int) -> None:
        assert event not in acked, "a record is acked only once it is back on the topic"
        handed.append(event)

    writer = TimelineWriter(store, ack=ack, hand_back=hand_back, flowing=lambda: flowing[0], backoff=StoreBackoff(base_s=5.0, max_s=5.0))
    proxy.cut()
    await writer.write([(1, _record(1)), (2, _record(2))])
    flowing[0] = False  # Faust suspends the flow: partitions are being revoked
    for _ in range(20):
        if not writer.outage:
            break
        await asyncio.sleep(0.1)
    assert handed == [1, 2] and acked == [1, 2] and writer.waiting == []
    proxy.restore()
    assert direct.count() == 0
