"""The synthetic year: deterministic, the volumes, places and times domain.md describes, DST-safe, JSONL.

The year is generated once per module; the checks recount it with their own code rather than
trusting the module's summary.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import shapely

from load_tests.history import HistoryEvent, city, generate_year, main, read_jsonl, write_jsonl

YEAR = 2025
CHICAGO = ZoneInfo("America/Chicago")
NORTH_SOUTH = {"Camden", "Near North", "Phillips", "Powderhorn"}
FRIDAY, SATURDAY = 4, 5


@pytest.fixture(scope="module")
def events() -> list[HistoryEvent]:
    """The 2025 year with the default seed, shared by every test here."""
    return generate_year(YEAR)


def _evening_or_night(local: datetime) -> bool:
    return local.hour >= 18 or local.hour < 3


def _night_weekday(local: datetime) -> int:
    # The early hours belong to the night that started the day before.
    return (local.date() - timedelta(days=1 if local.hour < 12 else 0)).weekday()


def _dst_change_days(year: int) -> list[date]:
    days = []
    day = date(year, 1, 1)
    while day.year == year:
        if (
            datetime(day.year, day.month, day.day, tzinfo=CHICAGO).utcoffset()
            != datetime(day.year, day.month, day.day, 23, 59, tzinfo=CHICAGO).utcoffset()
        ):
            days.append(day)
        day += timedelta(days=1)
    return days


def test_same_seed_same_year_other_seed_other_year(events):
    assert generate_year(YEAR, seed=7) == events
    assert generate_year(YEAR, seed=8) != events


def test_volumes_match_domain_facts(events):
    kinds = Counter(e.kind for e in events)
    assert set(kinds) == {"person_shot", "shots_fired", "shotspotter"}
    assert 420 <= kinds["person_shot"] <= 480
    assert 500 <= sum(e.victims for e in events) <= 600
    assert 2700 <= kinds["shots_fired"] <= 3100
    assert 1650 <= kinds["shotspotter"] <= 1950
    assert 4500 <= kinds["shots_fired"] + kinds["shotspotter"] <= 4900


def test_victims_and_ages(events):
    ages = []
    for event in events:
        assert len(event.victim_ages) == event.victims
        if event.kind == "person_shot":
            assert 1 <= event.victims <= 4
            ages.extend(event.victim_ages)
        else:
            assert event.victims == 0
    shot = [e for e in events if e.kind == "person_shot"]
    assert sum(1 for e in shot if e.victims == 1) / len(shot) >= 0.75
    assert all(10 <= age <= 90 for age in ages)
    assert 0.10 <= sum(1 for age in ages if age < 18) / len(ages) <= 0.22
    assert sum(1 for age in ages if 15 <= age <= 35) / len(ages) >= 0.65


def test_every_point_lies_in_its_neighborhood_and_community(events):
    polygons, community_of = city()
    by_hood: dict[str, list[HistoryEvent]] = {}
    for event in events:
        assert event.lat == round(event.lat, 5) and event.lon == round(event.lon, 5)
        assert event.community == community_of[event.neighborhood]
        by_hood.setdefault(event.neighborhood, []).append(event)
    for name, members in by_hood.items():
        inside = shapely.contains_xy(polygons[name], [e.lon for e in members], [e.lat for e in members])
        assert inside.all(), f"points outside {name}: {[e.ref for e, ok in zip(members, inside, strict=True) if not ok]}"


def test_place_concentrated_north_and_south_with_a_tail(events):
    communities = Counter(e.community for e in events)
    assert sum(communities[c] for c in NORTH_SOUTH) / len(events) >= 0.70
    assert 0.05 <= communities["Central"] / len(events) <= 0.15
    # Every other community has a few: the coverage gaps the planners' report should show.
    for community in ("Longfellow", "Northeast", "University", "Nokomis", "Southwest"):
        assert 0 < communities[community] < communities["Phillips"] / 3


def test_most_events_in_the_evening_and_night(events):
    assert sum(1 for e in events if _evening_or_night(e.reported_at)) / len(events) >= 0.60
    hours = Counter(e.reported_at.hour for e in events)
    assert max(hours, key=hours.__getitem__) in (22, 23, 0, 1)


def test_summer_about_forty_percent_above_winter(events):
    months = Counter(e.reported_at.month for e in events)
    ratio = sum(months[m] for m in (6, 7, 8)) / sum(months[m] for m in (12, 1, 2))
    assert 1.25 <= ratio <= 1.6


def test_weekend_nights_highest(events):
    nights = Counter(_night_weekday(e.reported_at) for e in events if _evening_or_night(e.reported_at))
    weekend_per_night = (nights[FRIDAY] + nights[SATURDAY]) / 2
    weekday_per_night = sum(nights[d] for d in (6, 0, 1, 2, 3)) / 5
    assert weekend_per_night > 1.2 * weekday_per_night
    assert min(nights[FRIDAY], nights[SATURDAY]) > max(nights[d] for d in (6, 0, 1, 2, 3))


def test_downtown_mostly_on_friday_and_saturday_nights(events):
    downtown = [e for e in events if e.community == "Central"]
    weekend_nights = [
        e for e in downtown if _evening_or_night(e.reported_at) and _night_weekday(e.reported_at) in (FRIDAY, SATURDAY)
    ]
    assert len(weekend_nights) / len(downtown) >= 0.60


def test_times_are_real_local_times_sorted_and_cover_both_dst_days(events):
    for event in events:
        assert event.reported_at.tzinfo is not None and event.reported_at.year == YEAR
        back = event.reported_at.astimezone(UTC).astimezone(CHICAGO)
        # A nonexistent wall time (02:30 on the spring-forward day) would come back as 03:30.
        assert back.replace(tzinfo=None) == event.reported_at.replace(tzinfo=None), event.ref
        assert back.utcoffset() == event.reported_at.utcoffset(), event.ref
    instants = [e.reported_at.timestamp() for e in events]
    assert instants == sorted(instants)
    spring, autumn = _dst_change_days(YEAR)
    assert spring == date(2025, 3, 9) and autumn == date(2025, 11, 2)
    for day in (spring, autumn):
        assert any(e.reported_at.date() == day for e in events), day
    assert not any(e.reported_at.date() == spring and e.reported_at.hour == 2 for e in events)


def test_refs_unique_and_shaped(events):
    refs = [e.ref for e in events]
    assert len(set(refs)) == len(refs)
    assert refs[0] == f"SYN-{YEAR}-000001"
    assert all(ref.startswith(f"SYN-{YEAR}-") and len(ref) == len("SYN-2025-000000") for ref in refs)


def test_jsonl_round_trip(events, tmp_path):
    path = tmp_path / "year.jsonl"
    assert write_jsonl(events, path) == len(events)
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"ref", "kind", "reported_at", "lat", "lon", "neighborhood", "community", "victims", "ages"}
    assert datetime.fromisoformat(first["reported_at"]).utcoffset() is not None
    back = read_jsonl(path)
    assert back == events
    assert [e.reported_at.timestamp() for e in back] == [e.reported_at.timestamp() for e in events]


def test_cli_writes_the_file_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "history.jsonl"
    assert main(["--year", str(YEAR), "--seed", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "person_shot" in printed and "Near North" in printed and "summer" in printed
    assert len(out.read_text(encoding="utf-8").splitlines()) > 4000
