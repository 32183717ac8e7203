"""The worker dies at every point of an evening's inputs (before and after each record it produces, before and
after each state it saves, before each phone it sends to); its successor takes over from what the broker
kept. Afterwards every alert the core decided has reached its phone exactly once.

In-process: topics are lists, the table a dict, the phones a list (tests/stream/runtime/fakes.py). A death
is an exception the agents cannot catch, raised inside a fake at the chosen moment; what survives it is
what 'the broker' has: the records taken, the table's values, the records acked.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from notifiers.dispatch import pipeline
from notifiers.redelivery import RedeliveryPolicy
from stream.core.state import Config
from stream.feeds.ingest import ingest_cad
from stream.model.events import AckMessage, CoreInput, ShootingEvent
from stream.model.timeline import AlertDelivered
from stream.ops.metrics import WorkerMetrics
from stream.runtime.activation import ActivationAgent
from stream.runtime.clocks import AgentClock
from stream.runtime.dispatch import DispatchAgent
from stream.runtime.outputs import DeadLetters, OutputPolicy
from stream.runtime.records import Received
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, shooting
from tests.stream.runtime.fakes import Died, DyingTable, FakeTopic, Phones, stop

T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)  # Saturday 22:04 in Minneapolis
QUICK = OutputPolicy(attempts=2, base_delay_s=0.0)


def evening(deployment) -> list[tuple[datetime, Received]]:
    """Three shootings, an answer, and the tick that fires the escalations due."""

    def shot(incident: str, where: tuple[float, float], at: datetime) -> tuple[datetime, Received]:
        event = ingest_cad(shooting(incident, where, updated_at=at.isoformat()), deployment.classification, at)
        assert isinstance(event, ShootingEvent)
        return at, Received(CoreInput(type="event", event=event).model_dump_json().encode())

    ack = AckMessage(ref="C-1", team="vi-north-nearnorth", response="on_my_way")
    return [
        shot("C-1", JORDAN, T0),
        shot("C-2", MIDTOWN_PHILLIPS, T0 + timedelta(minutes=1)),
        (T0 + timedelta(minutes=3), Received(CoreInput(type="ack", ack=ack).model_dump_json().encode())),
        shot("C-3", HIAWATHA, T0 + timedelta(minutes=4)),
        (T0 + timedelta(minutes=12), Received(CoreInput(type="tick").model_dump_json().encode())),
    ]


class Worker:
    """The activation agent over surviving fakes; a new one after each death."""

    def __init__(self, deployment, table: dict, intents: FakeTopic, timeline: FakeTopic) -> None:
        self.deployment, self.table, self.intents, self.timeline = deployment, table, intents, timeline
        self.config = Config(deployment.coverage, deployment.protocols)
        self.moment = T0

    def agent(self) -> ActivationAgent:
        metrics = WorkerMetrics(CollectorRegistry())
        return ActivationAgent(self.table, self.intents, self.timeline, DeadLetters(FakeTopic("dlq"), metrics.feeds), self.config,
                               self.deployment.jurisdiction, metrics, AgentClock(lambda: self.moment), QUICK, stop)

    async def run(self, inputs: list[tuple[datetime, Received]]) -> int:
        """Every input handled (acked); an input whose handling died is read again by a successor. Returns the deaths."""
        agent, deaths, i = self.agent(), 0, 0
        while i < len(inputs):
            self.moment, record = inputs[i]
            try:
                await agent.handle(record)
            except Died:
                deaths, agent = deaths + 1, self.agent()
                continue
            i += 1
        return deaths


async def deliver(records: list[Received], phones: Phones, log: dict[str, str], outcomes: FakeTopic | None = None,
                  timeline: FakeTopic | None = None) -> int:
    """Dispatch every intent record; a dispatcher that dies is succeeded by one that re-reads from the first
    unacked record (Faust commits up to there). Returns the deaths."""
    deaths, start = 0, 0
    while True:
        acked: set[int] = set()
        died: list[BaseException] = []
        metrics = WorkerMetrics(CollectorRegistry())
        stages = pipeline(log, phones, FakeTopic("intents"), outcomes or FakeTopic("outcomes"), timeline or FakeTopic("timeline"),
                          RedeliveryPolicy())

        async def ack(record: Received, _acked: set[int] = acked) -> None:
            _acked.add(id(record))

        agent = DispatchAgent(log, stages, DeadLetters(FakeTopic("dlq"), metrics.feeds), metrics, AgentClock(lambda: T0), ack,
                              policy=QUICK, stop=stop)
        for record in records[start:]:
            await agent.receive(record)
        for task in list(agent.in_flight.values()):
            try:
                await task
            except Died as death:
                died.append(death)
        await asyncio.sleep(0.01)  # the acks of duplicates, which wait for their first copy's delivery
        unacked = [n for n, record in enumerate(records) if n >= start and id(record) not in acked]
        if not died and not unacked:
            return deaths
        deaths += 1
        start = unacked[0]


async def alerts_after(deployment, intents: FakeTopic | None = None, timeline: FakeTopic | None = None,
                       table: dict | None = None, phones: Phones | None = None) -> tuple[Counter, int]:
    """Run the evening through the activation agent and dispatch; the phones' alerts and the deaths."""
    intents, timeline = intents or FakeTopic("intents"), timeline or FakeTopic("timeline")
    worker = Worker(deployment, {} if table is None else table, intents, timeline)
    deaths = await worker.run(evening(deployment))
    phones = phones or Phones()
    deaths += await deliver(intents.received(), phones, {})
    return Counter(phones.got), deaths


