"""The generated feeds: deterministic, the volumes, places and times domain.md describes, re-sends,
upgrades and arrivals as CAD and hospitals send them, and every message read by Vigil's own parsers.

The checks parse the generated documents with stream/feeds/eido.py and stream/feeds/hl7.py and recount from what
the parsers return, rather than trusting the generator's own labels.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from load_tests.generator import NOISE_TYPES, FeedItem, feed, main, noise_per_day, summarize, write_scenario, year_shootings
from load_tests.history import generate_year, region_of
from stream.core.replay import read_scenario, replay
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7 import ingest_hl7
from stream.feeds.ingest import ingest_cad
from stream.model.events import EventKind, ShootingEvent, Skipped

YEAR = 2025
HL7_KEY = b"test-visit-key-0123456789"


@pytest.fixture(scope="module")
def shootings() -> tuple[FeedItem, ...]:
    """Every shooting-caused message of 2025 (default seed)."""
    return year_shootings(YEAR, 7)


@pytest.fixture(scope="module")
def july() -> list[FeedItem]:
    """The whole feed of July 2025: noise and shootings."""
    return list(feed(YEAR, 7, date(YEAR, 7, 1), date(YEAR, 8, 1)))


@pytest.fixture(scope="module")
def parsed(shootings, deployment) -> list[tuple[FeedItem, object]]:
    """Each shooting-caused message with what Vigil's parser makes of it."""
    rules = deployment.classification
    out = []
    for item in shootings:
        if item.source == "eido":
            out.append((item, ingest_cad(json.dumps(item.payload).encode(), rules, item.at)))
        else:
            out.append((item, ingest_hl7(item.payload.encode(), rules, HL7_KEY, item.at)))
    return out


def test_same_seed_same_feed_other_seed_other_feed():
    first = list(feed(YEAR, 7, date(YEAR, 3, 8), date(YEAR, 3, 10)))
    assert list(feed(YEAR, 7, date(YEAR, 3, 8), date(YEAR, 3, 10))) == first
    assert list(feed(YEAR, 8, date(YEAR, 3, 8), date(YEAR, 3, 10))) != first


def test_a_range_holds_what_the_longer_range_holds_there():
    day = date(YEAR, 3, 9)  # the spring-forward day: 23 hours
    alone = list(feed(YEAR, 7, day, day + timedelta(days=1)))
    inside = [i for i in feed(YEAR, 7, day - timedelta(days=1), day + timedelta(days=2)) if i.at.date() == day]
    # the day alone cannot hold the re-sends of incidents that began the day before
    began_before = {i.incident for i in inside if i not in alone}
    assert alone == [i for i in inside if i.incident not in began_before]
    assert len(alone) > 800


def test_time_order_and_real_local_times(july):
    instants = [i.at.timestamp() for i in july]
    assert instants == sorted(instants)
    assert all(i.at.tzinfo is not None and i.at.month == 7 for i in july)


def test_noise_is_about_98_percent_of_cad(july, deployment):
    rules = deployment.classification
    cad = [i for i in july if i.source == "eido"]
    # the parser, not the generator's label, says what is a shooting
    not_shootings = sum(isinstance(ingest_cad(i.payload, rules, i.at), Skipped) for i in cad)
    assert 0.975 <= not_shootings / len(cad) <= 0.985
    assert summarize(july)["noise_share_of_cad"] == pytest.approx(not_shootings / len(cad), abs=1e-4)
    # a month of a city's CAD: several hundred thousand calls a year (domain.md)
    assert 30_000 <= len(cad) <= 60_000


def test_yearly_noise_is_49_per_shooting_document(shootings):
    cad_shootings = sum(1 for i in shootings if i.source == "eido")
    expected = noise_per_day(YEAR, cad_shootings)
    assert len(expected) == 365
    assert sum(expected.values()) == pytest.approx(49 * cad_shootings)
    assert 300_000 <= sum(expected.values()) <= 700_000


def test_noise_types_are_not_shootings_and_peak_in_the_afternoon(july, deployment):
    for apco, text, _ in NOISE_TYPES:
        doc = build_eido("X-1", "2025-07-01T12:00:00-05:00", apco=apco, internal_text=text, lat=44.98, lon=-93.27)
        assert isinstance(ingest_cad(doc, deployment.classification, july[0].at), Skipped), text
    hours = Counter(i.at.hour for i in july if i.kind is None and i.source == "eido")
    assert 12 <= max(hours, key=hours.__getitem__) <= 19
    assert hours[4] < hours[15] / 2


def test_every_cad_document_parses_as_the_kind_it_carries(parsed):
    for item, outcome in parsed:
        if item.source != "eido":
            continue
        assert isinstance(outcome, ShootingEvent), (item.incident, outcome)
        assert outcome.kind.value == item.kind and outcome.incident_id == item.incident
        # timestamps: aware datetimes in the repeated fall-back hour never compare equal across zones (PEP 495)
        assert outcome.location is not None and outcome.reported_at.timestamp() == item.at.timestamp()


