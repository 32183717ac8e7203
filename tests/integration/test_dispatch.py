"""A slow phone holds up no other team's alert: delivery runs one task per intent in a real worker.

The Near North street team's phone answers only after 6 s (the inbox's ``--slow`` drill, like an SMS
gateway that takes its time). A shooting in Jordan alerts that team and GVI outreach; 0.2 s later one in
Midtown Phillips alerts the Phillips street team and GVI outreach. The Phillips team must not wait behind
Near North's phone.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer

from notifiers.apprise_adapter import write_contacts
from reviews.store import ReviewStore
from stream.core.activations import activation_id_for
from stream.devtools.processes import WorkerProcess
from stream.ops.kafka import Topics, ensure_topics
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, Inbox, as_bytes, shooting

pytestmark = pytest.mark.integration

CLOCK_START = "2026-07-04T22:00:00-05:00"  # a Saturday evening: the street teams are on shift
SLOW_PHONE = "vi-north-nearnorth-lead"
SLOW_S = 6.0
# The longest a delivery may take here: the slow phone's hold, and retries had it timed out
SETTLE_S = 30.0


@dataclass
class Scenario:
    """What one run of the two shootings left behind."""

    jordan_produced_at: float  # wall clock, as the inbox's received_at
    phillips_produced_at: float
    jordan: str  # activation ids
    phillips: str
    messages: list[dict]
    deliveries: list[tuple[str, str]]  # (team, status) recorded for the Jordan activation


async def _produce(bootstrap: str, topic: str, docs: list[tuple[str, bytes]], gap_s: float) -> list[float]:
    """Send the documents ``gap_s`` apart; returns the wall-clock moment each send began."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sent_at = []
        for n, (key, value) in enumerate(docs):
            if n:
                await asyncio.sleep(gap_s)
            sent_at.append(time.time())
            await producer.send_and_wait(topic, value, key=key.encode())
        return sent_at
    finally:
        await producer.stop()


def _recorded_deliveries(store: ReviewStore, activation: str, want: int, timeout: float) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    found: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        found = sorted((r.team, r.status) for r in store.records(activation) if r.kind == "delivery")
        if len(found) >= want:
            break
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def scenario(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, deployment) -> Iterator[Scenario]:
    """A worker and an inbox with Near North's phone slow; both shootings produced; everything settled."""
    workdir = tmp_path_factory.mktemp("dispatch")
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"disp{run}.")
    db_url = f"sqlite:///{workdir / 'review.sqlite'}"
    inbox = Inbox(workdir, slow={SLOW_PHONE: SLOW_S})
    worker = None
    try:
        contacts = workdir / "contacts.yaml"
        write_contacts(contacts, {team: [f"json://127.0.0.1:{inbox.port}/phone/{team}-lead"] for team in deployment.coverage.teams})
        asyncio.run(ensure_topics(kafka_bootstrap, topics))
        worker = WorkerProcess(kafka_bootstrap, contacts, db_url, workdir, app_id=f"vigil-disp-{run}", topic_prefix=topics.prefix,
                               clock_start=CLOCK_START)
        worker.start()
        worker.wait_ready()
        docs = [("DISP-JORDAN", as_bytes(shooting("DISP-JORDAN", JORDAN))), ("DISP-PHILLIPS", as_bytes(shooting("DISP-PHILLIPS", MIDTOWN_PHILLIPS)))]
        jordan_at, phillips_at = asyncio.run(_produce(kafka_bootstrap, topics.cad, docs, gap_s=0.2))
        jordan, phillips = (activation_id_for("minneapolis", "eido", incident) for incident in ("DISP-JORDAN", "DISP-PHILLIPS"))
        # a delivery is recorded once all its sends (retries included) are done: a duplicate would be in the inbox by then
        _recorded_deliveries(ReviewStore(db_url), phillips, want=2, timeout=SETTLE_S)
        deliveries = _recorded_deliveries(ReviewStore(db_url), jordan, want=2, timeout=SETTLE_S)
        yield Scenario(jordan_at, phillips_at, jordan, phillips, inbox.messages(), deliveries)
    finally:
        if worker is not None:
            worker.stop()
        inbox.stop()


def _alerts(scenario: Scenario) -> Counter[tuple[str, str]]:
    """(recipient, activation) of each message, counted."""
    refs = {scenario.jordan: "jordan", scenario.phillips: "phillips"}
    return Counter((m["recipient"], name) for m in scenario.messages for act, name in refs.items() if f"Ref {act}" in m["body"])


def test_a_slow_phone_holds_up_no_other_teams_alert(scenario: Scenario) -> None:
    by_recipient = {}
    for message in scenario.messages:
        by_recipient.setdefault(message["recipient"], []).append(message)
    phillips_team = by_recipient["vi-south-phillips-lead"][0]
    slow = by_recipient[SLOW_PHONE][0]
    assert phillips_team["received_at"] - scenario.phillips_produced_at < 3.0
    # the slow phone's alert was dispatched first, yet was still held when the Phillips team had theirs
    assert slow["received_at"] - scenario.jordan_produced_at >= SLOW_S
    assert phillips_team["received_at"] < slow["received_at"] - 2.0
    alerts = _alerts(scenario)
    assert sum(alerts.values()) == len(scenario.messages)  # nothing unexpected, about another activation or none
    assert set(alerts) == {(SLOW_PHONE, "jordan"), ("gvi-outreach-lead", "jordan"),
                           ("vi-south-phillips-lead", "phillips"), ("gvi-outreach-lead", "phillips")}
    # every alert but the slow phone's (see the next test) arrived exactly once
    assert {key: n for key, n in alerts.items() if key[0] != SLOW_PHONE} == {
        ("gvi-outreach-lead", "jordan"): 1, ("vi-south-phillips-lead", "phillips"): 1, ("gvi-outreach-lead", "phillips"): 1}


def test_the_slow_phone_gets_its_alert_exactly_once_and_it_is_recorded_as_delivered(scenario: Scenario) -> None:
    assert _alerts(scenario)[(SLOW_PHONE, "jordan")] == 1
    assert scenario.deliveries == [("gvi-outreach", "delivered"), ("vi-north-nearnorth", "delivered")]
