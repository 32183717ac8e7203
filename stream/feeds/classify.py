"""Recognise shootings among CAD incidents, hospital diagnoses and open-data rows, from a
per-jurisdiction mapping file planners edit. Validated once at load; matching is then dictionary work."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stream.model.events import CadReport, EventKind, Intent, ShootingEvent, stable_id
from stream.model.zones import ZoneName

_ICD_BEGINNING = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")
# A whole ICD-10-CM code: a letter, two letters or digits, then an optional dot and up to four more. Nothing
# else: a code component with text after the code (a name, a record number) is not a code (issue 15).
_ICD10CM_CODE = re.compile(r"^[A-Z][0-9A-Z]{2}(?:\.?[0-9A-Z]{1,4})?$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShootingType(_Frozen):
    """What one incident type means: the event kind, and whether it is fatal."""

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


def lookup(table: dict[str, ShootingType], text: str | None) -> ShootingType | None:
    """Look a text up in a lower-cased table."""
    return table.get((text or "").strip().lower())


class CadMapping(_Frozen):
    """APCO common types (kept upper-case) and local call-type texts (kept lower-case) that are shootings."""

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


def normalise_icd(code: str) -> str:
    """An ICD-10-CM code without dots or spaces, upper-case ("x95.xxxa" → "X95XXXA")."""
    return code.replace(".", "").replace(" ", "").upper()


def canonical_icd(code: str) -> str | None:
    """A well-formed ICD-10-CM code in its one written form ("x9500xa" → "X95.00XA", "y249" → "Y24.9"),
    or None when ``code`` is anything else (text after the code, inner spaces, wrong shape)."""
    text = code.strip().upper()
    if not _ICD10CM_CODE.match(text):
        return None
    bare = text.replace(".", "")
    return bare if len(bare) == 3 else f"{bare[:3]}.{bare[3:]}"


class FirearmCodes(_Frozen):
    """An inclusive range of ICD-10-CM code beginnings ("X93-X95") or one beginning ("Y35.0"), and its intent."""

    codes: str
    intent: Intent
    start: str = Field(default="", exclude=True)
    end: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _parse_range(self) -> FirearmCodes:
        parts = [normalise_icd(p) for p in self.codes.split("-")]
        if len(parts) > 2 or not all(_ICD_BEGINNING.match(p) for p in parts):
            raise ValueError(f"firearm codes {self.codes!r}: expected an ICD-10-CM code beginning such as X93 or a range X93-X95")
        start, end = parts[0], parts[-1]
        if len(start) != len(end) or start > end:
            raise ValueError(f"firearm codes {self.codes!r}: a range needs two beginnings of one length, low to high")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        return self

    def matches(self, normalised_code: str) -> bool:
        """True when a normalised code begins within this range."""
        return self.start <= normalised_code[: len(self.start)] <= self.end


class Hl7Mapping(_Frozen):
    """Which hospital visits are gunshot-wound arrivals."""

    emergency_classes: tuple[str, ...] = ("E",)
    firearm_codes: tuple[FirearmCodes, ...]

    def firearm_intent(self, codes: Iterable[str]) -> tuple[Intent, str] | None:
        """The intent and canonical code of the first well-formed firearm code in ``codes`` (message order), or
        None. A code that is not well formed counts as no code: only the canonical code is ever passed on."""
        for code in codes:
            canonical = canonical_icd(code)
            if canonical is None:
                continue
            entry = self._firearm_entry(canonical)
            if entry is not None:
                return entry.intent, canonical
        return None

    def begins_like_firearm(self, code: str) -> bool:
        """True when ``code`` (well formed or not) begins within a firearm range: "X95.XXXA and a name" does."""
        return self._firearm_entry(code) is not None

    def _firearm_entry(self, code: str) -> FirearmCodes | None:
        normalised = normalise_icd(code)
        return next((entry for entry in self.firearm_codes if entry.matches(normalised)), None)


class CrimeDataMapping(_Frozen):
    """The Crime_Data layer: the Type column, refined by Offense."""

    type: dict[str, ShootingType] = {}
    offense: dict[str, ShootingType] = {}

    @field_validator("type")
    @classmethod
    def _fold_type(cls, table: dict[str, ShootingType]) -> dict[str, ShootingType]:
        return _normalised(table, str.lower, "Crime_Data type")

    @field_validator("offense")
    @classmethod
    def _fold_offense(cls, table: dict[str, ShootingType]) -> dict[str, ShootingType]:
        return _normalised(table, str.lower, "Crime_Data offense")


class PoliceIncidentsMapping(_Frozen):
    """The Police_Incidents tables: the description column."""

    description: dict[str, ShootingType] = {}

    @field_validator("description")
    @classmethod
    def _fold_description(cls, table: dict[str, ShootingType]) -> dict[str, ShootingType]:
        return _normalised(table, str.lower, "Police_Incidents description")


class CsvMapping(_Frozen):
    """Open-data rows that are shootings."""

    crime_data: CrimeDataMapping = CrimeDataMapping()
    police_incidents: PoliceIncidentsMapping = PoliceIncidentsMapping()


class Classification(_Frozen):
    """A jurisdiction's classification file."""

    jurisdiction: str
    timezone: ZoneName
    cad: CadMapping
    hl7: Hl7Mapping
    csv: CsvMapping = CsvMapping()



    @property
    def zone(self) -> ZoneInfo:
        """The local time zone of timestamps without an offset."""
        return ZoneInfo(self.timezone)

    def cad_type(self, report: CadReport) -> ShootingType | None:
        """The shooting type of a CAD report; APCO code first, else the local text; None if neither."""
        by_apco = self.cad.apco.get((report.apco_code or "").strip().upper())
        return by_apco or lookup(self.cad.internal_text, report.internal_text)


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
        ref=report.incident_id,
        kind=found.kind,
        fatal=found.fatal,
        reported_at=report.updated_at,
        received_at=received_at,
        location=report.location,
        block=report.block,
        victim_count=len(report.victim_ages),
        victim_ages=report.victim_ages,
    )
