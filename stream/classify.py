"""Recognise shootings among CAD incidents, from a per-jurisdiction mapping file planners edit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from stream.events import CadReport, EventKind, ShootingEvent, stable_id


class ShootingType(BaseModel):
    """What one incident type means: the event kind, and whether it is fatal."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: EventKind
    fatal: bool = False


def _normalised(table: dict[str, ShootingType], fold: Callable[[str], str], what: str) -> dict[str, ShootingType]:
    out: dict[str, ShootingType] = {}
    for key, value in table.items():
        folded = fold(key.strip())
        if folded in out:
            raise ValueError(f"{what} {key!r} is listed twice (matching ignores case and outer spaces)")
        out[folded] = value
    return out


class CadMapping(BaseModel):
    """APCO common types (kept upper-case) and local call-type texts (kept lower-case) that are shootings."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    apco: dict[str, ShootingType] = {}
    internal_text: dict[str, ShootingType] = {}

    @field_validator("apco")
    @classmethod
    def _fold_apco(cls, table: dict[str, ShootingType]) -> dict[str, ShootingType]:
        return _normalised(table, str.upper, "APCO code")

    @field_validator("internal_text")
    @classmethod
    def _fold_text(cls, table: dict[str, ShootingType]) -> dict[str, ShootingType]:
        return _normalised(table, str.lower, "internal text")


class Classification(BaseModel):
    """A jurisdiction's classification file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jurisdiction: str
    cad: CadMapping

    def cad_type(self, report: CadReport) -> ShootingType | None:
        """The shooting type of a CAD report; APCO code first, else the local text; None if neither."""
        found = [
            self.cad.apco.get((report.apco_code or "").strip().upper()),
            self.cad.internal_text.get((report.internal_text or "").strip().lower()),
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
