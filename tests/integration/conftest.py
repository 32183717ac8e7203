"""A running pipeline for integration tests: the session broker, a `vigil inbox` process and a real
`vigil worker` process, with a topic prefix and app id of their own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from notifiers.apprise_adapter import write_contacts
from reviews.store import ReviewStore
from stream.devtools.broker import free_port, wait_for_port
from stream.devtools.processes import WorkerProcess
from stream.ops.kafka import Topics


@dataclass
class Pipeline:
    """Handles on a running pipeline."""

    bootstrap: str
    topics: Topics
    inbox_url: str
    store: ReviewStore
    worker: WorkerProcess
    workdir: Path

    def messages(self) -> list[dict]:
        """What the phones received so far."""
        with urllib.request.urlopen(f"{self.inbox_url}/messages", timeout=5) as response:
            return json.loads(response.read())

    def wait_for_messages(self, count: int, timeout: float = 30.0) -> list[dict]:
        """Poll the inbox until it holds ``count`` messages (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.messages()

    async def produce(self, *docs: bytes, key: bytes = b"cad") -> None:
        """Send documents to the CAD topic, in order, on one partition (same key)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            for doc in docs:
                await producer.send_and_wait(self.topics.cad, doc, key=key)
        finally:
            await producer.stop()

    async def read_topic(self, topic: str, timeout_ms: int = 3000) -> list[bytes]:
        """Every record on a topic so far."""
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=timeout_ms)
            return [m.value for msgs in batches.values() for m in msgs]
        finally:
            await consumer.stop()


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, deployment) -> Iterator[Pipeline]:
    """One inbox and one worker for a test module."""
    workdir: Path = tmp_path_factory.mktemp("pipeline")
    port = free_port()
    inbox = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "inbox", "--port", str(port), "--journal", str(workdir / "inbox.jsonl")],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "inbox.log", "wb"),  # noqa: SIM115
    )
    assert wait_for_port("127.0.0.1", port, timeout=30), "inbox did not start"
    contacts = workdir / "contacts.yaml"
    write_contacts(contacts, {team: [f"json://127.0.0.1:{port}/phone/{team}-lead"] for team in deployment.coverage.teams})
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"it{run}.")
    db_url = f"sqlite:///{workdir / 'review.sqlite'}"
    # a Saturday evening, whenever the tests run: the street teams are on shift
    worker = WorkerProcess(kafka_bootstrap, contacts, db_url, workdir, app_id=f"vigil-it-{run}", topic_prefix=topics.prefix,
                           clock_start="2026-07-04T22:00:00-05:00")
    worker.start()
    try:
        worker.wait_ready()
        yield Pipeline(kafka_bootstrap, topics, f"http://127.0.0.1:{port}", ReviewStore(db_url), worker, workdir)
    finally:
        worker.stop()
        inbox.terminate()
        inbox.wait(timeout=10)