# what the evening produces (its ack: 2 answers updates; 2 family-contact tasks, F2, of the street teams told): every
# one of them is a point to die at
INTENTS, TIMELINE_RECORDS, SAVES = 9, 18, 5


@pytest.fixture
async def predicted(deployment) -> Counter:
    intents, timeline, table = FakeTopic("intents"), FakeTopic("timeline"), DyingTable()
    alerts, deaths = await alerts_after(deployment, intents, timeline, table)
    assert (intents.sends, timeline.sends, table.writes) == (INTENTS, TIMELINE_RECORDS, SAVES)
    assert deaths == 0 and len(alerts) == INTENTS and set(alerts.values()) == {1}
    return alerts


@pytest.mark.parametrize("at", range(1, INTENTS + 1))
async def test_dying_at_each_intent_sent(deployment, predicted, at: int) -> None:
    alerts, deaths = await alerts_after(deployment, intents=FakeTopic("intents", die_at=at))
    assert deaths == 1 and alerts == predicted


@pytest.mark.parametrize("at", range(1, TIMELINE_RECORDS + 1))
async def test_dying_at_each_timeline_record_sent(deployment, predicted, at: int) -> None:
    alerts, deaths = await alerts_after(deployment, timeline=FakeTopic("timeline", die_at=at))
    assert deaths == 1 and alerts == predicted


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", range(1, SAVES + 1))
async def test_dying_at_each_state_saved(deployment, predicted, at: int, after: bool) -> None:
    alerts, deaths = await alerts_after(deployment, table=DyingTable(die_at=at, after=after))
    assert deaths == 1 and alerts == predicted


class DyingPhones(Phones):
    """Phones whose gateway call kills the worker at the ``die_at``-th send, before any phone gets it."""

    def __init__(self, die_at: int) -> None:
        super().__init__()
        self.die_at, self.sends = die_at, 0

    async def send(self, intent):
        self.sends += 1
        if self.sends == self.die_at:
            raise Died(f"send {self.sends}")
        return await super().send(intent)


@pytest.mark.parametrize("at", range(1, INTENTS + 1))
async def test_dying_at_each_send_to_a_gateway(deployment, predicted, at: int) -> None:
    alerts, deaths = await alerts_after(deployment, phones=DyingPhones(at))
    assert deaths == 1 and alerts == predicted


@pytest.mark.parametrize("at", range(1, INTENTS + 1))
async def test_dying_after_a_phone_got_its_alert_sends_it_again_and_records_it(deployment, predicted, at: int) -> None:
    # the one point where exactly once cannot hold: the phone has the alert, the log does not say so yet.
    # The log is written last, so the alert goes again (at least once) and its delivery is recorded; the
    # other order would keep "sent" in the log and lose the delivery record.
    intents = FakeTopic("intents")
    await Worker(deployment, {}, intents, FakeTopic("timeline")).run(evening(deployment))
    phones, outcomes, timeline = Phones(), FakeTopic("outcomes", die_at=at), FakeTopic("timeline")
    deaths = await deliver(intents.received(), phones, {}, outcomes, timeline)
    alerts = Counter(phones.got)
    assert deaths == 1 and set(alerts) == set(predicted) and sorted(alerts.values()) == [1] * (INTENTS - 1) + [2]
    recorded = {AlertDelivered.model_validate_json(v).intent_id for v in timeline.values()}
    assert recorded == {intent_id for _, intent_id in predicted}
