"""A realistic year of the demo deployment's input feeds: CAD (NENA EIDO JSON) and hospital arrivals (HL7 ADT).

    python -m load_tests.generator --year 2025 [--seed 7] [--from 2025-07-01 --days 7] --out FEED.jsonl
    python -m load_tests.generator --year 2025 --days 1 --bootstrap HOST:PORT [--topic-prefix P]
                                   [--rate 200 | --speedup 60] [--stream-time]

What the year holds, on top of the shootings of ``load_tests.history`` (place, time, volume, victims):

- every shooting as the CAD system sends it: a first version, then re-sends on every change (same
  incident, a later ``lastUpdateTimeStamp``); a share of the person-shot incidents start as "Sound of
  Shots Fired" and are upgraded to "Shooting (PFE)" with their victims a few minutes later;
- every person-shot victim arriving at an emergency department 5-40 minutes after the first report, as an
  HL7 ADT^A04 (synthetic patient), and for some of them an A08 update later (never an alert);
- CAD noise: ordinary 911 calls (traffic stops, thefts, medical calls...), with their own re-sends, placed
  anywhere in the city and timed like all calls (afternoon and evening peak, a mild summer rise), so that
  shootings are 2% of the CAD documents as on the city's feed (docs/domain.md).

Generation is pure: ``feed(year, seed, start, end)`` is an iterator of ``FeedItem`` in time order, built
from ``random.Random`` instances seeded by (seed, incident) or (seed, day), never the wall clock. A day's
noise depends only on (seed, day), so any range of days holds exactly the items the whole year holds
in that range, and a long range streams in bounded memory. Only ``write_scenario``, the broker sender and
the CLI touch the outside world.

Output: scenario JSON Lines as `vigil replay` reads them (``{"at", "source": "eido"|"hl7", "payload"}``),
or records on the broker: EIDO to the CAD topic; HL7 parsed and stripped of the patient as `vigil
hl7-listen` does (``stream.feeds.hl7.ingest_hl7``), the gunshot arrivals to the hospital-arrivals topic.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from load_tests.history import CHICAGO, MONTH_WEIGHTS, HistoryEvent, _Table, city, generate_year, hour_slots, region_of
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage, Patient

# --- CAD versions of a shooting -----------------------------------------------------------------
# (APCO common registry code, internal call type) as Minneapolis' CAD sends each kind
# (stream/minneapolis/classification.yaml reads them).
SHOOTING_TYPES: dict[str, tuple[str, str]] = {
    "person_shot": ("SHOOT", "Shooting (PFE)"),
    "shots_fired": ("OTHER", "Sound of Shots Fired (P)"),
    "shotspotter": ("OTHER", "ShotSpotter Activation (P)"),
}
# A share of person-shot incidents are first called in as shots heard; the victim is found minutes later.
UPGRADE_SHARE = 0.30
UPGRADE_AFTER_S = (120, 600)
# Re-sends per incident (CAD sends the whole incident again on every change: units assigned, arrived,
# cleared), each 1-30 minutes after the previous version. Shootings change more than ordinary calls.
SHOOTING_RESENDS: dict[int, float] = {0: 0.35, 1: 0.35, 2: 0.20, 3: 0.10}
NOISE_RESENDS: dict[int, float] = {0: 0.55, 1: 0.30, 2: 0.15}
RESEND_AFTER_S = (60, 1800)

# --- Hospital arrivals --------------------------------------------------------------------------
ARRIVAL_AFTER_S = (5 * 60, 40 * 60)  # from the first report to the ED registration (domain.md)
ARRIVAL_UPDATE_SHARE = 0.30  # an A08 (update of the registration) follows some arrivals
ARRIVAL_UPDATE_AFTER_S = (10 * 60, 90 * 60)
# Where the victims of each region are taken (hospitals.csv ids). HCMC is the city's level I trauma
# centre and takes most; North Memorial is nearest to North; a few reach the West Bank ED, which has no
# Next Step team (a coverage gap the review shows). Children under 16 go mostly to Children's.
HOSPITALS_BY_REGION: dict[str, dict[str, float]] = {
    "north": {"hcmc": 0.60, "northmemorial": 0.35, "umm-westbank": 0.05},
    "south": {"hcmc": 0.55, "abbott": 0.40, "umm-westbank": 0.05},
    "downtown": {"hcmc": 0.85, "abbott": 0.10, "umm-westbank": 0.05},
    "elsewhere": {"hcmc": 0.55, "abbott": 0.25, "umm-westbank": 0.20},
}
CHILDRENS_UNDER = 16
CHILDRENS_SHARE = 0.6
# ICD-10-CM external-cause code of the injury, by intent (classification.yaml's firearm ranges).
DIAGNOSES: dict[tuple[str, str], float] = {
    ("X95.XXXA", "Assault by other and unspecified firearm discharge"): 0.80,
    ("X93.XXXA", "Assault by handgun discharge"): 0.08,
    ("W34.00XA", "Accidental discharge from unspecified firearms"): 0.06,
    ("Y24.9XXA", "Unspecified firearm discharge, undetermined intent"): 0.06,
}
# Synthetic patients: invented combinations, no real person's record.
GIVEN_NAMES = ("ALEX", "JORDAN", "TAYLOR", "MORGAN", "CASEY", "JAMIE", "RILEY", "AVERY", "DEVON", "QUINN", "SKYLER", "REESE")
FAMILY_NAMES = ("SYNTHSON", "TESTWELL", "FAKERLY", "MOCKSTON", "SAMPLER", "DUMMET", "PLACEBY", "EXAMPLA")

# --- CAD noise ----------------------------------------------------------------------------------
NOISE_PER_SHOOTING_DOC = 49  # 49 ordinary documents per shooting document: shootings are 2% of the feed
# (APCO code, internal call type, relative frequency) of ordinary calls; none is a shooting type.
NOISE_TYPES: tuple[tuple[str, str, float], ...] = (
    ("TRAFFIC", "Traffic Stop (P)", 16.0),
    ("SUSP", "Suspicious Person (P)", 9.0),
    ("DISTURB", "Disturbance (P)", 8.0),
    ("MED", "Medical (F)", 8.0),
    ("ALARM", "Burglary Alarm (P)", 7.0),
    ("THEFT", "Theft (P)", 7.0),
    ("WELFARE", "Welfare Check (P)", 6.0),
    ("MVA", "Motor Vehicle Accident (P)", 5.0),
    ("DOMESTIC", "Domestic Abuse (P)", 5.0),
    ("NOISE", "Loud Party (P)", 4.0),
    ("PARKING", "Parking Problem (P)", 4.0),
    ("ASSIST", "Assist Other Agency (P)", 4.0),
    ("FIRE", "Fire Alarm (F)", 3.0),
    ("BURG", "Burglary of Dwelling (P)", 3.0),
    ("ROBBERY", "Robbery of Person (P)", 2.0),
    ("ASSAULT", "Assault in Progress (P)", 2.0),
    ("FIGHT", "Fight (P)", 2.0),
    ("WEAPON", "Person with a Weapon (P)", 1.5),
    ("MISSING", "Missing Person (P)", 1.0),
    ("CHECK", "Check the Welfare of a Child (P)", 1.0),
)
# Relative rate of all 911 calls per local hour: unlike shootings, they peak in the afternoon and early
# evening and are lowest before dawn.
NOISE_HOUR_WEIGHTS: tuple[float, ...] = (
    3.2, 2.6, 2.2, 1.7, 1.4, 1.4,  # 00-05
    2.0, 3.0, 3.8, 4.2, 4.5, 4.7,  # 06-11
    4.9, 5.0, 5.2, 5.6, 5.9, 6.0,  # 12-17
    5.8, 5.5, 5.0, 4.6, 4.2, 3.7,  # 18-23
)  # fmt: skip
NOISE_WEEKDAY_WEIGHTS: tuple[float, ...] = (0.97, 0.96, 0.97, 0.99, 1.07, 1.06, 0.98)  # Monday .. Sunday
# All calls rise less with the summer than shootings do: half the shootings' seasonal swing.
NOISE_MONTH_WEIGHTS: tuple[float, ...] = tuple(1 + (w - 1) / 2 for w in MONTH_WEIGHTS)


@dataclass(frozen=True)
class FeedItem:
    """One message of the feeds: when Vigil receives it, from which feed, what it stands for, the payload.

    ``what``: ``noise`` (an ordinary call), ``shooting`` (a shooting's first CAD version), ``upgrade``
    (shots fired becomes person shot), ``resend`` (a later version, nothing new), ``arrival`` (HL7
    ADT^A04 of a gunshot victim), ``arrival_update`` (HL7 A08). ``kind`` is the shooting kind the CAD
    document carries (None for noise and HL7); ``incident`` is the CAD incident id, for HL7 the ref of
    the shooting the patient comes from. ``payload`` is the EIDO document or the HL7 text.
    """

    at: datetime
    source: str
    what: str
    incident: str
    kind: str | None
    payload: Any

    def scenario_line(self) -> dict[str, Any]:
        """The item as a `vigil replay` scenario line."""
        return {"at": self.at.isoformat(), "source": self.source, "payload": self.payload}


def _weighted(pairs: Iterable[tuple[object, float]]) -> _Table:
    return _Table.of(pairs)


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=CHICAGO)


def _eido(incident: str, epoch: float, kind_or_type: tuple[str, str], lat: float, lon: float, ages: Sequence[int] = ()) -> dict[str, Any]:
    apco, text = kind_or_type
    return build_eido(incident, _local(epoch).isoformat(), apco=apco, internal_text=text, lat=lat, lon=lon, victim_ages=list(ages) or None)


def _resend_times(after: float, weights: _Table, rng: random.Random) -> list[float]:
    times, moment = [], after
    for _ in range(weights.draw(rng)):
        moment += rng.randint(*RESEND_AFTER_S)
        times.append(moment)
    return times


def _patient(rng: random.Random, age: int, arrived: datetime, n: int) -> Patient:
    # a birth date that makes the victim exactly ``age`` on the arrival day
    born = date(arrived.year - age - 1, 1, 1) + timedelta(days=rng.randrange(365))
    if (born.month, born.day) == (2, 29):
        born = born.replace(day=28)  # a birthday every year keeps the age exact
    if (born.month, born.day) <= (arrived.month, arrived.day):
        born = born.replace(year=born.year + 1)
    return Patient(
        family=rng.choice(FAMILY_NAMES), given=rng.choice(GIVEN_NAMES), mrn=f"MRN{rng.randrange(10**7):07d}",
        birth_date=born.strftime("%Y%m%d"), street=f"{rng.randrange(100, 4000)} SYNTHETIC AVE N", city="MINNEAPOLIS",
        phone=f"(612)555-{rng.randrange(10**4):04d}", ssn="000-00-0000", account=f"ACCT{n:07d}",
    )


def _hospital(region: str, age: int, rng: random.Random) -> str:
    if age < CHILDRENS_UNDER and rng.random() < CHILDRENS_SHARE:
        return "childrens"
    return _weighted(HOSPITALS_BY_REGION[region].items()).draw(rng)


def shooting_items(event: HistoryEvent, seed: int) -> list[FeedItem]:
    """Every message one shooting of the history causes: its CAD versions (first report, upgrade, re-sends)
    and, for a person shot, each victim's ED registration and its updates. Unsorted."""
    rng = random.Random(f"{seed}:{event.ref}")
    first = event.reported_at.timestamp()
    upgraded = event.kind == "person_shot" and rng.random() < UPGRADE_SHARE
    first_kind = "shots_fired" if upgraded else event.kind
    first_ages = () if upgraded else event.victim_ages
    items = [FeedItem(_local(first), "eido", "shooting", event.ref, first_kind,
                      _eido(event.ref, first, SHOOTING_TYPES[first_kind], event.lat, event.lon, first_ages))]
    latest, latest_kind, latest_ages = first, first_kind, first_ages
    if upgraded:
        latest, latest_kind, latest_ages = first + rng.randint(*UPGRADE_AFTER_S), "person_shot", event.victim_ages
        items.append(FeedItem(_local(latest), "eido", "upgrade", event.ref, latest_kind,
                              _eido(event.ref, latest, SHOOTING_TYPES[latest_kind], event.lat, event.lon, latest_ages)))
    for moment in _resend_times(latest, _weighted(SHOOTING_RESENDS.items()), rng):
        items.append(FeedItem(_local(moment), "eido", "resend", event.ref, latest_kind,
                              _eido(event.ref, moment, SHOOTING_TYPES[latest_kind], event.lat, event.lon, latest_ages)))
    region = region_of(event.community)
    for n, age in enumerate(event.victim_ages, start=1):
        arrived = _local(first + rng.randint(*ARRIVAL_AFTER_S))
        hospital = _hospital(region, age, rng)
        visit = f"V{event.ref[4:].replace('-', '')}{n:02d}"
        patient = _patient(rng, age, arrived, n)
        diagnosis = _weighted(DIAGNOSES.items()).draw(rng)
        diagnoses = [(diagnosis[0], diagnosis[1], "I10")]
        control = f"{hospital.upper().replace('-', '')}{event.ref[4:].replace('-', '')}{n:02d}"
        adt = AdtMessage(control, hospital, arrived, visit_number=visit, diagnoses=diagnoses, patient=patient)
        items.append(FeedItem(arrived, "hl7", "arrival", event.ref, None, adt.render()))
        if rng.random() < ARRIVAL_UPDATE_SHARE:
            updated = arrived + timedelta(seconds=rng.randint(*ARRIVAL_UPDATE_AFTER_S))
            update = AdtMessage(control + "U", hospital, updated, trigger="A08", visit_number=visit, diagnoses=diagnoses, patient=patient)
            items.append(FeedItem(updated, "hl7", "arrival_update", event.ref, None, update.render()))
    return items


@lru_cache(maxsize=1)
def _noise_places() -> tuple[tuple[tuple[float, float, float, float], Any], ...]:
    from shapely.prepared import prep

    polygons, _ = city()
    # every neighborhood alike: ordinary calls come from the whole city, not from its hot spots
    return tuple((geom.bounds, prep(geom).contains) for _, geom in polygons.items())  # type: ignore[attr-defined]


def _noise_point(rng: random.Random) -> tuple[float, float]:
    from shapely.geometry import Point

    (west, south, east, north), contains = rng.choice(_noise_places())
    while True:
        lon, lat = round(rng.uniform(west, east), 5), round(rng.uniform(south, north), 5)
        if contains(Point(lon, lat)):
            return lat, lon


@lru_cache(maxsize=4)
def _days(year: int) -> tuple[tuple[date, tuple[tuple[int, float], ...]], ...]:
    """Every local day of the year with its real hours: (UTC epoch the hour starts, the hour's noise weight)."""
    by_day: dict[date, list[tuple[int, float]]] = {}
    for epoch, local in hour_slots(year):
        weight = NOISE_HOUR_WEIGHTS[local.hour] * NOISE_WEEKDAY_WEIGHTS[local.weekday()] * NOISE_MONTH_WEIGHTS[local.month - 1]
        by_day.setdefault(local.date(), []).append((epoch, weight))
    return tuple((day, tuple(hours)) for day, hours in by_day.items())


@lru_cache(maxsize=4)
def _hours_of(year: int) -> dict[date, tuple[tuple[int, float], ...]]:
    return dict(_days(year))


def noise_items(year: int, day: date, documents: float, seed: int) -> list[FeedItem]:
    """A day's ordinary calls: incidents with their re-sends until about ``documents`` CAD documents
    (Poisson-like spread). Depends only on (year, day, documents, seed). Unsorted."""
    hours = _hours_of(year)[day]
    rng = random.Random(f"{seed}:noise:{day.isoformat()}")
    target = max(0, round(rng.gauss(documents, math.sqrt(documents))))
    slots = _weighted(hours)
    resends = _weighted(NOISE_RESENDS.items())
    types = _weighted(((apco, text), weight) for apco, text, weight in NOISE_TYPES)
    items: list[FeedItem] = []
    n = 0
    while len(items) < target:
        n += 1
        incident = f"MP{day:%y%j}-{n:05d}"
        first = slots.draw(rng) + rng.randrange(3600)
        call = types.draw(rng)
        lat, lon = _noise_point(rng)
        for what, moment in [("noise", first)] + [("noise", t) for t in _resend_times(first, resends, rng)]:
            items.append(FeedItem(_local(moment), "eido", what, incident, None, _eido(incident, moment, call, lat, lon)))
    return items[:target] if len(items) > target else items


def noise_per_day(year: int, shooting_docs: int) -> dict[date, float]:
    """The expected number of ordinary CAD documents of each day: ``NOISE_PER_SHOOTING_DOC`` per shooting
    document of the year, spread by the days' call weights."""
    days = _days(year)
    weights = {day: sum(w for _, w in hours) for day, hours in days}
    total = sum(weights.values())
    return {day: shooting_docs * NOISE_PER_SHOOTING_DOC * w / total for day, w in weights.items()}


@lru_cache(maxsize=2)
def year_shootings(year: int, seed: int) -> tuple[FeedItem, ...]:
    """Every shooting-caused message of the year (CAD versions and hospital arrivals), in time order."""
    items = [item for event in generate_year(year, seed) for item in shooting_items(event, seed)]
    return tuple(sorted(items, key=lambda i: (i.at.timestamp(), i.source, i.incident, i.what)))


def feed(year: int, seed: int = 7, start: date | None = None, end: date | None = None) -> Iterator[FeedItem]:
    """The feeds of ``year`` from ``start`` to ``end`` (local days, end exclusive; default the whole year),
    in time order. Pure: same arguments, same items."""
    shootings = year_shootings(year, seed)
    cad_docs = sum(1 for i in shootings if i.source == "eido")
    expected = noise_per_day(year, cad_docs)
    days = [(day, hours) for day, hours in _days(year) if (start is None or day >= start) and (end is None or day < end)]
    if not days:
        return
    begin = days[0][1][0][0]
    finish = days[-1][1][-1][0] + 3600
    by_day: dict[date, list[FeedItem]] = {}
    for item in shootings:
        if begin <= item.at.timestamp() < finish:
            by_day.setdefault(item.at.date(), []).append(item)
    pending: list[tuple[float, int, FeedItem]] = []
    sequence = 0
    for index, (day, _) in enumerate(days):
        for item in sorted(noise_items(year, day, expected[day], seed), key=lambda i: (i.at.timestamp(), i.incident)) + by_day.get(day, []):
            if item.at.timestamp() < finish:  # a re-send after the range's end belongs to the next range
                heapq.heappush(pending, (item.at.timestamp(), sequence, item))
                sequence += 1
        next_start = days[index + 1][1][0][0] if index + 1 < len(days) else math.inf
        while pending and pending[0][0] < next_start:
            yield heapq.heappop(pending)[2]


def summarize(items: Iterable[FeedItem]) -> dict[str, Any]:
    """What a feed holds: documents by feed and purpose, the noise share of CAD, shootings by kind."""
    by_what: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    cad = noise = 0
    first = last = None
    for item in items:
        by_what[item.what] += 1
        first = first or item.at
        last = item.at
        if item.source == "eido":
            cad += 1
            noise += item.kind is None
            if item.what == "shooting":
                by_kind[item.kind or ""] += 1
    return {
        "from": first.isoformat() if first else None, "to": last.isoformat() if last else None,
        "cad_documents": cad, "hl7_messages": by_what["arrival"] + by_what["arrival_update"],
        "noise_share_of_cad": round(noise / cad, 4) if cad else None,
        "by_what": dict(sorted(by_what.items())), "shootings_by_kind": dict(sorted(by_kind.items())),
    }


# --- The outside world --------------------------------------------------------------------------

def write_scenario(items: Iterable[FeedItem], path: Path | str) -> int:
    """Write the items as `vigil replay` JSON Lines (parents created); returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    with open(path, "w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.scenario_line(), ensure_ascii=False, separators=(",", ":")) + "\n")
            lines += 1
    return lines


@dataclass
class SendReport:
    """What a broker send did."""

    cad: int = 0
    arrivals: int = 0
    hl7_not_produced: int = 0  # A08 updates and anything else the listener ACKs without a record
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        """Messages handled per second of the send."""
        return (self.cad + self.arrivals + self.hl7_not_produced) / self.seconds if self.seconds else 0.0


class BrokerSender:
    """Sends feed items to a deployment's input topics, paced by a rate or a speed-up, or as fast as it can.

    CAD: the EIDO document as bytes to the CAD topic, keyed by incident (a re-send stays behind its
    incident's earlier versions), or all on one key (``single_partition``: one total order, for stream-time
    workers whose results are compared with a replay). HL7: parsed and stripped as `vigil hl7-listen` does;
    a gunshot arrival becomes the ``ShootingEvent`` record the listener produces (same key: the visit key),
    anything else is answered by the listener and produces nothing.

    ``stream_time``: each record carries its item's moment as its Kafka timestamp (workers started with
    ``--stream-time`` take that as their clock), and an arrival is sent only once every shooting document
    before it has reached the events topic, and waited for in turn, so that it can never overtake the
    incident it belongs to on its way through the two ingest agents.

    Waiting for the events topic (``wait_for_core``) goes by each input's event id (a count would be fooled
    by a duplicate) and by progress, not by a fixed time: it waits as long as records keep reaching the
    events topic, and gives up only after ``idle_s`` without one (or at ``cap_s``), naming the inputs still
    missing. ``waits`` keeps how long each wait took, so a run can tell late inputs from lost ones.
    """

    def __init__(self, bootstrap: str, topics: Any, deployment: Any, hl7_secret: bytes, *, stream_time: bool = False,
                 single_partition: bool = False, linger_ms: int = 5):
        self.bootstrap = bootstrap
        self.topics = topics
        self.deployment = deployment
        self.hl7_secret = hl7_secret
        self.stream_time = stream_time
        self.single_partition = single_partition
        self.linger_ms = linger_ms
        self.to_core = 0  # records sent that reach the events topic (shooting documents, arrivals, ticks)
        self._producer: Any = None
        self._watcher: Any = None
        self._seen = 0
        # stream-time mode: the event ids sent and not yet seen on the events topic, and the ticks
        self.awaiting: dict[str, str] = {}  # event id -> what it is (source, incident, moment)
        self.not_shootings = 0  # documents the feed marks as shootings that ingest does not make an event of
        self._ticks_sent = self._ticks_seen = 0
        self.waits: list[float] = []  # seconds each wait_for_core took

    async def __aenter__(self) -> BrokerSender:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=self.linger_ms, max_batch_size=256 * 1024)
        await self._producer.start()
        if self.stream_time:
            self._watcher = AIOKafkaConsumer(self.topics.events, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
                                             enable_auto_commit=False, group_id=None, fetch_max_wait_ms=10)
            await self._watcher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._watcher is not None:
            await self._watcher.stop()

    async def wait_for_core(self, idle_s: float = 120.0, cap_s: float = 3600.0) -> None:
        """Until the events topic holds every input sent to the core so far (stream-time mode): by event id,
        for as long as records keep arriving there; ``TimeoutError`` naming the missing inputs after
        ``idle_s`` without a record (or ``cap_s`` in all)."""
        if self._watcher is None:
            return
        began = last_record = time.monotonic()
        while self.awaiting or self._ticks_seen < self._ticks_sent:
            now = time.monotonic()
            if now - last_record > idle_s or now - began > cap_s:
                missing = sorted(self.awaiting.items())
                raise TimeoutError(f"{len(missing)} input(s) and {self._ticks_sent - self._ticks_seen} tick(s) not on the events topic "
                                   f"{now - began:.0f} s into the wait, {now - last_record:.0f} s after its last record: {missing[:10]}")
            batches = await self._watcher.getmany(timeout_ms=50)
            for records in batches.values():
                for record in records:
                    last_record = time.monotonic()
                    self._seen += 1
                    item = json.loads(record.value)
                    if item.get("type") == "tick":
                        self._ticks_seen += 1
                    elif item.get("event"):
                        self.awaiting.pop(item["event"]["event_id"], None)
        self.waits.append(time.monotonic() - began)

    async def send(self, items: Iterable[FeedItem], rate: float | None = None, speedup: float | None = None,
                   on_progress: Any = None) -> SendReport:
        """Send the items in order: ``rate`` items per second, or ``speedup`` × their real pace, or (neither)
        as fast as the producer goes. Returns the counts and the seconds it took."""
        from stream.feeds.hl7 import ingest_hl7
        from stream.feeds.ingest import ingest_cad
        from stream.model.events import ShootingEvent

        report = SendReport()
        futures: list[Any] = []
        started = time.perf_counter()
        origin: float | None = None
        for n, item in enumerate(items):
            if rate or speedup:
                origin = item.at.timestamp() if origin is None else origin
                target = started + (n / rate if rate else (item.at.timestamp() - origin) / speedup)  # type: ignore[operator]
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            stamp = int(item.at.timestamp() * 1000) if self.stream_time else None
            if item.source == "eido":
                key = b"cad" if self.single_partition else item.incident.encode()
                futures.append(await self._producer.send(self.topics.cad, json.dumps(item.payload).encode(), key=key, timestamp_ms=stamp))
                report.cad += 1
                self.to_core += item.kind is not None
                if self.stream_time and item.kind is not None:
                    event = ingest_cad(item.payload, self.deployment.classification, item.at)
                    if isinstance(event, ShootingEvent):
                        self.awaiting[event.event_id] = f"eido {item.incident} {item.at.isoformat()}"
                    else:
                        self.not_shootings += 1
            else:
                received = item.at if self.stream_time else datetime.now(UTC)
                outcome = ingest_hl7(item.payload, self.deployment.classification, self.hl7_secret, received)
                if not isinstance(outcome, ShootingEvent):
                    report.hl7_not_produced += 1
                    continue
                if self.stream_time:
                    await self._flush(futures)
                    await self.wait_for_core()
                futures.append(await self._producer.send(self.topics.hospital_arrivals, outcome.model_dump_json().encode(),
                                                         key=outcome.incident_id.encode(), timestamp_ms=stamp))
                report.arrivals += 1
                self.to_core += 1
                if self.stream_time:
                    self.awaiting[outcome.event_id] = f"hl7 {outcome.incident_id} {item.at.isoformat()}"
                if self.stream_time:
                    await self._flush(futures)
                    await self.wait_for_core()
            if len(futures) >= 2000:
                await self._flush(futures)
                if on_progress is not None:
                    on_progress(report)
        await self._flush(futures)
        report.seconds = time.perf_counter() - started
        return report

    async def tick(self, at: datetime) -> None:
        """A clock tick at ``at`` on the events topic (stream-time workers: escalations due by then fire).

        Sent only once every record before it has reached the events topic: written straight to that
        topic, it would otherwise overtake the documents still in the ingest agent and move the clock
        past them."""
        from stream.model.events import CoreInput

        await self.wait_for_core()
        await self._producer.send_and_wait(self.topics.events, CoreInput(type="tick").model_dump_json().encode(),
                                           key=self.deployment.jurisdiction.encode(), timestamp_ms=int(at.timestamp() * 1000))
        self.to_core += 1
        self._ticks_sent += 1

    @staticmethod
    async def _flush(futures: list[Any]) -> None:
        if futures:
            await asyncio.gather(*futures)
            futures.clear()


async def send_to_broker(items: Iterable[FeedItem], bootstrap: str, prefix: str, rate: float | None, speedup: float | None,
                         stream_time: bool) -> SendReport:
    """The CLI's broker output: make the topics if missing, send, and in stream-time mode end with a tick
    two hours after the last item (the escalations still due fire)."""
    from stream.core.deployment import load_deployment
    from stream.core.replay import hl7_key
    from stream.ops.kafka import Topics, ensure_topics

    topics = Topics(prefix=prefix)
    await ensure_topics(bootstrap, topics)
    deployment = load_deployment()
    last: list[datetime] = []

    def remember(source: Iterable[FeedItem]) -> Iterator[FeedItem]:
        for item in source:
            last[:] = [item.at]
            yield item

    async with BrokerSender(bootstrap, topics, deployment, hl7_key(), stream_time=stream_time, single_partition=stream_time) as sender:
        report = await sender.send(remember(items), rate=rate, speedup=speedup)
        if stream_time and last:
            await sender.tick(last[0] + timedelta(hours=2))
    return report


def _print_summary(summary: dict[str, Any], out: Any = print) -> None:
    out(f"feed {summary['from']} .. {summary['to']}")
    out(f"  CAD documents {summary['cad_documents']} (ordinary calls {summary['noise_share_of_cad']:.1%}), HL7 messages {summary['hl7_messages']}")
    out(f"  by purpose: {summary['by_what']}")
    out(f"  shootings (first reports) by kind: {summary['shootings_by_kind']}")


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: generate a range of the year; write it as a scenario file, or send it to a broker."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first local day (default 1 January)")
    parser.add_argument("--days", type=int, help="how many days (default to the end of the year)")
    parser.add_argument("--out", type=Path, help="scenario JSON Lines to write (`vigil replay` reads it)")
    parser.add_argument("--bootstrap", default=None, help="send to this broker instead (or KAFKA_BOOTSTRAP with --send)")
    parser.add_argument("--send", action="store_true", help="send to KAFKA_BOOTSTRAP")
    parser.add_argument("--topic-prefix", default=os.environ.get("VIGIL_TOPIC_PREFIX", ""))
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="messages per second (default: as fast as the producer goes)")
    pace.add_argument("--speedup", type=float, help="times the real pace of the feed (3600: an hour per second)")
    parser.add_argument("--stream-time", action="store_true",
                        help="records carry the feed's moments as timestamps, one partition, arrivals in order (workers run with --stream-time)")
    args = parser.parse_args(argv)
    start = args.start or date(args.year, 1, 1)
    end = start + timedelta(days=args.days) if args.days else None
    bootstrap = args.bootstrap or (os.environ.get("KAFKA_BOOTSTRAP") if args.send else None)
    if args.out is None and bootstrap is None:
        _print_summary(summarize(feed(args.year, args.seed, start, end)))
        return 0
    counted: Counter[str] = Counter()

    def counting(items: Iterable[FeedItem]) -> Iterator[FeedItem]:
        for item in items:
            counted[item.source] += 1
            yield item

    if args.out is not None:
        lines = write_scenario(counting(feed(args.year, args.seed, start, end)), args.out)
        print(f"{lines} lines ({counted['eido']} EIDO, {counted['hl7']} HL7) -> {args.out}")
    if bootstrap is not None:
        report = asyncio.run(send_to_broker(feed(args.year, args.seed, start, end), bootstrap, args.topic_prefix, args.rate, args.speedup,
                                            args.stream_time))
        print(f"sent {report.cad} CAD documents, {report.arrivals} arrivals ({report.hl7_not_produced} HL7 messages needed no record) "
              f"in {report.seconds:.1f} s ({report.events_per_s:.0f}/s) to {bootstrap}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
