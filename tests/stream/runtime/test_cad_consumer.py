"""The CAD consumer on the real broker: batches read, shootings on the events topic, offsets committed only
after; a new group starts where the worker's Faust group left off; a batch the broker will not take is
never committed."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from stream.model.events import CoreInput
from stream.ops.kafka import Topics, ensure_topics
from stream.ops.metrics import WorkerMetrics
from stream.runtime.cad_consumer import CadConsumer, CadConsumerSettings
from stream.runtime.clocks import AgentClock
from stream.runtime.ingest import CadIngest
from stream.runtime.outputs import DeadLetters, OutputPolicy
from tests.helpers import JORDAN, as_bytes, shooting
from tests.stream.runtime.fakes import FakeTopic, Halted

pytestmark = pytest.mark.integration


async def _produce(bootstrap: str, topic: str, docs: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for doc in docs:
            await producer.send_and_wait(topic, doc, key=b"cad", partition=0)
    finally:
        await producer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[TopicPartition(topic, 0)])
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None and meta.offset >= 0 else None


async def _events(bootstrap: str, topic: str) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
    finally:
        await consumer.stop()
    return [CoreInput.model_validate_json(r.value).event.incident_id for rs in batches.values() for r in rs]  # type: ignore[union-attr]


def _until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)


class Run:
    """A CAD consumer of a test's own topics and group."""

    def __init__(self, bootstrap: str, deployment, takeover: str | None = None) -> None:
        self.bootstrap, self.deployment = bootstrap, deployment
        self.topics = Topics(prefix=f"cc{uuid.uuid4().hex[:8]}.")
        self.group = f"{self.topics.prefix}vigil.cad-ingest"
        self.takeover = takeover
        self.halted: list[str] = []
        asyncio.run(ensure_topics(bootstrap, self.topics, partitions=1))

    def consumer(self, events_refused: bool = False) -> CadConsumer:
        metrics = WorkerMetrics(CollectorRegistry())

        def make_ingest(sink):
            events = FakeTopic("events", refuse_always=True) if events_refused else sink(self.topics.events)
            return CadIngest(self.deployment.classification, events, DeadLetters(sink(self.topics.dlq), metrics.feeds), metrics,
                             AgentClock(), OutputPolicy(attempts=2, base_delay_s=0.0), self.stop)

        settings = CadConsumerSettings(self.bootstrap, self.topics.cad, self.group, self.takeover, commit_every_s=0.0)
        return CadConsumer(settings, make_ingest, halt=self.halted.append)

    def stop(self, reason: str) -> None:
        """The ingest's stop: what a worker does by os._exit, recorded and raised."""
        self.halted.append(reason)
        raise Halted(reason)

    def committed(self) -> int | None:
        return asyncio.run(_committed(self.bootstrap, self.group, self.topics.cad))


def test_shootings_go_to_the_events_topic_and_the_offsets_are_committed_after(kafka_bootstrap, deployment) -> None:
    run = Run(kafka_bootstrap, deployment)
    asyncio.run(_produce(kafka_bootstrap, run.topics.cad, [as_bytes(shooting(f"CC-{n}", JORDAN)) for n in range(3)] + [b"{bad"]))
    consumer = run.consumer()
    consumer.start()
    try:
        _until(lambda: run.committed() == 4)
    finally:
        consumer.stop()
    assert run.committed() == 4 and run.halted == []
    assert asyncio.run(_events(kafka_bootstrap, run.topics.events)) == ["CC-0", "CC-1", "CC-2"]


def test_a_new_group_starts_where_the_faust_group_left_off(kafka_bootstrap, deployment) -> None:
    old_group = f"faust-{uuid.uuid4().hex[:8]}"
    run = Run(kafka_bootstrap, deployment, takeover=old_group)
    asyncio.run(_produce(kafka_bootstrap, run.topics.cad, [as_bytes(shooting(f"OLD-{n}", JORDAN)) for n in range(2)]))

    async def faust_group_read_the_first_two() -> None:
        reader = AIOKafkaConsumer(run.topics.cad, bootstrap_servers=kafka_bootstrap, group_id=old_group, enable_auto_commit=False,
                                  auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000)
        await reader.start()
        try:
            await reader.getmany(timeout_ms=3000)
            await reader.commit({TopicPartition(run.topics.cad, 0): 2})
        finally:
            await reader.stop()

    asyncio.run(faust_group_read_the_first_two())
    asyncio.run(_produce(kafka_bootstrap, run.topics.cad, [as_bytes(shooting("NEW-0", JORDAN))]))
    consumer = run.consumer()
    consumer.start()
    try:
        _until(lambda: run.committed() == 3)
    finally:
        consumer.stop()
    assert asyncio.run(_events(kafka_bootstrap, run.topics.events)) == ["NEW-0"]  # the first two were not ingested twice


def test_a_batch_the_broker_will_not_take_is_never_committed(kafka_bootstrap, deployment) -> None:
    run = Run(kafka_bootstrap, deployment)
    asyncio.run(_produce(kafka_bootstrap, run.topics.cad, [as_bytes(shooting("CC-LOST", JORDAN))]))
    consumer = run.consumer(events_refused=True)
    consumer.start()
    try:
        _until(lambda: bool(run.halted))
    finally:
        consumer.stop()
    assert "not taken by the broker" in run.halted[0] and run.committed() is None
