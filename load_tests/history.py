"""A realistic synthetic year of Minneapolis shootings, for coverage-gap reports and load tests.

    python -m load_tests.history --year 2025 [--seed 7] [--out PATH.jsonl]

Every figure comes from docs/domain.md ("Facts for realistic data") and is written down once, in the
tables below, so that a planner can read what the year assumes:

- volume: person-shot incidents (~450 a year, 1.2 victims each on average), Sound of Shots Fired
  (~2,900) and ShotSpotter activations (~1,800);
- place: a share per region (North, South, downtown, the rest of the city), a weight per neighborhood
  inside its region, and a point drawn uniformly inside the neighborhood polygon;
- time: month weights × weekday-hour weights over every real local hour of the year; downtown events
  are drawn mostly from Friday and Saturday nights.

Times are built from UTC instants and then shown in America/Chicago, so a nonexistent local time (02:30
on the spring-forward day) can never appear and the repeated hour of the fall-back day occurs twice.

``generate_year``, ``summarize`` and the table helpers are pure: same (year, seed), same list, with no
global random state and no wall clock (they only read the bundled city polygons, once). Only
``write_jsonl``/``read_jsonl`` and the CLI touch the outside world, so that later writers (EIDO documents
for the CAD feed, HL7 ADT^A04 messages for the hospital feed, replay scenarios) can be added on top of
the same ``HistoryEvent`` list.
"""

from __future__ import annotations

import argparse
import json
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

from shapely.geometry import Point, shape
from shapely.prepared import prep

CHICAGO = ZoneInfo("America/Chicago")
CITY_DIR = Path(__file__).resolve().parent.parent / "geofences" / "minneapolis"

KINDS = ("person_shot", "shots_fired", "shotspotter")

# --- Volume -------------------------------------------------------------------------------------
# (mean, standard deviation, lowest, highest) of the yearly count of each kind. The clamps keep an
# unlucky seed inside the ranges domain.md gives; the spread makes two years differ like real ones.
YEARLY_COUNTS: dict[str, tuple[float, float, int, int]] = {
    "person_shot": (450, 10, 425, 475),
    "shots_fired": (2900, 50, 2780, 3020),
    "shotspotter": (1800, 40, 1710, 1890),
}

# Victims per person-shot incident: mostly one, sometimes a group. Mean 1.2, so ~450 incidents give
# the ~540 people treated that domain.md reports for a bad year.
VICTIM_COUNT_WEIGHTS: dict[int, float] = {1: 0.85, 2: 0.11, 3: 0.03, 4: 0.01}

# (youngest, oldest, share) of gunshot victims: mostly 15-35, 15% under 18 (which triggers rule P5).
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (12, 14, 0.03),
    (15, 17, 0.12),
    (18, 24, 0.35),
    (25, 34, 0.30),
    (35, 44, 0.12),
    (45, 64, 0.07),
    (65, 80, 0.01),
)

# --- Place --------------------------------------------------------------------------------------
# Share of all events per region, and the communities (communities.geojson) that make up each region.
# "elsewhere" is every community not named here; it has no street team, so its events are the
# coverage gaps a planner looks for.
REGION_SHARES: dict[str, float] = {"north": 0.45, "south": 0.35, "downtown": 0.10, "elsewhere": 0.10}
REGION_COMMUNITIES: dict[str, tuple[str, ...]] = {
    "north": ("Camden", "Near North"),
    "south": ("Phillips", "Powderhorn"),
    "downtown": ("Central",),
}

