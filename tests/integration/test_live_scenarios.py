"""Every scenario file (P1-P7, updates, acks, correlation, borders, daylight saving) through the real
broker and two real workers sharing the partitions, on stream time: the phones receive exactly what
`vigil replay` predicts for the same inputs (same teams, same rules, same steps, same messages), once.

See stream/devtools/drill.py for how the scenarios are laid out in time and fed.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from notifiers.apprise_adapter import write_contacts
from stream.devtools.drill import LiveDriver, load_scenarios, place
from stream.devtools.processes import WorkerProcess
from stream.model.events import NotificationIntent
from stream.ops.kafka import Topics, ensure_topics
from tests.helpers import Inbox

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).parents[2] / "rules" / "minneapolis" / "scenarios"
ANSWER_LINE = re.compile(r"\n(?:Answer|Close it): (\S+)$")  # an alert's answer link, a follow-up notice's task link


async def read_all(bootstrap: str, topic: str, quiet_ms: int = 1500) -> list[bytes]:
    """Every record on a topic, read until nothing new comes for ``quiet_ms``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[bytes] = []
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=quiet_ms)
            if not batches:
                return out
            out += [m.value for records in batches.values() for m in records]
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def two_workers(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, deployment):
    """An inbox and two stream-time workers of one app, on topics of their own."""
    workdir: Path = tmp_path_factory.mktemp("live-scenarios")
    inbox = Inbox(workdir)
    contacts = workdir / "contacts.yaml"
    write_contacts(contacts, {team: [f"json://127.0.0.1:{inbox.port}/phone/{team}-lead"] for team in deployment.coverage.teams})
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"live{run}.")
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    db_url = f"sqlite:///{workdir / 'review.sqlite'}"
    workers = [WorkerProcess(kafka_bootstrap, contacts, db_url, workdir, name=f"worker-{n}", app_id=f"vigil-live-{run}",
                             topic_prefix=topics.prefix, stream_time=True, ack_secret="live-scenarios-ack-secret")
               for n in (1, 2)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        yield topics, inbox, workers
    finally:
        for worker in workers:
            worker.stop()
        inbox.stop()


def test_every_scenario_reaches_the_phones_as_replay_predicts(two_workers, kafka_bootstrap: str, deployment) -> None:
    topics, inbox, workers = two_workers
    placed = place(load_scenarios(SCENARIOS), deployment)
    predicted = [intent for p in placed for intent in p.predicted]
    assert len(placed) >= 70 and len(predicted) >= 150  # the drill covers the scenario folder

    async def drive() -> None:
        driver = LiveDriver(kafka_bootstrap, topics, deployment)
        await driver.start()
        try:
            for scenario in placed:
                await driver.run(scenario)
        finally:
            await driver.stop()

    started = time.monotonic()
    asyncio.run(drive())
    messages = inbox.wait(lambda found: len(found) >= len(predicted), timeout=120)
    time.sleep(2.0)  # anything sent twice would arrive now
    messages = inbox.messages()
    drive_s = time.monotonic() - started

    # the decisions: exactly the predicted intents (deterministic ids), each made once
    made = [NotificationIntent.model_validate_json(raw) for raw in asyncio.run(read_all(kafka_bootstrap, topics.intents))]
    made_ids = Counter(i.intent_id for i in made)
    assert {i for i, n in made_ids.items() if n > 1} == set(), "an intent was decided twice"
    by_id = {i.intent_id: i for i in made}
    assert set(by_id) == {i.intent_id for i in predicted}
    for expected in predicted:
        got = by_id[expected.intent_id]
        assert (got.team, got.protocol, got.step, got.created_at, got.flags) == (
            expected.team, expected.protocol, expected.step, expected.created_at, expected.flags), expected.intent_id

    # the phones: each predicted message once, to its team, with its own ack link
    received = Counter()
    for message in messages:
        body, links = ANSWER_LINE.subn("", message["body"])
        assert links == 1, f"no ack link in {message['body']!r}"
        received[(message["recipient"].removesuffix("-lead"), message["title"], body)] += 1
    wanted = Counter((i.team, i.title, i.body) for i in predicted)
    assert received == wanted, f"missing: {wanted - received}; unexpected: {received - wanted}"

    # both workers delivered alerts: the intents' partitions are shared
    for worker in workers:
        sent = [line for line in worker.log_path.read_text().splitlines() if '"event": "notify.sent"' in line]
        assert sent, f"{worker.name} delivered nothing: {worker.log_tail()}"
    print(f"{len(placed)} scenarios, {len(predicted)} alerts through two workers in {drive_s:.1f} s")
