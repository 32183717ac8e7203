"""What the answer page tells the person holding the phone about the incident, from the activation's stored
timeline: what happened, where (at the precision the team's alert had, never finer), a map link at that same
precision, when it was reported, the team's deadline and the time left, and who has answered so far.

Plain functions over typed timeline records: no database, no clock, no network. Precision follows the
audience's message template (rules/minneapolis/protocols.yaml, ``templates.<audience>.precision``):

- ``block``: the hundred-block and the neighborhood ("2400 block of James Ave N, Jordan") when CAD sent a civic
  address, as the alert says it; else the neighborhood and the point rounded to 3 decimals (about 100 m). The map
  links (``geo:`` and OpenStreetMap) carry the rounded point either way: the block's own point is not known, and the
  rounded point is no finer than a block;
- ``neighborhood``: the neighborhood only, never the block; the map links carry the neighborhood's centre (the
  centre of its cell nearest its centroid, ``neighborhood_centres``), the same point for every shooting there, so
  the link says no more than the name; no link when the web was not given the centres;
- ``none``: no place at all (the hospital teams' alerts name the hospital, not the scene).

A team the web does not know the audience of gets ``none``: the page may say less than the alert, never more.

The words are in the alert's language (``IntentCreated.language`` of the link's intent, ``language_of``), from
reviews/texts.py and stream/core/phrases.py; English when the alert has none Vigil has texts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

import h3

from geofences.coverage import CoverageMap
from reviews.texts import TEXTS, day_time, text
from stream.core.phrases import ENGLISH, phrase
from stream.core.state import Config
from stream.model.timeline import AckRecorded, ActivationDecided, EventReceived, IntentCreated, TimelineRecord

UNKNOWN_PRECISION = "none"
ANSWERS = ("ack", "on_my_way", "unable")
OSM_ZOOM = 17  # about a block on a phone screen: no closer than the point's own ~100 m
NEIGHBORHOOD_ZOOM = 15  # a neighborhood (about 1.5 km across) on a phone screen


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
    drill: str | None = None  # a drill's banner ("DRILL - not a real shooting, practice only"), None for a real shooting


def team_precisions(config: Config) -> dict[str, str]:
    """Each team's location precision: its audience's message template's (block, neighborhood or none)."""
    templates = config.protocols.spec.templates
    return {team_id: templates[team.audience.value].precision  # type: ignore[index]
            for team_id, team in config.coverage.teams.items() if team.audience.value in templates}


def rounded_point(lat: float, lon: float) -> tuple[str, str]:
    """The point to 3 decimals (about 100 m), as the block-precision alerts show it."""
    return f"{lat:.3f}", f"{lon:.3f}"


def neighborhood_centres(coverage: CoverageMap) -> dict[str, tuple[str, str]]:
    """Each neighborhood's map point for neighborhood-precision pages, to 3 decimals: the centre of its cell nearest
    the mean of its cells' centres (a point inside the neighborhood, even a bent one whose centroid is not)."""
    cells: dict[str, list[tuple[float, float]]] = {}
    for cell, name in coverage.cell_neighborhood.items():
        cells.setdefault(name, []).append(h3.cell_to_latlng(cell))
    centres = {}
    for name, points in cells.items():
        mean_lat, mean_lon = sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
        lat, lon = min(points, key=lambda p: (p[0] - mean_lat) ** 2 + (p[1] - mean_lon) ** 2)
        centres[name] = rounded_point(lat, lon)
    return centres


def map_links(lat: str, lon: str, zoom: int = OSM_ZOOM) -> MapLinks:
    """``geo:`` and OpenStreetMap links to an already rounded point."""
    return MapLinks(geo=f"geo:{lat},{lon}", osm=f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map={zoom}/{lat}/{lon}")


def place(first: EventReceived | None, neighborhood: str | None, precision: str, block: str | None = None,
          centre: tuple[str, str] | None = None, language: str = ENGLISH) -> tuple[str, MapLinks | None]:
    """Where, in words, and the map links, at ``precision`` (module docstring); the words match the alert's.
    ``block``: the hundred-block CAD sent; ``centre``: the neighborhood's map point (``neighborhood_centres``)."""
    if precision == "block" and block:
        words = f"{block}, {neighborhood}" if neighborhood else block
        return words, (map_links(*rounded_point(first.location.lat, first.location.lon)) if first and first.location else None)
    if first is None or first.location is None:
        return text("where.not_given", language), None
    if precision == "neighborhood":
        return neighborhood or text("where.outside", language), (map_links(*centre, zoom=NEIGHBORHOOD_ZOOM) if neighborhood and centre else None)
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
                now: datetime, centres: Mapping[str, tuple[str, str]] | None = None, language: str = ENGLISH) -> Incident:
    """The incident as the answer page for ``team``'s link (its intent ``intent_id``) shows it at ``now``, in ``language``;
    ``centres``: the neighborhoods' map points (``neighborhood_centres``), none when not given."""
    received = [r for r in records if isinstance(r, EventReceived)]
    located = next((r for r in received if r.location is not None), received[0] if received else None)
    block = next((r.block for r in received if r.block), None)  # the first report's that has one, as the core keeps it
    decided = [r for r in records if isinstance(r, ActivationDecided)]
    neighborhood = decided[-1].neighborhood if decided else None
    intent = next((r for r in records if isinstance(r, IntentCreated) and r.intent_id == intent_id), None)
    where, links = place(located, neighborhood, precisions.get(team, UNKNOWN_PRECISION), block,
                         (centres or {}).get(neighborhood or ""), language)
    deadline = intent.ack_deadline if intent is not None else None
    return Incident(
        what=phrase(f"what.{received[0].event_kind.value}", language) if received else "Shooting",
        where=where,
        map=links,
        reported=day_time(received[0].reported_at.astimezone(zone), language) if received else None,
        deadline=f"{deadline.astimezone(zone):%H:%M}" if deadline is not None else None,
        time_left=time_left(deadline, now, language) if deadline is not None else None,
        answers=answers_so_far(records, team, zone, language),
        drill=phrase("drill.body", language) if any(r.drill for r in decided) else None,
    )
