"""What a message template may use: the facts of the activation at the precision its audience may see.

Street alerts carry a block-level location, never a victim's identity (domain.md, Privacy); the context
holds no identity at all (none passes the adapters), only an age band.
"""

from __future__ import annotations

from typing import Any

from stream.core.phrases import ENGLISH, phrase
from stream.core.state import Activation, Config, Notice
from stream.model.events import EventKind

WHAT = {
    EventKind.PERSON_SHOT: "Person shot",
    EventKind.SHOTS_FIRED: "Shots fired",
    EventKind.SHOTSPOTTER: "ShotSpotter activation",
    EventKind.GSW_ARRIVAL: "Gunshot patient arrived",
}


def age_band(age: int | None) -> str:
    """An age band, never the exact age: under 18, 18-24, 25-34, 35 or over, or unknown."""
    if age is None:
        return "age unknown"
    if age < 18:
        return "under 18"
    return "18-24" if age < 25 else "25-34" if age < 35 else "35 or over"


def where(activation: Activation, precision: str) -> str:
    """The place at a precision: block ("1400 block of Lowry Ave N, Jordan" when CAD sent a civic address, else
    the neighborhood), neighborhood, or none. Never the point: a message is read, forwarded and kept on phones,
    and a street team finds a block by its name, not by coordinates."""
    placement = activation.placement
    neighborhood = placement.neighborhood if placement and placement.neighborhood else None
    if precision == "block" and activation.block:
        return f"{activation.block}, {neighborhood}" if neighborhood else activation.block
    if activation.location is None or precision == "none":
        return "location not given" if activation.location is None else "the city"
    return neighborhood or "outside the city"


def place_name(activation: Activation, hospital: str = "") -> str:
    """The place a message's title names: the neighborhood, else the hospital, else the city."""
    placement = activation.placement
    return (placement.neighborhood if placement and placement.neighborhood else None) or hospital or "Minneapolis"


def message_context(activation: Activation, notice: Notice, step: str, config: Config, escalated: Notice | None,
                    language: str = ENGLISH) -> dict[str, Any]:
    """Template variables for one notification; ``what`` in ``language`` (the rest are names, times and codes,
    or still English: docs/languages.md)."""
    coverage, zone = config.coverage, config.protocols.zone
    team = coverage.teams.get(notice.team)
    audience = team.audience.value if team else "oncall"
    precision = config.protocols.spec.templates[audience].precision  # type: ignore[index]
    first = activation.first_event
    # a hospital team hears of the arrival at its own hospital, with that arrival's time
    own = [(h, i) for h, i in activation.arrivals.values() if team is not None and h in team.covers.hospitals]
    hospital_id, intent = (own or list(activation.arrivals.values()) or [(None, None)])[0]
    hospital = coverage.hospital_names.get(hospital_id or "", hospital_id or "")
    reported_at = activation.arrived_at.get(hospital_id or "") if audience == "hospital" else None
    deadline = escalated.ack_deadline if escalated else notice.ack_deadline
    what = phrase(f"what.{activation.kind.value}", language)
    what = phrase("what.fatal", language, what=what) if activation.fatal else what
    return {
        "what": what,
        "where": where(activation, precision),
        "place": place_name(activation, hospital),
        "reported": (reported_at or (first.reported_at if first else activation.opened_at)).astimezone(zone).strftime("%a %H:%M"),
        "ack_by": deadline.astimezone(zone).strftime("%H:%M") if deadline else "",
        "ref": activation.id,
        "step": step,
        "rule": notice.protocol,
        "rule_name": config.protocols.names.get(notice.protocol, notice.protocol),
        "flags": list(activation.flags),
        "hospital": hospital or "an unknown hospital",
        "intent": (intent.value if intent else "unknown").replace("_", " "),
        "age_band": age_band(min(activation.ages) if activation.ages else None),
        "team": notice.team,
        "escalated_team": escalated.team if escalated else "",
        "declined": bool(escalated and escalated.declined_at is not None),  # the team answered "can't respond"
    }