# Relative weight of a neighborhood inside its region; a neighborhood not listed weighs 1.0. The hot
# spots of the 4th and 3rd precincts weigh most; industrial areas with few residents weigh least.
NEIGHBORHOOD_WEIGHTS: dict[str, float] = {
    # North: Near North community
    "Jordan": 10.0,
    "Hawthorne": 9.0,
    "Near - North": 8.0,
    "Willard - Hay": 7.0,
    "Harrison": 3.0,
    "Sumner - Glenwood": 2.0,
    # North: Camden community
    "Folwell": 7.0,
    "McKinley": 5.0,
    "Cleveland": 5.0,
    "Webber - Camden": 5.0,
    "Lind - Bohanon": 4.0,
    "Victory": 2.0,
    "Shingle Creek": 2.0,
    "Humboldt Industrial Area": 0.3,
    "Camden Industrial": 0.3,
    # South: Phillips community
    "East Phillips": 7.0,
    "Ventura Village": 7.0,
    "Midtown Phillips": 6.0,
    "Phillips West": 6.0,
    # South: Powderhorn community
    "Central": 7.0,
    "Powderhorn Park": 6.0,
    "Corcoran": 4.0,
    "Bryant": 4.0,
    "Lyndale": 4.0,
    "Bancroft": 3.0,
    "Whittier": 3.0,
    "Standish": 2.0,
    # Downtown: Central community (the bar district is in Downtown West)
    "Downtown West": 8.0,
    "Downtown East": 3.0,
    "Elliot Park": 3.0,
    "Loring Park": 2.0,
    "Steven's Square - Loring Heights": 1.0,
    "North Loop": 1.0,
    # Elsewhere: a few places with more than the quiet residential rest
    "Cedar Riverside": 5.0,
    "Seward": 2.0,
    "Longfellow": 2.0,
    "Lowry Hill East": 2.0,
    "Marcy Holmes": 2.0,
    "Holland": 1.5,
    "Hiawatha": 1.5,
}

# --- Time ---------------------------------------------------------------------------------------
# Relative rate per local clock hour (index = hour 0-23): low in the morning, rising through the
# evening, highest 22:00-01:00. About two thirds of the weight lies in 18:00-02:59.
HOUR_WEIGHTS: tuple[float, ...] = (
    9.0, 8.0, 6.0, 4.0, 2.5, 1.5,  # 00-05
    1.0, 1.0, 1.0, 1.0, 1.2, 1.5,  # 06-11
    1.8, 2.0, 2.3, 2.7, 3.2, 4.0,  # 12-17
    5.0, 6.0, 7.0, 8.0, 9.5, 10.0,  # 18-23
)  # fmt: skip

# A night runs from 18:00 to 05:59 and belongs to the weekday it starts on (Monday = 0), so the early
# hours of Saturday are Friday night. The multiplier applies to night hours only: weekend nights are
# the highest, daytime hardly depends on the weekday.
NIGHT_START_HOUR = 18
NIGHT_END_HOUR = 6
NIGHT_WEIGHTS: tuple[float, ...] = (0.90, 0.85, 0.90, 1.00, 1.45, 1.55, 1.10)  # Mon .. Sun night

# Relative rate per day of each month (index = month - 1). Summer (Jun-Aug) is about 40% above winter
# (Dec-Feb) once the months' lengths are counted; spring and autumn lie in between.
MONTH_WEIGHTS: tuple[float, ...] = (0.78, 0.78, 0.85, 0.95, 1.05, 1.08, 1.12, 1.08, 1.00, 0.95, 0.85, 0.80)

# Downtown shootings cluster at bar close on weekend nights: this share of downtown events is drawn
# from Friday and Saturday nights, 22:00-02:59; the rest follow the city-wide pattern.
DOWNTOWN_WEEKEND_SHARE = 0.75
DOWNTOWN_NIGHTS = (4, 5)  # Friday, Saturday
DOWNTOWN_START_HOUR = 22
DOWNTOWN_END_HOUR = 3


def night_of(local: datetime) -> int | None:
    """The weekday (Monday = 0) of the night a local time belongs to, or None in the daytime.

    A night runs 18:00-05:59 and is named after the day it starts on.
    """
    if local.hour >= NIGHT_START_HOUR:
        return local.weekday()
    if local.hour < NIGHT_END_HOUR:
        return (local.weekday() - 1) % 7
    return None


def weekday_hour_weight(weekday: int, hour: int) -> float:
    """Relative rate of the local hour ``hour`` on ``weekday`` (Monday = 0): hour weight × night weight."""
    if hour >= NIGHT_START_HOUR:
        return HOUR_WEIGHTS[hour] * NIGHT_WEIGHTS[weekday]
    if hour < NIGHT_END_HOUR:
        return HOUR_WEIGHTS[hour] * NIGHT_WEIGHTS[(weekday - 1) % 7]
    return HOUR_WEIGHTS[hour]


