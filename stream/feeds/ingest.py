"""Ingest core: raw input to a ShootingEvent, a Skipped (well-formed, not a shooting), or a DeadLetter."""

from __future__ import annotations

import json
from datetime import datetime

from stream.feeds.classify import Classification, classify_cad
from stream.feeds.eido import eido_report, locate, parse_eido
from stream.model.errors import Rejected
from stream.model.events import DeadLetter, IngestOutcome, Skipped

EXCERPT_CHARS = 200
NOT_A_SHOOTING = "not_a_shooting"


def excerpt(raw: bytes | str) -> str:
    """A short printable excerpt of rejected input, for the dead-letter entry."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text[:EXCERPT_CHARS]


def ingest_cad(raw: bytes | str | dict, rules: Classification, received_at: datetime, locate_skipped: bool = False) -> IngestOutcome:
    """Parse and classify one EIDO document (bytes, text, or an already decoded object); bad input becomes
    a DeadLetter naming the problem. The location is read for shootings only, unless ``locate_skipped``
    (`vigil parse` shows it)."""
    try:
        report = eido_report(raw, with_location=False) if isinstance(raw, dict) else parse_eido(raw, with_location=False)
        shooting = rules.cad_type(report) is not None
        if shooting or locate_skipped:
            report = locate(report)
    except Rejected as exc:
        shown = json.dumps(raw) if isinstance(raw, dict) else raw
        return DeadLetter(source="eido", reason=exc.reason, detail=exc.detail, excerpt=excerpt(shown), received_at=received_at)
    event = classify_cad(report, rules, received_at) if shooting else None
    if event is None:
        return Skipped(source="eido", ref=report.incident_id, reason=NOT_A_SHOOTING, location=report.location, received_at=received_at)
    return event
