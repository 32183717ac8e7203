"""`vigil parse eido|hl7|csv FILE...`: what Vigil makes of each message, one JSON line per message.

Exactly one of ``{"event": {...}}``, ``{"skipped": {...}}`` or ``{"rejected": {...}}`` per message. Rejections
of HL7 carry the reason and detail only (never an excerpt: it could hold patient identity).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import typer

from stream.cli.options import Hl7SecretOption, hl7_secret_of
from stream.feeds.classify import Classification
from stream.feeds.hl7 import ingest_hl7
from stream.feeds.ingest import ingest_cad
from stream.model.events import DeadLetter, IngestOutcome, ShootingEvent, Skipped

KINDS = ("eido", "hl7", "csv")
_MSH_START = re.compile(r"(?:^|[\r\n\x0b\x1c])(?=MSH)")


def eido_documents(text: str) -> Iterator[str]:
    """The EIDO documents of a file: one JSON document, a JSON array of them, or JSON Lines."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        yield from (line for line in text.splitlines() if line.strip())
        return
    if isinstance(whole, list):
        yield from (json.dumps(item) for item in whole)
    else:
        yield text


def hl7_messages(text: str) -> Iterator[str]:
    """The HL7 messages of a file: each begins at an MSH segment; MLLP framing bytes are ignored."""
    for chunk in _MSH_START.split(text):
        chunk = chunk.strip("\x0b\x1c\r\n ")
        if chunk:
            yield chunk


def outcome_line(outcome: IngestOutcome) -> dict[str, Any]:
    """The JSON object `vigil parse` prints for one outcome."""
    if isinstance(outcome, ShootingEvent):
        location = outcome.location
        return {"event": {
            "kind": outcome.kind.value, "ref": outcome.ref, "incident": outcome.incident_id, "source": outcome.source,
            "reported_at": outcome.reported_at.isoformat(),
            "lat": location.lat if location else None, "lon": location.lon if location else None,
            "fatal": outcome.fatal, "victims": outcome.victim_count, "ages": list(outcome.victim_ages),
            "hospital": outcome.hospital, "intent": outcome.intent.value if outcome.intent else None,
            "codes": list(outcome.diagnosis_codes),
        }}
    if isinstance(outcome, Skipped):
        skipped: dict[str, Any] = {"ref": outcome.ref, "reason": outcome.reason}
        if outcome.location is not None:
            skipped |= {"lat": outcome.location.lat, "lon": outcome.location.lon}
        return {"skipped": skipped}
    rejected = {"reason": outcome.reason, "detail": outcome.detail}
    if outcome.source != "hl7":
        rejected["excerpt"] = outcome.excerpt
    return {"rejected": rejected}


def outcomes(kind: str, path: Path, rules: Classification, secret: bytes, now: datetime) -> Iterator[IngestOutcome]:
    """Every message of one file, parsed and classified by the same core the stream uses."""
    if kind == "csv":
        from stream.feeds.opendata import ingest_csv_row, read_csv_rows

        for row in read_csv_rows(path):
            yield ingest_csv_row(row, rules, now)
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    if kind == "eido":
        for doc in eido_documents(text):
            yield ingest_cad(doc, rules, now, locate_skipped=True)
    else:
        for message in hl7_messages(text):
            yield ingest_hl7(message, rules, secret, now)


def parse_files(kind: str, paths: list[Path], rules: Classification, secret: bytes, out: TextIO, err: TextIO) -> int:
    """Print one line per message of every file; 0 when every file could be read, 1 otherwise."""
    status = 0
    now = datetime.now(UTC)
    for path in paths:
        try:
            found = list(outcomes(kind, path, rules, secret, now))
        except OSError as exc:
            err.write(f"vigil parse: cannot read {path}: {exc.strerror or exc}\n")
            status = 1
            continue
        for outcome in found:
            out.write(json.dumps(outcome_line(outcome), ensure_ascii=False) + "\n")
    return status


__all__ = ["KINDS", "DeadLetter", "parse_files"]


def parse(
    kind: str = typer.Argument(..., help="eido, hl7 or csv."),
    files: list[Path] = typer.Argument(..., help="Files to read."),
    hl7_secret: str = Hl7SecretOption,
) -> None:
    """Print what Vigil makes of each message: one JSON line of event, skipped or rejected."""
    from stream.core.deployment import load_deployment

    if kind not in KINDS:
        typer.echo(f"vigil parse: unknown kind {kind!r}; expected one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    secret = hl7_secret_of(hl7_secret, required=False) if kind == "hl7" else b""
    raise typer.Exit(parse_files(kind, files, load_deployment().classification, secret, sys.stdout, sys.stderr))
