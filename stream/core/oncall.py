"""Who is on call at a moment: a team's roster turned into people, daylight saving included. Pure, no I/O.

Handoffs and override bounds are local wall-clock times. A wall time that happens twice (the fall-back
night's 01:00-02:00) means its first pass, so a 01:30 handoff happens once and does not flip back in the
repeated hour; a wall time that never happens (the spring-forward night's 02:00-03:00) means the moment the
clocks jump past it. The hours a layer is on (its ``shifts``) are wall-clock, as teams' shifts are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from geofences.roster import LAYERS, LayerName, Roster, Rotation, turn_holder
from geofences.shifts import Schedule

# Offsets move by at most 2 hours (Lord Howe's half hour, Troll's 2 hours); a gap never lasts longer.
_LONGEST_GAP_MINUTES = 120


@dataclass(frozen=True)
class LayerOnCall:
    """Who holds a layer at a moment, and why: ``rotation``, ``swap`` or ``override``."""

    layer: LayerName
    person: str
    source: str


@dataclass(frozen=True)
class OnCall:
    """A team's people on call at a moment (primary first); empty when nobody is."""

    team: str
    at: datetime
    layers: tuple[LayerOnCall, ...]

    def holder(self, layer: LayerName) -> str | None:
        """The person holding ``layer``, or None."""
        return next((entry.person for entry in self.layers if entry.layer == layer), None)

    @property
    def nobody(self) -> bool:
        """True when no layer is held."""
        return not self.layers


def exists(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive local wall time happens at all in ``zone`` (not inside a spring-forward gap)."""
    return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The aware instant of a naive local wall time: its first pass when repeated, the jump when skipped."""
    moment = wall
    for _ in range(_LONGEST_GAP_MINUTES):
        if exists(moment, zone):
            break
        moment += timedelta(minutes=1)
    return moment.replace(tzinfo=zone, fold=0)


def handoff_instant(day: date, handoff: time, zone: ZoneInfo) -> datetime:
    """When the handoff of ``day`` happens."""
    return local_instant(datetime.combine(day, handoff), zone)


def current_turn_day(rotation: Rotation, at: datetime, zone: ZoneInfo) -> date:
    """The date of the last daily handoff at or before ``at`` (the turn running then began on a handoff)."""
    day = at.astimezone(zone).date()
    if at < handoff_instant(day, rotation.handoff, zone):
        day -= timedelta(days=1)
    return day - timedelta(days=(day - rotation.starts).days % rotation.turn_days)


def _layer_on(rotation: Rotation, local: datetime) -> bool:
    schedule: Schedule | None = rotation.schedule
    return schedule is None or schedule.on_shift(local)


def _rotation_holder(roster: Roster, layer: LayerName, at: datetime, zone: ZoneInfo) -> LayerOnCall | None:
    local = at.astimezone(zone)
    for rotation in roster.rotations:
        if rotation.layer != layer or not _layer_on(rotation, local):
            continue
        turn_day = current_turn_day(rotation, at, zone)
        person = turn_holder(rotation, turn_day)
        for swap in roster.swaps:
            if swap.layer == layer and swap.date == turn_day and swap.person == person:
                return LayerOnCall(layer, swap.covered_by, "swap")
        return LayerOnCall(layer, person, "rotation")
    return None


def _override_holder(roster: Roster, layer: LayerName, at: datetime, zone: ZoneInfo) -> LayerOnCall | None:
    # the last override listed wins where two overlap: a later line is a later decision
    for override in reversed(roster.overrides):
        if override.layer == layer and local_instant(override.start, zone) <= at < local_instant(override.end, zone):
            return LayerOnCall(layer, override.person, "override")
    return None


def who_is_on_call(roster: Roster, at: datetime, zone: ZoneInfo) -> OnCall:
    """Who holds each layer of a team at an aware moment: an override, else the rotation (with its swaps).

    Someone holding both layers at once (an override of the primary who is also the secondary's turn)
    is listed once, as primary: paging them twice would not make a second responder."""
    layers: list[LayerOnCall] = []
    for layer in LAYERS:
        entry = _override_holder(roster, layer, at, zone) or _rotation_holder(roster, layer, at, zone)
        if entry is not None and all(entry.person != held.person for held in layers):
            layers.append(entry)
    return OnCall(roster.team, at, tuple(layers))


@dataclass(frozen=True)
class Gap:
    """Hours in a team's shift with nobody on call: local wall-clock start of the first and last such hour."""

    team: str
    first: datetime
    last: datetime

    def __str__(self) -> str:
        end = self.last + timedelta(hours=1)
        return f"{self.team}: nobody on call {self.first:%a %Y-%m-%d %H:%M} to {end:%a %Y-%m-%d %H:%M} (local), inside the team's shift"


def gaps(roster: Roster, schedule: Schedule, zone: ZoneInfo, first_day: date, days: int) -> list[Gap]:
    """Each run of local hours from ``first_day`` on (``days`` days) in which the team is on shift at the
    hour's start and nobody holds any layer; consecutive hours make one gap."""
    found: list[Gap] = []
    wall = datetime.combine(first_day, time())
    for _ in range(days * 24):
        if exists(wall, zone) and schedule.on_shift(wall):
            if who_is_on_call(roster, local_instant(wall, zone), zone).nobody:
                if found and found[-1].last == wall - timedelta(hours=1):
                    found[-1] = Gap(roster.team, found[-1].first, wall)
                else:
                    found.append(Gap(roster.team, wall, wall))
        wall += timedelta(hours=1)
    return found


def people_without_contact(roster: Roster, contacts: dict[str, tuple[str, ...]]) -> list[str]:
    """The roster's people with no contact method in the contacts file (person id → its channels)."""
    return [person.id for person in roster.people if not contacts.get(person.id)]
