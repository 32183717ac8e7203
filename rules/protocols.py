"""Protocol files, validated into frozen models, and routing an event to the teams it notifies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from geofences.coverage import Placement
from stream.events import EventKind, ShootingEvent


class AudienceSelector(StrEnum):
    """How a protocol names its audience."""

    COVERING_STREET_TEAMS = "covering_street_teams"


class Protocol(BaseModel):
    """One notification protocol: which events it matches and whom it notifies."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: str
    kinds: tuple[EventKind, ...] = Field(min_length=1)
    notify: tuple[AudienceSelector, ...] = Field(min_length=1)
    ack_within_minutes: int | None = Field(default=None, gt=0)


class ProtocolFile(BaseModel):
    """A jurisdiction's protocol file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jurisdiction: str
    timezone: str
    protocols: tuple[Protocol, ...]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as America/Chicago)") from None
        return value


@dataclass(frozen=True)
class ProtocolSet:
    """Loaded protocols and the content hash that every activation records."""

    spec: ProtocolFile
    version: str

    @property
    def zone(self) -> ZoneInfo:
        """The jurisdiction's local time zone (message times, shifts)."""
        return ZoneInfo(self.spec.timezone)


@dataclass(frozen=True)
class Routing:
    """One team to notify, because of one protocol."""

    protocol_id: str
    team: str
    ack_within_minutes: int | None


def load_protocols(path: Path) -> ProtocolSet:
    """Load and validate a protocol file."""
    raw = path.read_bytes()
    spec = ProtocolFile.model_validate(yaml.safe_load(raw))
    ids = [p.id for p in spec.protocols]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{path}: protocol ids must be unique, repeated: {', '.join(duplicates)}")
    return ProtocolSet(spec=spec, version="proto-" + hashlib.sha256(raw).hexdigest()[:16])


def route(event: ShootingEvent, placement: Placement | None, protocols: ProtocolSet) -> list[Routing]:
    """The teams an event notifies, in protocol order, each team once (its first protocol wins)."""
    routed: dict[str, Routing] = {}
    for protocol in protocols.spec.protocols:
        if event.kind not in protocol.kinds:
            continue
        for selector in protocol.notify:
            if selector is AudienceSelector.COVERING_STREET_TEAMS and placement is not None:
                for team in placement.street_teams:
                    routed.setdefault(team, Routing(protocol.id, team, protocol.ack_within_minutes))
    return list(routed.values())