# The 7 × 24 table the generator uses, derived from the two tables above so they stay the one source.
WEEKDAY_HOUR_WEIGHTS: tuple[tuple[float, ...], ...] = tuple(
    tuple(weekday_hour_weight(day, hour) for hour in range(24)) for day in range(7)
)


@dataclass(frozen=True)
class HistoryEvent:
    """One synthetic shooting report: what, when (local, aware), where, and the victims if any."""

    ref: str
    kind: str
    reported_at: datetime
    lat: float
    lon: float
    neighborhood: str
    community: str
    victims: int
    victim_ages: tuple[int, ...]


@dataclass(frozen=True)
class _Neighborhood:
    name: str
    community: str
    bounds: tuple[float, float, float, float]
    contains: Callable[[Point], bool]  # a prepared polygon's contains: ~10x faster on repeated tests


@dataclass(frozen=True)
class _Table:
    """A weighted choice prepared once: rng.choices with cumulative weights bisects instead of summing."""

    items: tuple
    cum_weights: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[object, float]]) -> _Table:
        items, weights = zip(*pairs, strict=True)
        return cls(tuple(items), tuple(accumulate(weights)))

    def draw(self, rng: random.Random):
        return self.items[bisect_right(self.cum_weights, rng.random() * self.cum_weights[-1])]


def _features(path: Path, name_field: str) -> list[tuple[str, object]]:
    with open(path, encoding="utf-8") as fh:
        collection = json.load(fh)
    # A list, not a set or sorted dict: the file's order is the same on every run, which keeps the
    # generator deterministic whatever PYTHONHASHSEED is.
    return [(str(f["properties"][name_field]).strip(), shape(f["geometry"])) for f in collection["features"]]


@lru_cache(maxsize=1)
def city(directory: Path = CITY_DIR) -> tuple[dict[str, object], dict[str, str]]:
    """The city's neighborhood polygons by name, and each neighborhood's community.

    A neighborhood belongs to the community containing its representative point (demo-deployment.md).
    """
    neighborhoods = _features(directory / "neighborhoods.geojson", "BDNAME")
    communities = _features(directory / "communities.geojson", "CommName")
    community_of = {}
    for name, geom in neighborhoods:
        point = geom.representative_point()  # type: ignore[attr-defined]
        owner = next((c for c, cgeom in communities if cgeom.contains(point)), None)  # type: ignore[attr-defined]
        if owner is None:
            raise ValueError(f"neighborhood {name!r} lies in no community")
        community_of[name] = owner
    return dict(neighborhoods), community_of


def region_of(community: str) -> str:
    """The region (north, south, downtown, elsewhere) a community belongs to."""
    return next((region for region, names in REGION_COMMUNITIES.items() if community in names), "elsewhere")


@lru_cache(maxsize=1)
def _place_tables() -> dict[str, _Table]:
    polygons, community_of = city()
    unknown = set(NEIGHBORHOOD_WEIGHTS) - set(polygons)
    if unknown:
        raise ValueError(f"NEIGHBORHOOD_WEIGHTS names unknown neighborhoods: {sorted(unknown)}")
    by_region: dict[str, list[tuple[_Neighborhood, float]]] = {region: [] for region in REGION_SHARES}
    for name, geom in polygons.items():
        hood = _Neighborhood(name, community_of[name], geom.bounds, prep(geom).contains)  # type: ignore[attr-defined]
        by_region[region_of(hood.community)].append((hood, NEIGHBORHOOD_WEIGHTS.get(name, 1.0)))
    return {region: _Table.of(pairs) for region, pairs in by_region.items()}


def _point_in(hood: _Neighborhood, rng: random.Random) -> tuple[float, float]:
    west, south, east, north = hood.bounds
    while True:
        lon, lat = round(rng.uniform(west, east), 5), round(rng.uniform(south, north), 5)
        # Test the rounded point: rounding moves it up to ~1 m, enough to leave a thin polygon.
        if hood.contains(Point(lon, lat)):
            return lat, lon


