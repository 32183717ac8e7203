"""End-to-end alert latency and the broker's own round trip, measured in one run on this machine.

    python -m load_tests.bench_e2e [--seconds 30] [--rate 200] [--shooting-share 0.02] [--fanouts 5]
                                   [--bootstrap HOST:PORT] [--out load_tests/results]

1. Broker round trip, idle: one producer and one consumer (no Vigil code), sequential messages; produce →
   consume latency with our fetch wait (10 ms) and with Faust's hard-coded 1500 ms.
2. Under load: CAD EIDO documents at ``--rate`` per second for ``--seconds`` through a real worker, a
   ``--shooting-share`` of them shootings (person shot and shots fired, alternately, at covered places),
   the rest ordinary calls. Latency of each shooting from just before produce to the phone inbox
   receiving its first alert; the broker's own round trip sampled (10/s, its own topic) in the same run.
3. Fan-out: after the load, person-shot activations in Camden, whose team has 20 phones in this run: the
   time from the first of the 20 posts to the last.
Writes a JSON file of the figures, prints a table, exits 1 when a goal is missed (p99 <= 150 ms,
p99 <= 10x the broker's p99 during the load, 20 phones within 200 ms, nothing missing).
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

from stream.core.activations import activation_id_for
from stream.core.deployment import load_deployment
from stream.devtools.broker import EmbeddedBroker
from stream.devtools.demo import REF, local_pipeline
from stream.feeds.eido_builder import build_eido
from stream.ops.kafka import Topics, ensure_topics

PLACES = [(45.0003, -93.3001), (44.9530, -93.2600), (44.9405, -93.2530), (44.9790, -93.2720)]


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


NOISE_TYPES = ["Traffic Stop (P)", "Theft (P)", "Suspicious Person (P)", "Medical (F)", "Disturbance (P)", "Alarm (P)", "Welfare Check (P)"]
FANOUT_PLACE = (45.0300, -93.2900)  # Webber - Camden: vi-north-camden, which has 20 phones in this run
FANOUT_TEAM = "vi-north-camden"


def _doc(incident: str, kind: str, where: tuple[float, float]) -> bytes:
    now = datetime.now(UTC).isoformat()
    if kind == "person_shot":
        doc = build_eido(incident, now, apco="SHOOT", internal_text="Shooting (PFE)", lat=where[0], lon=where[1], victim_ages=[24])
    elif kind == "shots_fired":
        doc = build_eido(incident, now, internal_text="Sound of Shots Fired (P)", lat=where[0], lon=where[1])
    else:
        doc = build_eido(incident, now, internal_text=kind, lat=where[0], lon=where[1])
    return json.dumps(doc).encode()


async def _probe_round_trips(bootstrap: str, stop: asyncio.Event, every_s: float) -> list[float]:
    """The broker's own produce → consume round trip, sampled while the load runs (its own topic)."""
    topics = Topics(prefix=f"probe{uuid.uuid4().hex[:6]}.")
    await ensure_topics(bootstrap, topics, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(topics.cad, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=10)
    await producer.start()
    await consumer.start()
    samples: list[float] = []
    try:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            await producer.send_and_wait(topics.cad, str(n).encode())
            await consumer.getone()
            samples.append(time.perf_counter() - started)
            n += 1
            await asyncio.sleep(every_s)
    finally:
        await consumer.stop()
        await producer.stop()
    return samples[1:]


async def end_to_end(bootstrap: str, workdir: Path, seconds: float, rate: float, shooting_share: float, fanout_activations: int,
                     fetch_wait_ms: int = 10) -> dict:
    """Alert latency through a real worker under background CAD load, the broker round trip sampled in the
    same run, and the spread of a 20-phone fan-out."""
    deployment = load_deployment()
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"bench{run}.")
    phones = {FANOUT_TEAM: 20}
    async with local_pipeline(bootstrap, workdir, deployment, topics, app_id=f"vigil-bench-{run}", hl7_secret=b"bench-secret-0123456789",
                              fetch_wait_ms=fetch_wait_ms, phones_per_team=phones) as running:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        stop_probe = asyncio.Event()
        probe = asyncio.create_task(_probe_round_trips(bootstrap, stop_probe, every_s=0.1))
        produced: dict[str, float] = {}
        total = int(seconds * rate)
        every = max(1, round(1 / shooting_share))
        sends = []
        cpu_before = _cpu_seconds(running.worker)
        started = time.perf_counter()
        try:
            for n in range(total):
                target = started + n / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                incident = f"B{run}-{n}"
                if n % every == every // 2:
                    shot = n // every
                    kind = "person_shot" if shot % 2 == 0 else "shots_fired"
                    raw = _doc(incident, kind, PLACES[shot % len(PLACES)])
                    produced[activation_id_for("minneapolis", "eido", incident)] = time.time()
                else:
                    raw = _doc(incident, NOISE_TYPES[n % len(NOISE_TYPES)], PLACES[n % len(PLACES)])
                sends.append(await producer.send(topics.cad, raw, key=incident.encode()))
            await asyncio.gather(*sends)
            achieved = total / (time.perf_counter() - started)
            worker_cpu = (_cpu_seconds(running.worker) - cpu_before) / (time.perf_counter() - started)
            # the fan-out: a person shot in Camden alerts vi-north-camden's 20 phones (and gvi-outreach)
            fanout_ids = []
            for k in range(fanout_activations):
                incident = f"F{run}-{k}"
                fanout_ids.append(activation_id_for("minneapolis", "eido", incident))
                produced[fanout_ids[-1]] = time.time()
                await producer.send_and_wait(topics.cad, _doc(incident, "person_shot", FANOUT_PLACE), key=incident.encode())
                await asyncio.sleep(0.5)
        finally:
            stop_probe.set()
            await producer.stop()
        round_trips = await probe
        await _alerts_landed(running.inbox, set(produced), fanout_ids, phones[FANOUT_TEAM])
        first: dict[str, float] = {}
        spread: dict[str, list[float]] = {}
        for message in running.inbox.messages:
            ref = REF.search(message.body)
            if not ref or ref.group(1) not in produced:
                continue
            first.setdefault(ref.group(1), message.received_at)
            if message.recipient.startswith(f"{FANOUT_TEAM}-p"):
                spread.setdefault(ref.group(1), []).append(message.received_at)
        load_ids = [a for a in produced if a not in fanout_ids]
        samples = [first[a] - produced[a] for a in load_ids if a in first]
        result = {
            "cad_events": total,
            "cad_events_per_s": round(achieved, 1),
            "shootings": len(load_ids),
            "alert_latency": summarise(samples) if samples else {},
            # (seconds into the load, latency ms) of each shooting: load_tests/bench_load plots it over time
            "latency_series": [[round(produced[a] - min(produced.values()), 3), round((first[a] - produced[a]) * 1000, 2)]
                               for a in load_ids if a in first],
            "missing": len(load_ids) - len(samples),
            "broker_round_trip_during_load": summarise(round_trips),
            "worker_cpu_share": round(worker_cpu, 2),
            "fanout_phones": phones[FANOUT_TEAM],
            "fanout_spread_ms": [round((max(v) - min(v)) * 1000, 2) for v in (spread.get(a, []) for a in fanout_ids) if len(v) == phones[FANOUT_TEAM]],
            "fanout_incomplete": sum(len(spread.get(a, [])) != phones[FANOUT_TEAM] for a in fanout_ids),
        }
        return result


