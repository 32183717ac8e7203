"""Recognise shootings among CAD incidents, from a per-jurisdiction mapping file planners edit."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from stream.events import CadReport, EventKind, ShootingEvent, stable_id


class ShootingType(BaseModel):
    """What one incident type means: the event kind, and whether it is fatal."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: EventKind
    fatal: bool = False


class CadMapping(BaseModel):
    """APCO common types and local internal call-type texts that are shootings."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    apco: dict[str, ShootingType] = {}
    internal_text: dict[str, ShootingType] = {}


class Classification(BaseModel):
    """A jurisdiction's classification file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jurisdiction: str
    cad: CadMapping

    def cad_type(self, report: CadReport) -> ShootingType | None:
        """The shooting type of a CAD report; APCO code first, else the local text; None if neither."""
        apco = {k.strip().upper(): v for k, v in self.cad.apco.items()}
        texts = {k.strip().lower(): v for k, v in self.cad.internal_text.items()}
        found = [
            apco.get((report.apco_code or "").strip().upper()),
            texts.get((report.internal_text or "").strip().lower()),
        ]
        return next((t for t in found if t is not None), None)


def load_classification(path: Path) -> Classification:
    """Load and validate a classification file."""
    with open(path, encoding="utf-8") as fh:
        return Classification.model_validate(yaml.safe_load(fh))


def classify_cad(report: CadReport, rules: Classification, received_at: datetime) -> ShootingEvent | None:
    """The ShootingEvent for a CAD report, or None when the incident is not a shooting."""
    found = rules.cad_type(report)
    if found is None:
        return None
    return ShootingEvent(
        event_id=stable_id("evt", rules.jurisdiction, "eido", report.incident_id, report.updated_at.isoformat()),
        jurisdiction=rules.jurisdiction,
        source="eido",
        incident_id=report.incident_id,
        kind=found.kind,
        fatal=found.fatal,
        reported_at=report.updated_at,
        received_at=received_at,
        location=report.location,
        victim_count=len(report.victim_ages),
        victim_ages=report.victim_ages,
    )
