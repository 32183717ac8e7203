"""The embedded broker and the broker fixture: a real produce → consume round trip."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.devtools.broker import EmbeddedBroker, wait_for_port
from stream.ops.kafka import Topics, ensure_topics


async def _round_trip(bootstrap: str) -> bytes:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, Topics(prefix=f"{topic}."), partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(f"{topic}.cad.eido", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, fetch_max_wait_ms=10)
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(f"{topic}.cad.eido", b"hello")
        batches = await consumer.getmany(timeout_ms=10000)
        return b"".join(m.value for msgs in batches.values() for m in msgs)
    finally:
        await consumer.stop()
        await producer.stop()


async def test_session_broker_round_trip(kafka_bootstrap: str) -> None:
    assert await _round_trip(kafka_bootstrap) == b"hello"


async def test_embedded_broker_binds_loopback_on_a_free_port_and_stops() -> None:
    broker = EmbeddedBroker(port=0)
    bootstrap = broker.start()
    try:
        assert bootstrap.startswith("127.0.0.1:") and broker.port > 0
        assert broker.alive()
        assert await _round_trip(bootstrap) == b"hello"
    finally:
        broker.stop()
    assert not broker.alive()
    assert not wait_for_port("127.0.0.1", broker.port, timeout=0.5)


async def test_topic_prefix_keeps_deployments_apart(kafka_bootstrap: str) -> None:
    prefix = f"p{uuid.uuid4().hex[:6]}."
    assert Topics(prefix).all() == tuple(prefix + n for n in ("cad.eido", "hospital.arrivals", "acks", "events", "intents", "timeline", "outcomes", "dlq",
                                                                   "standdowns"))
    await ensure_topics(kafka_bootstrap, Topics(prefix))
    await ensure_topics(kafka_bootstrap, Topics(prefix))  # a second worker's call is harmless


def test_vigil_broker_stops_on_sigterm() -> None:
    # the handler once waited inside an interrupted wait and deadlocked: the command never exited
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "stream.cli", "--log-level", "warning", "broker", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        bootstrap = process.stdout.readline().strip()  # type: ignore[union-attr]
        host, port = bootstrap.rsplit(":", 1)
        assert wait_for_port(host, int(port), timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
