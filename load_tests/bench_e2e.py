"""End-to-end alert latency and the broker's own round trip, measured in one run on this machine.

    python -m load_tests.bench_e2e [--alerts 60] [--rate 4] [--bootstrap HOST:PORT] [--out load_tests/results]

1. Broker round trip: one producer and one consumer (no Vigil code), sequential messages; produce →
   consume latency with our fetch wait (10 ms) and with Faust's hard-coded 1500 ms.
2. End to end: person-shot EIDO documents at covered places, one at a time at ``--rate`` per second,
   through a real worker; latency from just before produce to the phone inbox receiving the alert.
Writes a JSON file of the figures and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.activations import activation_id_for
from stream.broker import EmbeddedBroker
from stream.demo import REF, local_pipeline
from stream.deployment import load_deployment
from stream.eido_builder import build_eido
from stream.kafka import Topics, ensure_topics

PLACES = [(45.0003, -93.3001), (44.9530, -93.2600), (44.9405, -93.2530), (44.9790, -93.2720), (45.0400, -93.3000)]


def summarise(samples_s: list[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds."""
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def broker_round_trip(bootstrap: str, messages: int, fetch_wait_ms: int) -> dict[str, float]:
    """Sequential produce → consume latency on a fresh topic."""
    topics = Topics(prefix=f"rt{uuid.uuid4().hex[:6]}.")
    await ensure_topics(bootstrap, topics, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(topics.cad, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=fetch_wait_ms)
    await producer.start()
    await consumer.start()
    samples = []
    try:
        for n in range(messages):
            started = time.perf_counter()
            await producer.send_and_wait(topics.cad, str(n).encode())
            await consumer.getone()
            samples.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
    return summarise(samples[1:])  # the first includes metadata and fetch-position set-up


async def end_to_end(bootstrap: str, workdir: Path, alerts: int, rate: float, fetch_wait_ms: int = 10) -> dict[str, float]:
    """Alert latency through a real worker: produce → inbox received."""
    deployment = load_deployment()
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"bench{run}.")
    async with local_pipeline(bootstrap, workdir, deployment, topics, app_id=f"vigil-bench-{run}", hl7_secret=b"bench-secret-0123456789", fetch_wait_ms=fetch_wait_ms) as running:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        produced: dict[str, float] = {}
        try:
            for n in range(alerts):
                lat, lon = PLACES[n % len(PLACES)]
                incident = f"BENCH-{run}-{n}"
                doc = build_eido(incident, datetime.now(UTC).isoformat(), apco="SHOOT", internal_text="Shooting (PFE)", lat=lat, lon=lon)
                produced[activation_id_for("minneapolis", "eido", incident)] = time.time()
                await producer.send_and_wait(topics.cad, json.dumps(doc).encode(), key=incident.encode())
                await asyncio.sleep(1.0 / rate)
        finally:
            await producer.stop()
        # a person shot alerts the street team and gvi-outreach: the first alert of each is the latency
        await running.inbox.wait_for(2 * alerts, timeout=60)
        first: dict[str, float] = {}
        for message in running.inbox.messages:
            ref = REF.search(message.body)
            if ref and ref.group(1) in produced:
                first.setdefault(ref.group(1), message.received_at)
        samples = [received - produced[activation] for activation, received in first.items()]
        result = summarise(samples)
        result["missing"] = alerts - len(samples)
        return result


async def main(args: argparse.Namespace) -> dict:
    """Run both measurements and return the results document."""
    broker = None if args.bootstrap else EmbeddedBroker()
    bootstrap = args.bootstrap or broker.start()  # type: ignore[union-attr]
    try:
        ours = await broker_round_trip(bootstrap, args.round_trips, fetch_wait_ms=10)
        fausts = await broker_round_trip(bootstrap, max(10, args.round_trips // 10), fetch_wait_ms=1500)
        e2e = await end_to_end(bootstrap, Path(tempfile.mkdtemp(prefix="vigil-bench-")), args.alerts, args.rate, args.worker_fetch_wait_ms)
    finally:
        if broker is not None:
            broker.stop()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "broker": "external " + bootstrap if args.bootstrap else "embedded Tansu 0.6.0 (memory)",
        "broker_round_trip_fetch_wait_10ms": ours,
        "broker_round_trip_fetch_wait_1500ms": fausts,
        "end_to_end_alert": e2e,
        "worker_fetch_wait_ms": args.worker_fetch_wait_ms,
        "command": "make bench",
    }


def _row(name: str, figures: dict) -> str:
    return f"| {name} | {figures['n']} | {figures['p50_ms']} | {figures['p99_ms']} | {figures['max_ms']} |"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=60)
    parser.add_argument("--rate", type=float, default=4.0, help="shootings per second")
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--worker-fetch-wait-ms", type=int, default=10, help="the worker's consumer fetch wait")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"))
    parser.add_argument("--out", type=Path, default=Path("load_tests/results"))
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    arguments.out.mkdir(parents=True, exist_ok=True)
    path = arguments.out / f"bench-e2e-{results['date'][:10]}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"{results['machine']}; broker: {results['broker']}\n")
    print("| measurement | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    print(_row("broker produce→consume, fetch wait 10 ms", results["broker_round_trip_fetch_wait_10ms"]))
    print(_row("broker produce→consume, fetch wait 1500 ms (Faust's)", results["broker_round_trip_fetch_wait_1500ms"]))
    print(_row("end to end: produce → phone inbox", results["end_to_end_alert"]))
    print(f"\nmissing alerts: {results['end_to_end_alert']['missing']}; results in {path}")
    raise SystemExit(1 if results["end_to_end_alert"]["missing"] else 0)
