"""What the answer page tells the person holding the phone about the incident, from the activation's stored
timeline: what happened, where (at the precision the team's alert had, never finer), a map link at that same
precision, when it was reported, the team's deadline and the time left, and who has answered so far.

Plain functions over typed timeline records: no database, no clock, no network. Precision follows the
audience's message template (rules/minneapolis/protocols.yaml, ``templates.<audience>.precision``):

- ``block``: the neighborhood and the point rounded to 3 decimals (about 100 m), as the alert says it; the map
  links (``geo:`` and OpenStreetMap) carry that rounded point;
- ``neighborhood``: the neighborhood only, and no map link (any point would be finer than the alert);
- ``none``: no place at all (the hospital teams' alerts name the hospital, not the scene).

A team the web does not know the audience of gets ``none``: the page may say less than the alert, never more.

The words are in the alert's language (``IntentCreated.language`` of the link's intent, ``language_of``), from
reviews/texts.py and stream/core/phrases.py; English when the alert has none Vigil has texts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from reviews.texts import TEXTS, day_time, text
from stream.core.phrases import ENGLISH, phrase
from stream.core.state import Config
from stream.model.timeline import AckRecorded, ActivationDecided, EventReceived, IntentCreated, TimelineRecord

UNKNOWN_PRECISION = "none"
ANSWERS = ("ack", "on_my_way", "unable")
OSM_ZOOM = 17  # about a block on a phone screen: no closer than the point's own ~100 m


@dataclass(frozen=True)
class MapLinks:
    """Links to the rounded point: ``geo:`` opens the phone's map app, ``osm`` a browser map."""

    geo: str
    osm: str


@dataclass(frozen=True)
class Answer:
    """One team's answer so far, as the page lists it."""

    team: str
    label: str
    at: str  # local hours and minutes
    yours: bool  # the team this link is for (another of its members may have answered)


@dataclass(frozen=True)
class Incident:
    """Everything the answer page shows of the incident; None fields are not shown."""

    what: str
    where: str
    map: MapLinks | None
    reported: str | None
    deadline: str | None  # local time, or None for a team without an ack deadline
    time_left: str | None  # "12 min left", "passed 3 min ago"
    answers: tuple[Answer, ...]


def team_precisions(config: Config) -> dict[str, str]:
    """Each team's location precision: its audience's message template's (block, neighborhood or none)."""
    templates = config.protocols.spec.templates
    return {team_id: templates[team.audience.value].precision  # type: ignore[index]
            for team_id, team in config.coverage.teams.items() if team.audience.value in templates}


def rounded_point(lat: float, lon: float) -> tuple[str, str]:
    """The point to 3 decimals (about 100 m), as the block-precision alerts show it."""
    return f"{lat:.3f}", f"{lon:.3f}"


def map_links(lat: str, lon: str) -> MapLinks:
    """``geo:`` and OpenStreetMap links to an already rounded point."""
    return MapLinks(geo=f"geo:{lat},{lon}", osm=f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map={OSM_ZOOM}/{lat}/{lon}")


def place(first: EventReceived | None, neighborhood: str | None, precision: str, language: str = ENGLISH) -> tuple[str, MapLinks | None]:
    """Where, in words, and the map links, at ``precision`` (module docstring); the words match the alert's."""
    if first is None or first.location is None:
        return text("where.not_given", language), None
    if precision == "neighborhood":
        return neighborhood or text("where.outside", language), None
    if precision != "block":
        return text("where.city", language), None
    lat, lon = rounded_point(first.location.lat, first.location.lon)
    point = f"{lat}, {lon}"
    return (f"{neighborhood} ({point})" if neighborhood else point), map_links(lat, lon)


def time_left(deadline: datetime, now: datetime, language: str = ENGLISH) -> str:
    """Whole minutes to the deadline, or since it passed."""
    minutes = int((deadline - now).total_seconds() // 60)
    if minutes >= 0:
        return text("time.left", language, minutes=minutes)
    return text("time.passed", language, minutes=-minutes)


def language_of(records: Sequence[TimelineRecord], intent_id: str) -> str:
    """The language of the alert ``intent_id`` (its IntentCreated's), when the web has texts in it; else English."""
    intent = next((r for r in records if isinstance(r, IntentCreated) and r.intent_id == intent_id), None)
    return intent.language if intent is not None and intent.language in TEXTS else ENGLISH


def answers_so_far(records: Sequence[TimelineRecord], team: str, zone: tzinfo, language: str = ENGLISH) -> tuple[Answer, ...]:
    """Every team's answers recorded so far, oldest first; a team's changed answer is listed again."""
    return tuple(Answer(r.team, phrase(f"answer.{r.response}", language) if r.response in ANSWERS else r.response,
                        f"{r.at.astimezone(zone):%H:%M}", r.team == team)
                 for r in records if isinstance(r, AckRecorded))


def incident_of(records: Sequence[TimelineRecord], team: str, intent_id: str, precisions: Mapping[str, str], zone: tzinfo,
                now: datetime, language: str = ENGLISH) -> Incident:
    """The incident as the answer page for ``team``'s link (its intent ``intent_id``) shows it at ``now``, in ``language``."""
    received = [r for r in records if isinstance(r, EventReceived)]
    located = next((r for r in received if r.location is not None), received[0] if received else None)
    decided = [r for r in records if isinstance(r, ActivationDecided)]
    intent = next((r for r in records if isinstance(r, IntentCreated) and r.intent_id == intent_id), None)
    where, links = place(located, decided[-1].neighborhood if decided else None, precisions.get(team, UNKNOWN_PRECISION), language)
    deadline = intent.ack_deadline if intent is not None else None
    return Incident(
        what=phrase(f"what.{received[0].event_kind.value}", language) if received else "Shooting",
        where=where,
        map=links,
        reported=day_time(received[0].reported_at.astimezone(zone), language) if received else None,
        deadline=f"{deadline.astimezone(zone):%H:%M}" if deadline is not None else None,
        time_left=time_left(deadline, now, language) if deadline is not None else None,
        answers=answers_so_far(records, team, zone, language),
    )