def test_volumes_match_domain_facts(parsed):
    first_reports: dict[str, ShootingEvent] = {}
    person_shot: dict[str, ShootingEvent] = {}
    for item, outcome in parsed:
        if item.source == "eido":
            first_reports.setdefault(item.incident, outcome)
            if outcome.kind is EventKind.PERSON_SHOT:
                person_shot.setdefault(item.incident, outcome)
    arrivals = [o for i, o in parsed if isinstance(o, ShootingEvent) and o.kind is EventKind.GSW_ARRIVAL]
    heard = sum(1 for incident in first_reports if incident not in person_shot)  # never a victim
    # ~450 shootings with a victim (500 in 2021); ~600 people treated; several thousand shots-fired calls
    assert 420 <= len(person_shot) <= 480
    assert 500 <= len(arrivals) <= 620
    assert 4500 <= heard <= 4900
    # place: north and south first (the history's neighborhood of each report); time: evenings, summer
    events = {e.ref: e for e in generate_year(YEAR)}
    north_south = sum(region_of(events[ref].community) in ("north", "south") for ref in first_reports)
    assert north_south / len(first_reports) >= 0.70
    months = Counter(o.reported_at.month for o in first_reports.values())
    assert 1.25 <= sum(months[m] for m in (6, 7, 8)) / sum(months[m] for m in (12, 1, 2)) <= 1.6
    local_hours = Counter(o.reported_at.hour for o in first_reports.values())
    assert sum(local_hours[h] for h in (*range(18, 24), 0, 1, 2)) / len(first_reports) >= 0.60


def test_resends_and_upgrades(parsed):
    versions: dict[str, list[tuple[FeedItem, ShootingEvent]]] = defaultdict(list)
    for item, outcome in parsed:
        if item.source == "eido":
            versions[item.incident].append((item, outcome))
    resent = upgraded = 0
    for incident, docs in versions.items():
        times = [o.reported_at for _, o in docs]
        assert times == sorted(times) and len(set(times)) == len(times), incident  # every version is later
        kinds = [o.kind for _, o in docs]
        resent += len(docs) > 1
        if kinds[0] is EventKind.SHOTS_FIRED and EventKind.PERSON_SHOT in kinds:
            upgraded += 1
            change = kinds.index(EventKind.PERSON_SHOT)
            assert docs[change][0].what == "upgrade" and docs[change][1].victim_count >= 1
            assert all(k is EventKind.PERSON_SHOT for k in kinds[change:])  # never downgraded
            assert timedelta(minutes=2) <= docs[change][1].reported_at - docs[0][1].reported_at <= timedelta(minutes=10)
        else:
            assert len(set(kinds)) == 1, incident
    person_shot = sum(1 for docs in versions.values() if any(o.kind is EventKind.PERSON_SHOT for _, o in docs))
    assert 0.2 <= upgraded / person_shot <= 0.4
    assert 0.5 <= resent / len(versions) <= 0.8


def test_arrivals_follow_their_person_shot_incident_after_5_to_40_minutes(parsed):
    first_at = {}
    victims: Counter[str] = Counter()
    for item, outcome in parsed:
        if item.source == "eido":
            first_at.setdefault(item.incident, outcome.reported_at)
            if outcome.kind is EventKind.PERSON_SHOT:
                victims[item.incident] = max(victims[item.incident], outcome.victim_count)
    arrivals: Counter[str] = Counter()
    for item, outcome in parsed:
        if item.what == "arrival":
            assert isinstance(outcome, ShootingEvent) and outcome.kind is EventKind.GSW_ARRIVAL
            assert outcome.hospital in {"hcmc", "abbott", "childrens", "northmemorial", "umm-westbank"}
            assert outcome.intent is not None and outcome.victim_ages[0] is not None
            delay = outcome.reported_at - first_at[item.incident]
            assert timedelta(minutes=5) <= delay <= timedelta(minutes=40), item.incident
            arrivals[item.incident] += 1
        elif item.what == "arrival_update":
            assert isinstance(outcome, Skipped) and outcome.reason == "update_not_alerting"
    assert arrivals == victims  # one registration per victim, none for shots fired


def test_arrival_ages_match_the_cad_victims(parsed):
    cad_ages = {}
    for item, outcome in parsed:
        if item.source == "eido" and outcome.kind is EventKind.PERSON_SHOT:
            cad_ages[item.incident] = sorted(outcome.victim_ages)
    hl7_ages: dict[str, list[int]] = defaultdict(list)
    for item, outcome in parsed:
        if item.what == "arrival":
            hl7_ages[item.incident].append(outcome.victim_ages[0])
    assert {k: sorted(v) for k, v in hl7_ages.items()} == cad_ages


def test_scenario_file_reads_and_replays(tmp_path, deployment):
    items = [i for i in feed(YEAR, 7, date(YEAR, 7, 4), date(YEAR, 7, 5)) if i.at.hour >= 18]
    path = tmp_path / "evening.jsonl"
    assert write_scenario(items, path) == len(items)
    err = io.StringIO()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(read_scenario(lines, err)) == len(items) and err.getvalue() == ""
    notified = replay(lines, deployment, err=err)
    assert err.getvalue() == ""
    assert notified and {i.activation_id for i in notified}  # a July evening's shootings alert someone


def test_cli_writes_a_scenario_file(tmp_path, capsys):
    out = tmp_path / "day.jsonl"
    assert main(["--year", str(YEAR), "--from", "2025-07-05", "--days", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = out.read_text(encoding="utf-8").splitlines()
    assert f"{len(lines)} lines" in printed and len(lines) > 1000
    assert {json.loads(line)["source"] for line in lines} <= {"eido", "hl7"}