async def _alerts_landed(inbox, activations: set[str], fanout_ids: list[str], fanout_phones: int, idle_s: float = 10.0,
                         cap_s: float = 600.0) -> None:
    """Until every activation produced has its first alert and every fan-out reached all its phones; or nothing
    arrived for ``idle_s`` (what is missing is then counted as missing), at most ``cap_s``. Progress, not a
    fixed sleep: a slower machine waits longer instead of reporting alerts missing."""

    def done() -> bool:
        seen: set[str] = set()
        fanned: dict[str, int] = {}
        for message in inbox.messages:
            ref = REF.search(message.body)
            if ref:
                seen.add(ref.group(1))
                if message.recipient.startswith(f"{FANOUT_TEAM}-p"):
                    fanned[ref.group(1)] = fanned.get(ref.group(1), 0) + 1
        return activations <= seen and all(fanned.get(a, 0) >= fanout_phones for a in fanout_ids)

    began = last_change = time.monotonic()
    count = len(inbox.messages)
    while not done():
        await asyncio.sleep(0.2)
        now = time.monotonic()
        if len(inbox.messages) != count:
            count, last_change = len(inbox.messages), now
        elif now - last_change > idle_s or now - began > cap_s:
            return
    await asyncio.sleep(1.0)  # a duplicate would land now


