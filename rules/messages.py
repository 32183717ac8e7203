"""The text of a phone alert: what happened, roughly where (block level), what is asked.

Street alerts carry a block-level location, never a victim's identity (domain.md, Privacy).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from geofences.coverage import Placement
from stream.events import EventKind, ShootingEvent

_WHAT = {
    EventKind.PERSON_SHOT: "Person shot",
    EventKind.SHOTS_FIRED: "Shots fired",
    EventKind.SHOTSPOTTER: "ShotSpotter activation",
    EventKind.GSW_ARRIVAL: "Gunshot patient arrived",
}


def block_level(event: ShootingEvent, placement: Placement | None) -> str:
    """Where, at block precision: the neighborhood and the point rounded to about 100 m."""
    if event.location is None:
        return "location not given"
    where = f"{event.location.lat:.3f}, {event.location.lon:.3f}"
    if placement is not None and placement.neighborhood:
        return f"{placement.neighborhood} ({where})"
    return where


def age_band(age: int | None) -> str:
    """An age band, never the exact age: under 18, 18-24, 25-34, 35 and over, or unknown."""
    if age is None:
        return "age unknown"
    if age < 18:
        return "under 18"
    return "18-24" if age < 25 else "25-34" if age < 35 else "35 or over"


def _arrival_text(event: ShootingEvent, activation_ref: str, ack_deadline: datetime | None, zone: ZoneInfo, hospital_names: dict[str, str]) -> tuple[str, str]:
    hospital = hospital_names.get(event.hospital or "", event.hospital or "a hospital")
    when = event.reported_at.astimezone(zone).strftime("%a %H:%M")
    intent = (event.intent.value if event.intent else "unknown").replace("_", " ")
    lines = [f"Gunshot patient arrived at the {hospital} emergency department, {when}.", f"Injury intent: {intent}; {age_band(event.victim_ages[0] if event.victim_ages else None)}."]
    if ack_deadline is not None:
        lines.append(f"Please acknowledge by {ack_deadline.astimezone(zone).strftime('%H:%M')}.")
    lines.append(f"Ref {activation_ref}")
    return f"VIGIL: Gunshot patient - {hospital}", "\n".join(lines)


def alert_text(
    event: ShootingEvent,
    placement: Placement | None,
    activation_ref: str,
    ack_deadline: datetime | None,
    zone: ZoneInfo,
    hospital_names: dict[str, str],
) -> tuple[str, str]:
    """Title and body of an initial alert."""
    if event.kind is EventKind.GSW_ARRIVAL:
        return _arrival_text(event, activation_ref, ack_deadline, zone, hospital_names)
    what = _WHAT[event.kind] + (" (fatal)" if event.fatal else "")
    where = block_level(event, placement)
    when = event.reported_at.astimezone(zone).strftime("%a %H:%M")
    title = f"VIGIL: {what} - {placement.neighborhood if placement and placement.neighborhood else 'Minneapolis'}"
    lines = [f"{what} near {where}, reported {when}."]
    if ack_deadline is not None:
        lines.append(f"Please acknowledge by {ack_deadline.astimezone(zone).strftime('%H:%M')}.")
    lines.append(f"Ref {activation_ref}")
    return title, "\n".join(lines)