def hour_slots(year: int) -> list[tuple[int, datetime]]:
    """Every real local hour of ``year``: (UTC epoch second it starts, its local start time).

    Built by stepping through UTC, so the skipped spring-forward hour is absent and the repeated
    fall-back hour appears twice, each with its own offset.
    """
    start = datetime(year, 1, 1, tzinfo=CHICAGO).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=CHICAGO).astimezone(UTC)
    slots = []
    moment = start
    while moment < end:
        slots.append((int(moment.timestamp()), moment.astimezone(CHICAGO)))
        moment += timedelta(hours=1)
    return slots


def _in_downtown_window(local: datetime) -> bool:
    night = night_of(local)
    in_hours = local.hour >= DOWNTOWN_START_HOUR or local.hour < DOWNTOWN_END_HOUR
    return in_hours and night in DOWNTOWN_NIGHTS


@lru_cache(maxsize=4)
def _time_tables(year: int) -> tuple[_Table, _Table]:
    slots = hour_slots(year)
    weighted = [
        (epoch, MONTH_WEIGHTS[local.month - 1] * WEEKDAY_HOUR_WEIGHTS[local.weekday()][local.hour]) for epoch, local in slots
    ]
    downtown = [
        (epoch, weight) for (epoch, weight), (_, local) in zip(weighted, slots, strict=True) if _in_downtown_window(local)
    ]
    return _Table.of(weighted), _Table.of(downtown)


def _count(kind: str, rng: random.Random) -> int:
    mean, spread, lowest, highest = YEARLY_COUNTS[kind]
    return min(highest, max(lowest, round(rng.gauss(mean, spread))))


def _ages(victims: int, rng: random.Random, bands: _Table) -> tuple[int, ...]:
    ages = []
    for _ in range(victims):
        youngest, oldest = bands.draw(rng)
        ages.append(rng.randint(youngest, oldest))
    return tuple(ages)


def generate_year(year: int, seed: int = 7) -> list[HistoryEvent]:
    """A synthetic year of shooting reports in Minneapolis, sorted by time, refs ``SYN-<year>-NNNNNN``.

    Deterministic for a given (year, seed): the only randomness is ``random.Random(seed)``.
    """
    rng = random.Random(seed)
    places = _place_tables()
    regions = _Table.of(REGION_SHARES.items())
    all_hours, downtown_hours = _time_tables(year)
    victim_counts = _Table.of(VICTIM_COUNT_WEIGHTS.items())
    age_bands = _Table.of(((youngest, oldest), share) for youngest, oldest, share in AGE_BANDS)

    drafts = []
    for kind in KINDS:
        for _ in range(_count(kind, rng)):
            region = regions.draw(rng)
            hood = places[region].draw(rng)
            lat, lon = _point_in(hood, rng)
            use_downtown = region == "downtown" and rng.random() < DOWNTOWN_WEEKEND_SHARE
            epoch = (downtown_hours if use_downtown else all_hours).draw(rng) + rng.randrange(3600)
            victims = victim_counts.draw(rng) if kind == "person_shot" else 0
            drafts.append((epoch, kind, lat, lon, hood, victims, _ages(victims, rng, age_bands)))

    # Sort on the UTC instant: aware datetimes in one zone compare by wall time and ignore fold, which
    # would misorder the two 01:xx hours of the fall-back night.
    drafts.sort(key=lambda d: (d[0], d[1], d[2], d[3]))
    return [
        HistoryEvent(
            ref=f"SYN-{year}-{n:06d}",
            kind=kind,
            reported_at=datetime.fromtimestamp(epoch, tz=CHICAGO),
            lat=lat,
            lon=lon,
            neighborhood=hood.name,
            community=hood.community,
            victims=victims,
            victim_ages=ages,
        )
        for n, (epoch, kind, lat, lon, hood, victims, ages) in enumerate(drafts, start=1)
    ]


def to_json(event: HistoryEvent) -> dict:
    """An event as the JSON object of one JSONL line (``reported_at`` ISO 8601 with its offset)."""
    return {
        "ref": event.ref,
        "kind": event.kind,
        "reported_at": event.reported_at.isoformat(),
        "lat": event.lat,
        "lon": event.lon,
        "neighborhood": event.neighborhood,
        "community": event.community,
        "victims": event.victims,
        "ages": list(event.victim_ages),
    }