def _cpu_seconds(worker) -> float:
    """User + system CPU seconds of the worker process so far (Linux /proc)."""
    pid = worker._process.pid  # noqa: SLF001 - a benchmark reads its child's counters
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(args: argparse.Namespace) -> dict:
    """Run the measurements and return the results document."""
    broker = None if args.bootstrap else EmbeddedBroker()
    bootstrap = args.bootstrap or broker.start()  # type: ignore[union-attr]
    try:
        ours = await broker_round_trip(bootstrap, args.round_trips, fetch_wait_ms=10)
        fausts = await broker_round_trip(bootstrap, max(10, args.round_trips // 10), fetch_wait_ms=1500)
        e2e = await end_to_end(bootstrap, Path(tempfile.mkdtemp(prefix="vigil-bench-")), args.seconds, args.rate, args.shooting_share,
                               args.fanouts, args.worker_fetch_wait_ms)
    finally:
        if broker is not None:
            broker.stop()
    alert, rtt = e2e["alert_latency"], e2e["broker_round_trip_during_load"]
    goals = {
        "p99_le_150ms": bool(alert) and alert["p99_ms"] <= 150,
        "p99_le_10x_broker_p99": bool(alert) and alert["p99_ms"] <= 10 * rtt["p99_ms"],
        "fanout_20_within_200ms": not e2e["fanout_incomplete"] and bool(e2e["fanout_spread_ms"]) and max(e2e["fanout_spread_ms"]) <= 200,
        "nothing_missing": e2e["missing"] == 0,
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "broker": "external " + bootstrap if args.bootstrap else "embedded Tansu (memory)",
        "broker_round_trip_fetch_wait_10ms": ours,
        "broker_round_trip_fetch_wait_1500ms": fausts,
        "under_load": e2e,
        "ratio_p50": round(alert["p50_ms"] / rtt["p50_ms"], 1) if alert else None,
        "ratio_p99": round(alert["p99_ms"] / rtt["p99_ms"], 1) if alert else None,
        "goals": goals,
        "worker_fetch_wait_ms": args.worker_fetch_wait_ms,
        "command": "python -m load_tests.bench_e2e (make bench)",
    }


def _row(name: str, figures: dict) -> str:
    return f"| {name} | {figures['n']} | {figures['p50_ms']} | {figures['p99_ms']} | {figures['max_ms']} |"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the background load runs")
    parser.add_argument("--rate", type=float, default=200.0, help="CAD events per second")
    parser.add_argument("--shooting-share", type=float, default=0.02, help="share of the CAD events that are shootings")
    parser.add_argument("--fanouts", type=int, default=5, help="activations that alert a 20-phone team, after the load")
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--worker-fetch-wait-ms", type=int, default=10, help="the worker's consumer fetch wait")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"))
    parser.add_argument("--out", type=Path, default=Path("load_tests/results"))
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    arguments.out.mkdir(parents=True, exist_ok=True)
    path = arguments.out / f"bench-e2e-{results['date'][:10]}.json"
    path.write_text(json.dumps(results, indent=2))
    load = results["under_load"]
    print(f"{results['machine']}; broker: {results['broker']}")
    print(f"background load: {load['cad_events']} CAD events at {load['cad_events_per_s']}/s, {load['shootings']} shootings; worker CPU {load['worker_cpu_share']} cores\n")
    print("| measurement | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    print(_row("broker produce→consume, idle, fetch wait 10 ms", results["broker_round_trip_fetch_wait_10ms"]))
    print(_row("broker produce→consume, idle, fetch wait 1500 ms (Faust's)", results["broker_round_trip_fetch_wait_1500ms"]))
    print(_row("broker produce→consume, during the load", load["broker_round_trip_during_load"]))
    if load["alert_latency"]:
        print(_row("end to end under load: produce → phone inbox", load["alert_latency"]))
    print(f"\nratio end to end / broker round trip: p50 {results['ratio_p50']}x, p99 {results['ratio_p99']}x")
    print(f"fan-out to {load['fanout_phones']} phones, first → last posted (ms): {load['fanout_spread_ms']} (incomplete: {load['fanout_incomplete']})")
    print(f"missing alerts: {load['missing']}; goals: {results['goals']}; results in {path}")
    raise SystemExit(0 if all(results["goals"].values()) else 1)
