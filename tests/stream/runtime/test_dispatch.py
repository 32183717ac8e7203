"""The dispatch agent and its stages in-process: a dict for the dispatch log, lists for topics and phones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from notifiers.dispatch import pipeline
from notifiers.redelivery import Redelivery, RedeliveryPolicy
from stream.model.events import DeadLetter, NotificationIntent
from stream.model.timeline import AlertDelivered
from stream.ops.metrics import WorkerMetrics
from stream.runtime.clocks import AgentClock
from stream.runtime.dispatch import DispatchAgent
from stream.runtime.outputs import DeadLetters, OutputPolicy
from stream.runtime.records import Received
from tests.stream.runtime.fakes import FakeTopic, Halted, Phones, stop

T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)
QUICK = OutputPolicy(attempts=2, base_delay_s=0.0)
SOON = RedeliveryPolicy(delays_s=(0.0,), max_delay_s=0.0, jitter=0.0)


def intent(n: int = 1) -> bytes:
    return NotificationIntent(intent_id=f"int-{n}", activation_id="act-1", team="vi-central", protocol="P2", step="initial",
                              title="VIGIL", body="Person shot", created_at=T0).model_dump_json().encode()


class Rig:
    def __init__(self, phones: Phones, **topics: FakeTopic) -> None:
        self.log: dict[str, str] = {}
        self.phones = phones
        self.intents = topics.get("intents", FakeTopic("intents"))
        self.timeline = topics.get("timeline", FakeTopic("timeline"))
        self.dlq = FakeTopic("dlq")
        self.acked: list[Received] = []
        metrics = WorkerMetrics(CollectorRegistry())
        stages = pipeline(self.log, phones, self.intents, FakeTopic("outcomes"), self.timeline, SOON)

        async def ack(record: Received) -> None:
            self.acked.append(record)

        self.agent = DispatchAgent(self.log, stages, DeadLetters(self.dlq, metrics.feeds), metrics, AgentClock(lambda: T0), ack,
                                   policy=QUICK, stop=stop)

    async def feed(self, *records: Received) -> None:
        for record in records:
            await self.agent.receive(record)
        while self.agent.in_flight:
            await asyncio.gather(*self.agent.in_flight.values())
        await asyncio.sleep(0.01)


async def test_an_intent_is_sent_once_however_often_it_is_read() -> None:
    rig = Rig(Phones())
    first, again = Received(intent()), Received(intent())
    await rig.feed(first, again)
    await rig.feed(Received(intent()))  # re-read after a restart: the log already has it
    assert rig.phones.got == [("vi-central", "int-1")] and len(rig.acked) == 3
    delivered = AlertDelivered.model_validate_json(rig.timeline.values()[0])
    assert (delivered.status, rig.log) == ("delivered", {"int-1": "delivered"})


async def test_an_intent_that_reached_nobody_is_redelivered_through_its_topic() -> None:
    rig = Rig(Phones(unreachable=1))
    await rig.feed(Received(intent()))
    assert rig.phones.got == [] and rig.log == {"int-1": "retrying:1"} and rig.timeline.records == []
    [again] = rig.intents.received()
    assert Redelivery.of(again).attempt == 1
    await rig.feed(again, Received(intent()))  # the redelivery, and a stale copy of the first record
    assert rig.phones.got == [("vi-central", "int-1")] and rig.log == {"int-1": "delivered"}


async def test_a_redelivery_the_broker_does_not_take_stops_the_worker_before_the_log_waits_for_it() -> None:
    rig = Rig(Phones(unreachable=1), intents=FakeTopic("intents", refuse_always=True))
    with pytest.raises(Halted):
        await rig.feed(Received(intent()))
    assert rig.log == {} and rig.acked == []  # read again by the successor, which sends it


async def test_a_delivery_record_the_broker_does_not_take_stops_the_worker_before_the_log_says_sent() -> None:
    rig = Rig(Phones(), timeline=FakeTopic("timeline", refuse_always=True))
    with pytest.raises(Halted):
        await rig.feed(Received(intent()))
    assert rig.log == {} and rig.acked == []


async def test_an_intent_that_does_not_decode_is_dead_lettered_and_acked() -> None:
    rig = Rig(Phones())
    await rig.feed(Received(b"{}"))
    assert DeadLetter.model_validate_json(rig.dlq.values()[0]).reason == "dispatch_failed" and len(rig.acked) == 1


class HeldPhones(Phones):
    """Phones behind a rate limit that holds every send until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.held: set[str] = set()

    def waiting(self, intent_id: str) -> bool:
        return intent_id in self.held

    async def send(self, intent):
        self.held.add(intent.intent_id)
        try:
            await self.release.wait()
        finally:
            self.held.discard(intent.intent_id)
        return await super().send(intent)


async def test_a_revoke_abandons_deliveries_that_reached_no_phone_and_acks_them_uncommitted() -> None:
    rig = Rig(HeldPhones())
    rig.agent.pipeline = pipeline(rig.log, rig.phones, rig.intents, FakeTopic("outcomes"), rig.timeline, SOON)
    await rig.agent.receive(Received(intent(1)))
    await asyncio.sleep(0.01)  # the delivery is under way, held by the rate limit
    await rig.agent.finish(timeout=1.0)
    assert rig.phones.got == [] and rig.log == {} and len(rig.acked) == 1 and rig.agent.in_flight == {}
    # the partition's next owner reads the record again and sends it
    successor = Rig(Phones())
    await successor.feed(Received(intent(1)))
    assert successor.phones.got == [("vi-central", "int-1")]


async def test_a_revoke_waits_for_a_delivery_that_may_have_reached_a_phone() -> None:
    phones = HeldPhones()
    rig = Rig(phones)
    rig.agent.pipeline = pipeline(rig.log, phones, rig.intents, FakeTopic("outcomes"), rig.timeline, SOON)
    await rig.agent.receive(Received(intent(2)))
    await asyncio.sleep(0.01)
    phones.held.clear()  # its post has begun: a phone may have it
    finishing = asyncio.create_task(rig.agent.finish(timeout=5.0))
    await asyncio.sleep(0.05)
    phones.release.set()
    await finishing
    assert phones.got == [("vi-central", "int-2")] and rig.log == {"int-2": "delivered"}
