"""`vigil broker` and `vigil produce`: the embedded broker and a CAD stand-in for developers."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import typer

from stream.cli.options import BootstrapOption, TopicPrefixOption, require_bootstrap


def broker(
    port: int = typer.Option(9092, "--port", help="TCP port on 127.0.0.1; 0 picks a free one."),
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory storage) on loopback until stopped."""
    from stream.devtools.broker import EmbeddedBroker

    embedded = EmbeddedBroker(port=port)
    bootstrap = embedded.start()
    # before the address is printed: whoever reads it may stop the broker at once (a SIGTERM that came first
    # killed the command without stopping Tansu)
    signal.signal(signal.SIGTERM, lambda *_: embedded.terminate())
    typer.echo(bootstrap)
    try:
        code = embedded.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        embedded.stop()
    raise typer.Exit(code)


def produce(
    file: Path = typer.Argument(..., help="A JSON file with one EIDO document, or JSON Lines of them."),
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
    drill: bool = typer.Option(False, "--drill", help="Send them as a drill: every alert and page says DRILL, summaries leave it out."),
) -> None:
    """Send EIDO documents to the CAD topic (each line as it is, so bad lines reach the dead-letter topic)."""
    from aiokafka import AIOKafkaProducer

    from stream.ops.kafka import Topics
    from stream.runtime.ingest import DRILL_HEADER

    topic = Topics(topic_prefix).cad

    require_bootstrap(bootstrap)
    text = file.read_text(encoding="utf-8")
    try:
        lines = [json.dumps(json.loads(text))]
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for line in lines:
                await producer.send_and_wait(topic, line.encode(), headers=[(DRILL_HEADER, b"1")] if drill else None)
        finally:
            await producer.stop()

    asyncio.run(send())
    typer.echo(f"sent {len(lines)} document(s) to {topic}{' as a DRILL' if drill else ''}")
