"""Every Kafka producer in Vigil's code waits for all in-sync replicas (acks="all"): a record acknowledged by
the leader alone is lost with it, and with min.insync.replicas=2 (stream/ops/topics.py) only acks=all makes
a broker refuse a write it cannot keep. Faust's producer is set in stream/runtime/app.py
(tests/stream/runtime/test_worker_topics.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stream", "reviews", "notifiers")


def producer_calls() -> list[tuple[str, int, ast.Call]]:
    """Every ``AIOKafkaProducer(...)`` call in Vigil's packages: (file, line, call)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "AIOKafkaProducer":
                    found.append((str(path.relative_to(ROOT)), node.lineno, node))
    return found


def test_every_producer_waits_for_all_in_sync_replicas() -> None:
    calls = producer_calls()
    assert len(calls) >= 7, "the scan found too few producers: is it still looking in the right places?"
    lax = [f"{file}:{line}" for file, line, call in calls
           if not any(k.arg == "acks" and isinstance(k.value, ast.Constant) and k.value.value == "all" for k in call.keywords)]
    assert not lax, f"producers without acks='all': {lax}"
