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


def alert_text(
    event: ShootingEvent,
    placement: Placement | None,
    activation_ref: str,
    ack_deadline: datetime | None,
    zone: ZoneInfo,
) -> tuple[str, str]:
    """Title and body of an initial alert."""
    what = _WHAT[event.kind] + (" (fatal)" if event.fatal else "")
    where = block_level(event, placement)
    when = event.reported_at.astimezone(zone).strftime("%a %H:%M")
    title = f"VIGIL: {what} - {placement.neighborhood if placement and placement.neighborhood else 'Minneapolis'}"
    lines = [f"{what} near {where}, reported {when}."]
    if ack_deadline is not None:
        lines.append(f"Please acknowledge by {ack_deadline.astimezone(zone).strftime('%H:%M')}.")
    lines.append(f"Ref {activation_ref}")
    return title, "\n".join(lines)
