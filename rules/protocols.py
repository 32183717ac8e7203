"""Protocol files, validated into frozen models, and routing an event to the teams it notifies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from geofences.coverage import CoverageMap, Placement
from stream.events import EventKind, Intent, ShootingEvent
from stream.zones import ZoneName


class AudienceSelector(StrEnum):
    """How a protocol names its audience."""

    COVERING_STREET_TEAMS = "covering_street_teams"
    HOSPITAL_TEAM = "hospital_team"


class Protocol(BaseModel):
    """One notification protocol: which events it matches and whom it notifies."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: str
    kinds: tuple[EventKind, ...] = Field(min_length=1)
    intents: tuple[Intent, ...] = ()  # empty: any intent (or none)
    notify: tuple[AudienceSelector, ...] = Field(min_length=1)
    ack_within_minutes: int | None = Field(default=None, gt=0)


class ProtocolFile(BaseModel):
    """A jurisdiction's protocol file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jurisdiction: str
    timezone: ZoneName
    protocols: tuple[Protocol, ...]




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


@dataclass(frozen=True)
class Route:
    """Whom an event notifies, and the flags the decision raises."""

    routings: tuple[Routing, ...]
    flags: tuple[str, ...]


def _audience(selector: AudienceSelector, event: ShootingEvent, placement: Placement | None, coverage: CoverageMap) -> tuple[str, ...]:
    if selector is AudienceSelector.COVERING_STREET_TEAMS:
        return placement.street_teams if placement is not None else ()
    return coverage.hospital_teams.get(event.hospital or "", ())


def route(event: ShootingEvent, placement: Placement | None, protocols: ProtocolSet, coverage: CoverageMap) -> Route:
    """The teams an event notifies, in protocol order, each team once (its first protocol wins).

    ``coverage_gap`` is raised when a protocol asks for the covering street teams and there are none.
    """
    routed: dict[str, Routing] = {}
    flags: list[str] = []
    for protocol in protocols.spec.protocols:
        if event.kind not in protocol.kinds or (protocol.intents and event.intent not in protocol.intents):
            continue
        for selector in protocol.notify:
            teams = _audience(selector, event, placement, coverage)
            if selector is AudienceSelector.COVERING_STREET_TEAMS and not teams and "coverage_gap" not in flags:
                flags.append("coverage_gap")
            for team in teams:
                routed.setdefault(team, Routing(protocol.id, team, protocol.ack_within_minutes))
    return Route(tuple(routed.values()), tuple(flags))
