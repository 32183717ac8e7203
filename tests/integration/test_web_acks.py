"""Ack links on real parts: `run_web` on a free port, the session's broker, HTTP in, the acks topic out."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.web.app import run_web
from stream.core.activations import handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.events import AckMessage, stable_id
from stream.ops.kafka import Topics, ensure_topics
from tests.helpers import JORDAN, RECEIVED, as_bytes, shooting

pytestmark = pytest.mark.integration

SECRET = b"integration-ack-secret-0123"
RECIPIENT = "tel:+1...0123"


async def _acks(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        found: list[tuple[bytes | None, bytes]] = []
        # a few rounds: the first fetch can come back empty while partitions are assigned
        for _ in range(3):
            batches = await consumer.getmany(timeout_ms=1500)
            found += [(m.key, m.value) for msgs in batches.values() for m in msgs]
        return found
    finally:
        await consumer.stop()


async def test_an_ack_over_http_lands_once_on_the_acks_topic(kafka_bootstrap: str, tmp_path: Path, deployment, capsys) -> None:
    topics = Topics(prefix=f"webit{uuid.uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, topics)
    db_url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    store = ReviewStore(db_url)
    store.create_schema()
    event = classify_cad(parse_eido(as_bytes(shooting("IT-WEB-1", JORDAN))), deployment.classification, RECEIVED)
    outcome = handle_event(CoreState(), event, RECEIVED, Config(deployment.coverage, deployment.protocols))
    store.append(outcome.timeline)  # as the worker's review sink would have
    intent = outcome.intents[0]
    token = AckSigner(SECRET, "http://unused").token(intent, RECIPIENT, datetime.now(UTC))

    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    service = asyncio.create_task(
        run_web("127.0.0.1", 0, kafka_bootstrap, topics, db_url, SECRET, "http://unused", ready=ready))
    try:
        url = await asyncio.wait_for(ready, 30)
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert f"web listening on {url}" in capsys.readouterr().out
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            assert (await client.get("/healthz")).text == "ok"
            page = await client.get(f"/ack/{token}")
            assert page.status_code == 200 and 'value="on_my_way"' in page.text
            answer = await client.post(f"/ack/{token}", data={"response": "on_my_way"})
            assert answer.status_code == 200, answer.text
            assert "On my way — recorded" in answer.text
            again = await client.post(f"/ack/{token}", data={"response": "ack"})
            assert again.status_code == 409
        records = await _acks(kafka_bootstrap, topics.acks)
        assert len(records) == 1
        key, value = records[0]
        message = AckMessage.model_validate_json(value)
        assert message == AckMessage(ref="IT-WEB-1", team=intent.team, response="on_my_way", recipient=RECIPIENT,
                                     token_id=stable_id("ack", intent.intent_id, RECIPIENT))
        assert key == b"IT-WEB-1"
    finally:
        service.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(service, 30)
        store.dispose()


async def test_run_web_reports_a_failed_start_through_ready(tmp_path: Path) -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with pytest.raises(ValueError, match="at least 16 bytes"):
        await run_web("127.0.0.1", 0, "127.0.0.1:1", Topics("x."), f"sqlite:///{tmp_path / 'r.sqlite'}", b"short", "http://x", ready=ready)
    assert isinstance(ready.exception(), ValueError)


def test_vigil_web_command_serves(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_ACK_SECRET": SECRET.decode(), "VIGIL_DB_URL": f"sqlite:///{tmp_path / 'review.sqlite'}",
           "VIGIL_TOPIC_PREFIX": f"webcli{uuid.uuid4().hex[:8]}."}
    # --metrics-port 0: the default 9603 would collide with another `vigil web` running at the same time
    process = subprocess.Popen([sys.executable, "-m", "stream.cli", "web", "--bootstrap", kafka_bootstrap, "--port", "0", "--metrics-port", "0"],
                               stdout=subprocess.PIPE, stderr=open(tmp_path / "web.log", "wb"), env=env, text=True)  # noqa: SIM115
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the service is up (or exits, giving "")
        assert line.startswith("web listening on http://127.0.0.1:"), (tmp_path / "web.log").read_text()
        url = line.split()[-1]
        assert httpx.get(f"{url}/healthz", timeout=10).text == "ok"
        refused = httpx.get(f"{url}/ack/not.valid", timeout=10)
        assert refused.status_code == 403 and refused.headers["Referrer-Policy"] == "no-referrer"
    finally:
        process.terminate()
        assert process.wait(timeout=30) in (0, -15)
    assert "not.valid" not in (tmp_path / "web.log").read_text()  # no access log with paths