def from_json(obj: dict) -> HistoryEvent:
    """The inverse of ``to_json``; the time comes back in America/Chicago."""
    return HistoryEvent(
        ref=obj["ref"],
        kind=obj["kind"],
        reported_at=datetime.fromisoformat(obj["reported_at"]).astimezone(CHICAGO),
        lat=obj["lat"],
        lon=obj["lon"],
        neighborhood=obj["neighborhood"],
        community=obj["community"],
        victims=obj["victims"],
        victim_ages=tuple(obj["ages"]),
    )


def write_jsonl(events: Iterable[HistoryEvent], path: Path | str) -> int:
    """Write one JSON object per line to ``path`` (parents created); returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    with open(path, "w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(to_json(event), ensure_ascii=False) + "\n")
            lines += 1
    return lines


def read_jsonl(path: Path | str) -> list[HistoryEvent]:
    """Read a file written by ``write_jsonl``."""
    with open(path, encoding="utf-8") as fh:
        return [from_json(json.loads(line)) for line in fh if line.strip()]


def is_evening_or_night(local: datetime) -> bool:
    """True for a local time in 18:00-02:59, the hours the street teams are asked to cover."""
    return local.hour >= 18 or local.hour < 3


def summarize(events: Sequence[HistoryEvent]) -> dict:
    """The figures a planner checks first: counts by kind and community, evening share, seasonality."""
    by_kind = Counter(e.kind for e in events)
    by_community = Counter(e.community for e in events)
    months = Counter(e.reported_at.month for e in events)
    summer, winter = sum(months[m] for m in (6, 7, 8)), sum(months[m] for m in (12, 1, 2))
    nights = Counter(night_of(e.reported_at) for e in events if is_evening_or_night(e.reported_at))
    weekend_per_night = (nights[4] + nights[5]) / 2
    weekday_per_night = sum(nights[d] for d in (6, 0, 1, 2, 3)) / 5
    downtown = [e for e in events if region_of(e.community) == "downtown"]
    downtown_weekend = sum(1 for e in downtown if is_evening_or_night(e.reported_at) and night_of(e.reported_at) in (4, 5))
    return {
        "events": len(events),
        "by_kind": {kind: by_kind[kind] for kind in KINDS},
        "victims": sum(e.victims for e in events),
        "victims_under_18": sum(1 for e in events for age in e.victim_ages if age < 18),
        "by_community": dict(by_community.most_common()),
        "by_region": dict(Counter(region_of(e.community) for e in events).most_common()),
        "share_18_to_03": round(sum(1 for e in events if is_evening_or_night(e.reported_at)) / len(events), 3),
        "summer_winter_ratio": round(summer / winter, 3) if winter else None,
        "weekend_vs_weekday_night_ratio": round(weekend_per_night / weekday_per_night, 3) if weekday_per_night else None,
        "downtown_fri_sat_night_share": round(downtown_weekend / len(downtown), 3) if downtown else None,
    }


def _print_summary(summary: dict, year: int, seed: int, out: Path | None) -> None:
    print(f"Synthetic year {year} (seed {seed}): {summary['events']} events" + (f" → {out}" if out else ""))
    kinds = ", ".join(f"{kind} {count}" for kind, count in summary["by_kind"].items())
    print(f"  by kind: {kinds}; victims {summary['victims']} ({summary['victims_under_18']} under 18)")
    total = summary["events"]
    print("  by community:")
    for community, count in summary["by_community"].items():
        print(f"    {community:<14} {count:>5}  {count / total:6.1%}")
    regions = ", ".join(f"{region} {count / total:.1%}" for region, count in summary["by_region"].items())
    print(f"  by region: {regions}")
    print(f"  share 18:00-03:00: {summary['share_18_to_03']:.1%}")
    print(f"  summer (Jun-Aug) / winter (Dec-Feb): {summary['summer_winter_ratio']}")
    print(f"  Fri/Sat night vs other nights, per night: {summary['weekend_vs_weekday_night_ratio']}")
    print(f"  downtown events on Fri/Sat nights: {summary['downtown_fri_sat_night_share']:.1%}")


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: generate a year, optionally write it as JSONL, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="JSONL file to write (omit to print the summary only)")
    args = parser.parse_args(argv)
    events = generate_year(args.year, args.seed)
    if args.out:
        write_jsonl(events, args.out)
    _print_summary(summarize(events), args.year, args.seed, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
