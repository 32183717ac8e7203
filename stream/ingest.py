"""Ingest core: raw input to a ShootingEvent, nothing (not a shooting), or a dead letter."""

from __future__ import annotations

from datetime import datetime

from stream.classify import Classification, classify_cad
from stream.eido import parse_eido
from stream.errors import Rejected
from stream.events import DeadLetter, ShootingEvent

EXCERPT_CHARS = 200


def excerpt(raw: bytes | str) -> str:
    """A short printable excerpt of rejected input, for the dead-letter entry."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text[:EXCERPT_CHARS]


def ingest_cad(raw: bytes | str, rules: Classification, received_at: datetime) -> ShootingEvent | DeadLetter | None:
    """Parse and classify one EIDO document; bad input becomes a DeadLetter naming the problem."""
    try:
        report = parse_eido(raw)
    except Rejected as exc:
        return DeadLetter(source="eido", reason=exc.reason, detail=exc.detail, excerpt=excerpt(raw), received_at=received_at)
    return classify_cad(report, rules, received_at)
