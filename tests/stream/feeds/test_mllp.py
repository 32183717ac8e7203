"""The MLLP listener on a real broker, with python-hl7's MLLP client as the hospital's interface engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import hl7
import pytest
from aiokafka import AIOKafkaConsumer
from hl7.client import MLLPClient
from prometheus_client import CollectorRegistry

from stream.devtools.broker import EmbeddedBroker, free_port, wait_for_port
from stream.feeds.hl7 import message_key
from stream.feeds.hl7_builder import AdtMessage
from stream.feeds.mllp import MllpListener
from stream.ops.kafka import Topics, ensure_topics

ARRIVED = datetime(2026, 7, 4, 22, 10, tzinfo=ZoneInfo("America/Chicago"))
SECRET = b"mllp-test-secret-0123"


async def _records(bootstrap: str, topic: str, expect: int, timeout_ms: int = 8000) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_ms / 1000
        while len(found) < expect and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found += [m.value for msgs in batches.values() for m in msgs]
    finally:
        await consumer.stop()
    return found


def _msa(ack: str) -> list[str]:
    return str(hl7.parse(ack).segment("MSA")).split("|")


@pytest.fixture
async def listener(kafka_bootstrap, deployment):
    topics = Topics(prefix=f"m{uuid.uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, topics)
    running = MllpListener(kafka_bootstrap, topics, deployment.classification, SECRET, CollectorRegistry(), port=0)
    await running.start()
    yield running
    await running.stop()


def _send_all(port: int, messages: list[str]) -> list[str]:
    with MLLPClient("127.0.0.1", port) as client:  # one connection, several messages
        return [client.send_message(m) for m in messages]


async def test_acks_several_messages_on_one_connection_after_the_broker_has_them(listener) -> None:
    arrival = AdtMessage("CTRL-A1", "hcmc", ARRIVED).render()
    not_gsw = AdtMessage("CTRL-A2", "hcmc", ARRIVED, diagnoses=[("S31.000A", "Open wound", "I10")]).render()
    acks = await asyncio.to_thread(_send_all, listener.port, [arrival, not_gsw])
    assert [_msa(a)[1:3] for a in acks] == [["AA", "CTRL-A1"], ["AA", "CTRL-A2"]]
    records = [json.loads(r) for r in await _records(listener.bootstrap, listener.topics.hospital_arrivals, expect=1)]
    # the ACK echoes MSH-10 to its sender; downstream the message is its keyed hash (issue 15)
    assert [(r["ref"], r["kind"], r["hospital"], r["intent"]) for r in records] == [(message_key(SECRET, "hcmc", "CTRL-A1"), "gsw_arrival", "hcmc", "assault")]


async def test_unusable_message_is_rejected_with_reason_and_dead_lettered(listener) -> None:
    broken = AdtMessage("CTRL-B1", "hcmc", ARRIVED).render().replace("20260704221000-0500", "never")
    (ack,) = await asyncio.to_thread(_send_all, listener.port, [broken])
    msa = _msa(ack)
    assert msa[1:3] == ["AR", "CTRL-B1"]
    assert msa[3] == "bad_timestamp: none of PV1-44, EVN-2, MSH-7 holds an HL7 date-time"
    (letter,) = [json.loads(r) for r in await _records(listener.bootstrap, listener.topics.dlq, expect=1)]
    assert (letter["source"], letter["reason"]) == ("hl7", "bad_timestamp")
    assert letter["excerpt"] == "[HL7 redacted: %d chars; segments MSH EVN PID PV1 DG1]" % len(broken)


async def test_garbage_between_frames_does_not_break_the_connection(listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    good = AdtMessage("CTRL-G1", "hcmc", ARRIVED).render().encode()
    writer.write(b"noise before the frame" + b"\x0b" + good + b"\x1c\x0d" + b"\x0bMSH|x\x1c\x0d")
    await writer.drain()
    first = await reader.readuntil(b"\x1c\x0d")
    second = await reader.readuntil(b"\x1c\x0d")
    writer.close()
    assert b"MSA|AA|CTRL-G1" in first
    assert b"MSA|AR|" in second


async def test_broker_down_answers_ae_so_the_engine_retries(deployment) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    topics = Topics(prefix="down.")
    await ensure_topics(bootstrap, topics)
    running = MllpListener(bootstrap, topics, deployment.classification, SECRET, CollectorRegistry(), port=0, produce_timeout_s=2)
    await running.start()
    try:
        broker.stop()
        (ack,) = await asyncio.to_thread(_send_all, running.port, [AdtMessage("CTRL-D1", "hcmc", ARRIVED).render()])
    finally:
        await running.stop()
    assert _msa(ack)[1:4] == ["AE", "CTRL-D1", "broker unavailable; retry"]


def test_vigil_hl7_listen_with_python_hl7_client(kafka_bootstrap, tmp_path) -> None:
    port = free_port()
    prefix = f"cli{uuid.uuid4().hex[:6]}."
    env = {**os.environ, "VIGIL_HL7_SECRET": SECRET.decode()}
    log = open(tmp_path / "listener.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "hl7-listen", "--bootstrap", kafka_bootstrap, "--port", str(port), "--topic-prefix", prefix],
        env=env, stdout=log, stderr=log,
    )
    try:
        assert wait_for_port("127.0.0.1", port, timeout=60), (tmp_path / "listener.log").read_text()
        (ack,) = _send_all(port, [AdtMessage("CTRL-CLI", "abbott", ARRIVED).render()])
        records = asyncio.run(_records(kafka_bootstrap, f"{prefix}hospital.arrivals", expect=1))
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
    assert _msa(ack)[1:3] == ["AA", "CTRL-CLI"]
    assert [json.loads(r)["hospital"] for r in records] == ["abbott"]


def test_hl7_listen_refuses_to_start_without_a_secret(kafka_bootstrap) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_HL7_SECRET"}
    result = subprocess.run([sys.executable, "-m", "stream.cli", "hl7-listen", "--bootstrap", kafka_bootstrap, "--port", "0"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no HL7 secret: set VIGIL_HL7_SECRET (the key of the visit-number hash)" in result.stderr


async def test_counts_received_filtered_rejected_and_acks(kafka_bootstrap, deployment) -> None:
    registry = CollectorRegistry()
    topics = Topics(prefix=f"mm{uuid.uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, topics)
    running = MllpListener(kafka_bootstrap, topics, deployment.classification, SECRET, registry, port=0)
    await running.start()
    try:
        await asyncio.to_thread(_send_all, running.port, [
            AdtMessage("M1", "hcmc", ARRIVED).render(),
            AdtMessage("M2", "hcmc", ARRIVED, patient_class="I").render(),
            "MSH|^~\\&|A|hcmc|B|C|20260704||ADT^A04|",
        ])
    finally:
        await running.stop()

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert value("vigil_ingest_received_total", source="hl7") == 3
    assert value("vigil_ingest_shootings_total", source="hl7", kind="gsw_arrival") == 1
    assert value("vigil_ingest_filtered_total", source="hl7", reason="not_emergency_visit") == 1
    assert value("vigil_ingest_rejected_total", source="hl7", reason="missing_control_id") == 1
    assert (value("vigil_hl7_acks_total", code="AA"), value("vigil_hl7_acks_total", code="AR")) == (2, 1)
