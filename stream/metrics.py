"""Ingest metrics, registered on an injected registry (each test gets a fresh one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from stream.events import DeadLetter, IngestOutcome, ShootingEvent

NAMESPACE = "vigil"


class IngestMetrics:
    """Messages received, shootings recognised, filtered (not shootings) and rejected, by source."""

    def __init__(self, registry: CollectorRegistry, namespace: str = NAMESPACE):
        self.received = Counter("ingest_received", "Messages received, by source.", ["source"], namespace=namespace, registry=registry)
        self.shootings = Counter("ingest_shootings", "Messages recognised as shootings, by source and kind.", ["source", "kind"], namespace=namespace, registry=registry)
        self.filtered = Counter("ingest_filtered", "Well-formed messages dropped (not a shooting), by source and reason.", ["source", "reason"], namespace=namespace, registry=registry)
        self.rejected = Counter("ingest_rejected", "Messages rejected to the dead-letter topic, by source and reason.", ["source", "reason"], namespace=namespace, registry=registry)

    def count(self, source: str, outcome: IngestOutcome) -> None:
        """Count one message and what became of it."""
        self.received.labels(source).inc()
        if isinstance(outcome, ShootingEvent):
            self.shootings.labels(source, outcome.kind.value).inc()
        elif isinstance(outcome, DeadLetter):
            self.rejected.labels(source, outcome.reason).inc()
        else:
            self.filtered.labels(source, outcome.reason).inc()
