"""Parse + classify throughput per core, for EIDO and HL7, through the same functions the stream calls.

    python -m load_tests.bench_parse [--messages 20000] [--out load_tests/results]

A realistic mix: 98% ordinary CAD calls and 2% shootings for EIDO (as on the city's feed); for HL7,
emergency registrations of which a third carry a firearm code. CPU time of this process (one core).
Goals (ingest issue): >= 20,000 EIDO and >= 10,000 HL7 messages per second per core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from stream.core.deployment import load_deployment
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7 import ingest_hl7
from stream.feeds.hl7_builder import AdtMessage
from stream.feeds.ingest import ingest_cad

GOALS = {"eido": 20_000, "hl7": 10_000}
PLACES = [(45.0003, -93.3001), (44.9530, -93.2600), (44.9405, -93.2530), (44.9790, -93.2720)]


def eido_corpus(n: int) -> list[bytes]:
    """n EIDO documents, 2% shootings."""
    start = datetime(2026, 7, 4, 18, 0, tzinfo=ZoneInfo("America/Chicago"))
    docs = []
    for i in range(n):
        lat, lon = PLACES[i % len(PLACES)]
        shooting = i % 50 == 0
        doc = build_eido(f"BENCH-{i}", (start + timedelta(seconds=i)).isoformat(), apco="SHOOT" if shooting else "MVA",
                         internal_text="Shooting (PFE)" if shooting else "Motor Vehicle Accident (P)", lat=lat, lon=lon,
                         victim_ages=[20] if shooting else None)
        docs.append(json.dumps(doc).encode())
    return docs


def hl7_corpus(n: int) -> list[bytes]:
    """n ADT A04 emergency registrations, a third of them gunshot wounds."""
    arrived = datetime(2026, 7, 4, 22, 0, tzinfo=ZoneInfo("America/Chicago"))
    other = [("S52.501A", "Fracture of radius", "I10")]
    gunshot = AdtMessage("x", "hcmc", arrived).diagnoses
    return [
        AdtMessage(f"B{i}", "hcmc", arrived, visit_number=f"V{i}", diagnoses=gunshot if i % 3 == 0 else other).render().encode()
        for i in range(n)
    ]


def measure(kind: str, corpus: list[bytes]) -> dict[str, float]:
    """Messages per CPU-second for one kind."""
    rules = load_deployment().classification
    now = datetime.now(UTC)
    secret = b"bench-secret-0123456789"
    run = (lambda raw: ingest_cad(raw, rules, now)) if kind == "eido" else (lambda raw: ingest_hl7(raw, rules, secret, now))
    for raw in corpus[:500]:
        run(raw)  # warm caches (zoneinfo, pydantic validators)
    started = time.process_time()
    for raw in corpus:
        run(raw)
    cpu = time.process_time() - started
    return {"messages": len(corpus), "cpu_s": round(cpu, 3), "per_core_per_s": round(len(corpus) / cpu), "us_per_message": round(cpu / len(corpus) * 1e6, 1), "goal_per_s": GOALS[kind]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("load_tests/results"))
    args = parser.parse_args()
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "eido": measure("eido", eido_corpus(args.messages)),
        "hl7": measure("hl7", hl7_corpus(args.messages)),
        "command": "python -m load_tests.bench_parse",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench-parse-{results['date'][:10]}.json").write_text(json.dumps(results, indent=2))
    print(f"{results['machine']}\n\n| feed | messages | per core per s | µs per message | goal |\n|---|---|---|---|---|")
    for kind in ("eido", "hl7"):
        r = results[kind]
        print(f"| {kind} | {r['messages']} | {r['per_core_per_s']} | {r['us_per_message']} | {r['goal_per_s']} |")
    missed = [k for k in ("eido", "hl7") if results[k]["per_core_per_s"] < GOALS[k]]
    if missed:
        print(f"\ngoal missed: {', '.join(missed)}")
    raise SystemExit(1 if missed else 0)
