"""Deadlines survive a worker's death: a worker SIGKILLed between an alert and its deadline, and its
successor fires the escalation once. And an ack on the acks topic stops an escalation.

The workers' clocks start on a Saturday evening and run 120 times faster than real time, so a 10-minute
ack deadline passes in 5 seconds. The tests wait for progress, never a fixed time: a witness (another
shooting whose deadline comes later) shows when something that should not happen would have happened.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from notifiers.apprise_adapter import write_contacts
from reviews.store import ReviewStore
from stream.core.activations import activation_id_for
from stream.devtools.processes import WorkerProcess
from stream.ops.kafka import Topics, ensure_topics
from tests.helpers import Inbox, as_bytes, shooting

pytestmark = pytest.mark.integration

CLOCK_START = "2026-07-04T22:00:00-05:00"
RATE = 120.0
JORDAN = (45.0003, -93.3001)
POWDERHORN = (44.9405, -93.2530)
MIDTOWN_PHILLIPS = (44.9530, -93.2600)


async def _send(bootstrap: str, topic: str, value: bytes, key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _escalations(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["recipient"] == "dns-oncall-lead" and "ESCALATION" in m["body"]]


@pytest.fixture
def setup(kafka_bootstrap, tmp_path, deployment):
    inbox = Inbox(tmp_path)
    contacts = tmp_path / "contacts.yaml"
    write_contacts(contacts, {t: [f"json://127.0.0.1:{inbox.port}/phone/{t}-lead"] for t in deployment.coverage.teams})
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"dur{run}.")

    workers: list[WorkerProcess] = []

    def worker(name: str, table_store: str = "memory://", clock_start: str = CLOCK_START, clock_rate: float = RATE) -> WorkerProcess:
        """A worker of this test's deployment, started and ready (killed at the end)."""
        started = WorkerProcess(kafka_bootstrap, contacts, f"sqlite:///{tmp_path / 'review.sqlite'}", tmp_path, name=name,
                                app_id=f"vigil-dur-{run}", topic_prefix=topics.prefix, clock_start=clock_start, clock_rate=clock_rate,
                                table_store=table_store)
        workers.append(started)
        started.start()
        started.wait_ready()
        return started

    yield kafka_bootstrap, topics, inbox, worker, workers, tmp_path / "review.sqlite"
    for w in workers:
        w.kill()
    inbox.stop()


@pytest.mark.parametrize(("table_store", "successor"), [
    ("memory://", "second"),  # another worker takes over, from the changelog alone
    ("rocksdb://", "first"),  # the same worker restarts on its own RocksDB folder, and the changelog's tail
])
async def test_a_killed_workers_deadline_still_escalates_once(setup, table_store: str, successor: str) -> None:
    bootstrap, topics, inbox, worker, workers, _ = setup
    await ensure_topics(bootstrap, topics)
    first = worker("first", table_store)
    await _send(bootstrap, topics.cad, as_bytes(shooting("DUR-1", JORDAN)), b"DUR-1")
    alerts = inbox.wait(lambda m: len(m) >= 2, timeout=30)
    assert sorted(m["recipient"] for m in alerts) == ["gvi-outreach-lead", "vi-north-nearnorth-lead"]
    time.sleep(1.0)  # let the state's changelog record be written
    first.kill()  # SIGKILL: between the alert and its deadline (10 simulated minutes away)
    assert _escalations(inbox.messages()) == []

    worker(successor, table_store)
    found = inbox.wait(lambda m: len(_escalations(m)) >= 1, timeout=60)
    # a witness: a later shooting's own escalation; a second escalation of the first would have come before it
    await _send(bootstrap, topics.cad, as_bytes(shooting("DUR-1W", MIDTOWN_PHILLIPS)), b"DUR-1W")
    inbox.wait(lambda m: any("vi-south-phillips has not acknowledged" in e["body"] for e in _escalations(m)), timeout=60)
    escalations = [e for e in _escalations(inbox.messages()) if "vi-north-nearnorth" in e["body"]]
    assert len(escalations) == 1, escalations
    assert "vi-north-nearnorth has not acknowledged" in escalations[0]["body"]
    assert len(found) >= 3
    if table_store.startswith("rocksdb"):  # the state really was in RocksDB files in the worker's folder
        assert list((first.workdir / "first-data").rglob("CURRENT")), "no RocksDB database in the data folder"


async def test_an_ack_on_the_acks_topic_stops_the_escalation(setup) -> None:
    bootstrap, topics, inbox, worker, workers, _ = setup
    await ensure_topics(bootstrap, topics)
    worker("only")
    await _send(bootstrap, topics.cad, as_bytes(shooting("DUR-2", POWDERHORN)), b"DUR-2")
    inbox.wait(lambda m: len(m) >= 2, timeout=30)
    await _send(bootstrap, topics.acks, json.dumps({"ref": "DUR-2", "team": "vi-south-powderhorn"}).encode(), b"DUR-2")
    # a witness whose deadline comes after DUR-2's: once its escalation is in, DUR-2's would have been too
    await _send(bootstrap, topics.cad, as_bytes(shooting("DUR-2W", MIDTOWN_PHILLIPS)), b"DUR-2W")
    messages = inbox.wait(lambda m: len(_escalations(m)) >= 1, timeout=60)
    assert ["vi-south-phillips has not acknowledged" in e["body"] for e in _escalations(messages)] == [True]
    updates = [m for m in messages if m["title"].startswith("VIGIL: who is going")]
    alerts = sorted(m["recipient"] for m in messages if m not in _escalations(messages) and m not in updates)
    assert alerts == ["gvi-outreach-lead", "gvi-outreach-lead", "vi-south-phillips-lead", "vi-south-powderhorn-lead"]
    # 30 s after the ack, both teams told of DUR-2 heard who answered (its escalation came before the witness's)
    assert sorted(m["recipient"] for m in updates) == ["gvi-outreach-lead", "vi-south-powderhorn-lead"]
    assert all("vi-south-powderhorn: acknowledged" in m["body"] for m in updates)


def _follow_ups(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    reminders = [m for m in messages if m["title"].startswith("VIGIL follow-up: family contact")]
    overdue = [m for m in messages if m["title"].startswith("VIGIL on-call: follow-up overdue")]
    return reminders, overdue


async def test_a_task_survives_two_worker_deaths_made_once_reminded_once_told_overdue_once(setup) -> None:
    """F2 through real workers and a real broker: the family contact made by the first worker (killed after the alert),
    reminded by the second at 46 h (killed after the reminder), told overdue by the third at 48 h; each once. Each
    successor's clock starts just before the moment it is there for (the state's timers are absolute moments), so
    two days pass in seconds; a successor that made the task again (from a re-read report) would make it due 48 h
    after its own clock's notification, another task, and one that forgot the reminder was sent would send it again
    on starting, before the overdue notice the test waits for."""
    bootstrap, topics, inbox, worker, workers, review = setup
    await ensure_topics(bootstrap, topics)
    first = worker("first", clock_rate=1.0)  # real time: the alert goes at 22:00 on its clock
    await _send(bootstrap, topics.cad, as_bytes(shooting("DUR-4", JORDAN)), b"DUR-4")
    inbox.wait(lambda m: len(m) >= 2, timeout=30)
    time.sleep(1.0)  # the state's changelog record
    first.kill()

    # the alert went at 22:00 Saturday: the reminder is due Monday 20:00, the task Monday 22:00
    second = worker("second", clock_start="2026-07-06T19:55:00-05:00", clock_rate=60.0)
    reminders, _ = _follow_ups(inbox.wait(lambda m: _follow_ups(m)[0], timeout=60))
    assert [m["recipient"] for m in reminders] == ["vi-north-nearnorth-lead"]
    time.sleep(1.5)  # the state's changelog record (the overdue notice is still 2 hours, 2 minutes here, away)
    second.kill()

    worker("third", clock_start="2026-07-06T21:58:00-05:00", clock_rate=60.0)
    messages = inbox.wait(lambda m: _follow_ups(m)[1], timeout=60)
    time.sleep(2.0)  # a second notice (or a reminder again) of a successor would be here by now
    reminders, overdue = _follow_ups(inbox.messages())
    assert [m["recipient"] for m in reminders] == ["vi-north-nearnorth-lead"], reminders
    assert [m["recipient"] for m in overdue] == ["dns-oncall-lead"], overdue
    assert "vi-north-nearnorth's family contact" in overdue[0]["body"] and "was due Mon 06 Jul 22:00" in overdue[0]["body"]
    assert messages
    store = ReviewStore(f"sqlite:///{review}")
    try:
        activation = activation_id_for("minneapolis", "eido", "DUR-4")
        kinds = [r.kind for r in store.records(activation)]
        assert kinds.count("task") == 1 and kinds.count("task_overdue") == 1, kinds
    finally:
        store.dispose()
