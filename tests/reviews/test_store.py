"""The review store on real SQLite and real PostgreSQL: idempotent append, ordered reads, single-use ack links,
and the activation review's reads and records (activations of a day, outcomes, notes, audit log)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifiers.ack_links import AckClaim
from reviews.store import AckUse, AuditRow, NoteRow, OutcomeRow, ReviewStore
from stream.core.activations import handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.timeline import AckRecorded, ActivationDecided, IntentCreated
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, RECEIVED, as_bytes, shooting

pytestmark = pytest.mark.database


def _timeline(deployment, incident: str = "MPLS-S1", where: tuple[float, float] = JORDAN):
    event = classify_cad(parse_eido(as_bytes(shooting(incident, where))), deployment.classification, RECEIVED)
    return handle_event(CoreState(), event, RECEIVED, Config(deployment.coverage, deployment.protocols)).timeline


def test_append_is_idempotent_and_reads_back_typed_records(db_url: str, deployment) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    records = _timeline(deployment)
    try:
        # received, decided, two intents (street team, gvi), the street team's family contact task (F2)
        assert store.append(records) == len(records) == 5
        assert store.append(records) == 0  # at-least-once re-delivery stores nothing twice
        assert store.count() == 5 and store.count("intent") == 2 and store.count("task") == 1
        back = store.records(records[0].activation_id)
        assert back == sorted(records, key=lambda r: (r.at, r.entry_id))
        decided = next(r for r in back if r.kind == "decided")
        assert decided.teams == ("vi-north-nearnorth", "gvi-outreach")
    finally:
        store.dispose()


def test_records_of_one_activation_only(db_url: str, deployment) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        store.append(_timeline(deployment, "MPLS-S2"))
        store.append(_timeline(deployment, "MPLS-S3"))
        wanted = _timeline(deployment, "MPLS-S3")[0].activation_id
        assert {r.activation_id for r in store.records(wanted)} == {wanted}
        assert store.count() == 10
    finally:
        store.dispose()


def test_refuses_other_databases() -> None:
    with pytest.raises(ValueError) as info:
        ReviewStore("mysql+mysqlconnector://root@127.0.0.1/test")
    assert str(info.value) == "review store supports sqlite and postgresql URLs, not mysql"


def _claim(token_id: str = "ack-0001", activation_id: str = "act-0001", team: str = "vi-north-nearnorth") -> AckClaim:
    return AckClaim(token_id=token_id, activation_id=activation_id, ref="MPLS-S1", team=team, recipient="tel:+1...0123",
                    intent_id="int-0001", expires_at=RECEIVED + timedelta(hours=12))


def test_each_answer_of_an_ack_link_is_claimed_once(db_url: str) -> None:
    # issue 16, item 6: a link's answer changes while it is valid (ack, on my way, can't respond), each answer once
    store = ReviewStore(db_url)
    store.create_schema()
    first_at = datetime(2026, 7, 4, 22, 10, 30, tzinfo=ZoneInfo("America/Chicago"))
    try:
        assert store.ack_token_use("ack-0001") is None and store.ack_token_uses("ack-0001") == []
        assert store.claim_ack_token(_claim(), "ack", first_at) is None
        earlier = store.claim_ack_token(_claim(), "ack", first_at + timedelta(minutes=3))
        assert earlier == AckUse(response="ack", used_at=first_at.astimezone(UTC))
        assert earlier.used_at.tzinfo is not None  # SQLite gives naive datetimes back; the store must not
        assert store.claim_ack_token(_claim(), "on_my_way", first_at + timedelta(minutes=4)) is None
        assert store.claim_ack_token(_claim(), "unable", first_at + timedelta(minutes=9)) is None
        assert store.claim_ack_token(_claim(), "on_my_way", first_at + timedelta(minutes=10)) == AckUse(
            "on_my_way", (first_at + timedelta(minutes=4)).astimezone(UTC))
        assert [u.response for u in store.ack_token_uses("ack-0001")] == ["ack", "on_my_way", "unable"]
        assert store.ack_token_use("ack-0001") == AckUse("unable", (first_at + timedelta(minutes=9)).astimezone(UTC))  # the latest
        # another token is independent
        assert store.claim_ack_token(_claim("ack-0002"), "ack", first_at) is None
    finally:
        store.dispose()


def test_a_released_answer_can_be_claimed_again_and_the_others_stay(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        assert store.claim_ack_token(_claim(), "ack", RECEIVED) is None
        assert store.claim_ack_token(_claim(), "unable", RECEIVED + timedelta(minutes=1)) is None
        store.release_ack_token("ack-0001", "unable")  # its publishing failed: only that answer is released
        assert store.ack_token_uses("ack-0001") == [AckUse("ack", RECEIVED)]
        assert store.claim_ack_token(_claim(), "unable", RECEIVED + timedelta(minutes=2)) is None
        store.release_ack_token("ack-never-claimed", "ack")  # releasing nothing is not an error
    finally:
        store.dispose()


def test_racing_claims_of_one_answer_have_exactly_one_winner(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: store.claim_ack_token(_claim(), "on_my_way", RECEIVED + timedelta(seconds=i)), range(8)))
        assert results.count(None) == 1
        winner = store.ack_token_use("ack-0001")
        assert winner is not None
        assert all(r == winner for r in results if r is not None)
    finally:
        store.dispose()


def test_team_alerted_reads_the_stored_intents(db_url: str, deployment) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        jordan = _timeline(deployment, "MPLS-S4")
        phillips = _timeline(deployment, "MPLS-S5", MIDTOWN_PHILLIPS)
        north, south = jordan[0].activation_id, phillips[0].activation_id
        assert not store.team_alerted(north, "vi-north-nearnorth")  # nothing stored yet
        store.append([*jordan, *phillips])
        assert store.team_alerted(north, "vi-north-nearnorth") and store.team_alerted(north, "gvi-outreach")
        assert store.team_alerted(south, "vi-south-phillips") and store.team_alerted(south, "gvi-outreach")
        # each street team was told about its own shooting only
        assert not store.team_alerted(north, "vi-south-phillips")
        assert not store.team_alerted(south, "vi-north-nearnorth")
        assert not store.team_alerted(north, "vi-north")  # exact team, not a prefix
    finally:
        store.dispose()


# --- the activation review

DAY = datetime(2026, 7, 5, 5, 0, tzinfo=UTC)  # midnight in Minneapolis (CDT)
CHICAGO = ZoneInfo("America/Chicago")


def _decided(activation_id: str, at: datetime, step: str = "initial") -> ActivationDecided:
    return ActivationDecided(
        entry_id=f"tl-{activation_id}-decided-{step}-{at.isoformat()}", activation_id=activation_id, at=at, event_id=f"ev-{activation_id}",
        step=step, teams=("gvi-outreach",), protocols=("gvi",), flags=(), cell=None, neighborhood=None, community=None,
        coverage_version="c1", protocol_version="p1",
    )


def _intent(activation_id: str, at: datetime, team: str = "gvi-outreach") -> IntentCreated:
    return IntentCreated(entry_id=f"tl-{activation_id}-intent-{team}", activation_id=activation_id, at=at, intent_id=f"int-{activation_id}-{team}",
                         team=team, protocol="gvi", step="initial", ack_deadline=at + timedelta(minutes=10))


def _ack(activation_id: str, at: datetime, team: str = "gvi-outreach") -> AckRecorded:
    return AckRecorded(entry_id=f"tl-{activation_id}-ack-{team}", activation_id=activation_id, at=at, team=team, first=True, within_deadline=True)


def test_activations_opened_in_a_window_by_their_initial_decision(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        store.append([
            _decided("act-late", DAY + timedelta(hours=20)),
            _decided("act-early", DAY + timedelta(hours=2)),
            _decided("act-at-start", DAY),
            _decided("act-at-end", DAY + timedelta(days=1)),  # the end is excluded
            _decided("act-before", DAY - timedelta(minutes=1)),
            # updated within the day, opened the day before: not opened today
            _decided("act-before", DAY + timedelta(hours=3), step="update"),
            # an update of an activation opened today neither repeats nor moves it
            _decided("act-early", DAY + timedelta(hours=23), step="update"),
            _intent("act-intent-only", DAY + timedelta(hours=1)),
        ])
        expected = ["act-at-start", "act-early", "act-late"]
        assert store.activations_opened(DAY, DAY + timedelta(days=1)) == expected
        # the same window given in local time
        local_midnight = datetime(2026, 7, 5, tzinfo=CHICAGO)
        assert store.activations_opened(local_midnight, local_midnight + timedelta(days=1)) == expected
        assert store.activations_opened(DAY + timedelta(hours=3), DAY + timedelta(hours=4)) == []
        with pytest.raises(ValueError) as info:
            store.activations_opened(datetime(2026, 7, 5), datetime(2026, 7, 6))
        assert str(info.value) == "start must be timezone-aware"
    finally:
        store.dispose()


def test_a_record_in_local_time_is_stored_and_found_by_its_utc_moment(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        # 23:30 in Minneapolis on the 5th is 04:30 UTC on the 6th: in the UTC day of the 6th, not the 5th
        local = datetime(2026, 7, 5, 23, 30, tzinfo=CHICAGO)
        store.append([_decided("act-local", local)])
        assert store.activations_opened(DAY, DAY + timedelta(hours=23)) == []
        assert store.activations_opened(DAY + timedelta(hours=23), DAY + timedelta(hours=24)) == ["act-local"]
    finally:
        store.dispose()


def test_records_for_several_activations_in_time_order(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        a = [_decided("act-a", DAY), _intent("act-a", DAY + timedelta(seconds=1)), _ack("act-a", DAY + timedelta(minutes=4))]
        b = [_decided("act-b", DAY + timedelta(hours=1)), _intent("act-b", DAY + timedelta(hours=1, seconds=1), team="vi-south-phillips")]
        other = [_decided("act-other", DAY)]
        store.append([a[2], b[1], other[0], a[0], b[0], a[1]])  # stored out of order
        found = store.records_for(iter(["act-b", "act-a", "act-none", "act-a"]))
        assert found == {"act-b": b, "act-a": a, "act-none": []}
        assert store.records_for([]) == {}
    finally:
        store.dispose()


def test_append_of_hand_made_records_twice_keeps_one_copy(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        records = [_decided("act-a", DAY), _intent("act-a", DAY + timedelta(seconds=1)), _ack("act-a", DAY + timedelta(minutes=4))]
        assert store.append(records) == 3
        assert store.append(records) == 0
        assert store.append([records[1], _ack("act-b", DAY)]) == 1
        assert store.count() == 4
        assert store.records_for(["act-a"])["act-a"] == records
    finally:
        store.dispose()


def test_outcomes_latest_wins_and_history_is_kept(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    t = DAY + timedelta(hours=12)
    try:
        store.record_outcome("act-a", "gvi-outreach", "unable", "no one on shift", "lead.gvi", t)
        store.record_outcome("act-a", "vi-north-nearnorth", "went_to_scene", None, "lead.north", t + timedelta(minutes=1))
        store.record_outcome("act-b", "gvi-outreach", "mediation", None, "nadia", t)
        # a correction, recorded in local time
        store.record_outcome("act-a", "gvi-outreach", "bedside_contact", "reached the family at HCMC", "nadia",
                             (t + timedelta(hours=2)).astimezone(CHICAGO))
        current = store.outcomes(["act-a", "act-c"])
        assert current == {
            ("act-a", "gvi-outreach"): OutcomeRow("act-a", "gvi-outreach", "bedside_contact", "reached the family at HCMC", "nadia",
                                                 t + timedelta(hours=2)),
            ("act-a", "vi-north-nearnorth"): OutcomeRow("act-a", "vi-north-nearnorth", "went_to_scene", None, "lead.north",
                                                       t + timedelta(minutes=1)),
        }
        assert all(row.recorded_at.tzinfo is not None for row in current.values())
        assert [(r.team, r.outcome) for r in store.outcome_history("act-a")] == [
            ("gvi-outreach", "unable"), ("vi-north-nearnorth", "went_to_scene"), ("gvi-outreach", "bedside_contact")]
        assert set(store.outcomes(["act-a", "act-b"])) == {("act-a", "gvi-outreach"), ("act-a", "vi-north-nearnorth"), ("act-b", "gvi-outreach")}
        # two records at the same moment: the later one is current
        store.record_outcome("act-b", "gvi-outreach", "family_support", None, "nadia", t)
        assert store.outcomes(["act-b"])[("act-b", "gvi-outreach")].outcome == "family_support"
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("outcome", "reason", "message"),
    [
        ("arrested", None, "unknown outcome 'arrested': expected one of went_to_scene, bedside_contact, mediation, family_support, unable"),
        ("unable", None, "outcome unable needs a reason"),
        ("unable", "   ", "outcome unable needs a reason"),
    ],
)
def test_record_outcome_refuses(db_url: str, outcome: str, reason: str | None, message: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        with pytest.raises(ValueError) as info:
            store.record_outcome("act-a", "gvi-outreach", outcome, reason, "nadia", DAY)
        assert str(info.value) == message
        assert store.outcomes(["act-a"]) == {}
    finally:
        store.dispose()


def test_notes_oldest_first(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        store.add_note("act-a", "nadia", "second", DAY + timedelta(minutes=5))
        store.add_note("act-a", "lead.north", "first", (DAY + timedelta(minutes=1)).astimezone(CHICAGO))
        store.add_note("act-b", "nadia", "elsewhere", DAY)
        store.add_note("act-a", "nadia", "x" * 4000, DAY + timedelta(minutes=9))  # the longest allowed
        notes = store.notes("act-a")
        assert notes[:2] == [NoteRow("act-a", "lead.north", "first", DAY + timedelta(minutes=1)),
                             NoteRow("act-a", "nadia", "second", DAY + timedelta(minutes=5))]
        assert len(notes) == 3 and len(notes[2].text) == 4000
        assert notes[0].at.tzinfo is not None
        assert store.notes("act-none") == []
        assert store.note_counts(["act-a", "act-b", "act-none"]) == {"act-a": 3, "act-b": 1, "act-none": 0}  # the CSV's column
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "a note cannot be empty"), (" \n\t", "a note cannot be empty"), ("x" * 4001, "a note is at most 4000 characters, this one has 4001")],
)
def test_add_note_refuses(db_url: str, text: str, message: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        with pytest.raises(ValueError) as info:
            store.add_note("act-a", "nadia", text, DAY)
        assert str(info.value) == message
        assert store.notes("act-a") == []
    finally:
        store.dispose()


def test_audit_entries_newest_first(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        store.audit("nadia", "sign_in", None, DAY + timedelta(minutes=1))
        store.audit(None, "user_added", "lead.north", DAY, detail="role=lead team=vi-north-nearnorth")
        store.audit("nadia", "outcome", "act-a/gvi-outreach", DAY + timedelta(minutes=2), detail="bedside_contact")
        store.audit("nadia", "note", "act-a", DAY + timedelta(minutes=2))  # same moment: the later entry first
        entries = store.audit_entries()
        assert entries == [
            AuditRow(DAY + timedelta(minutes=2), "nadia", "note", "act-a", None),
            AuditRow(DAY + timedelta(minutes=2), "nadia", "outcome", "act-a/gvi-outreach", "bedside_contact"),
            AuditRow(DAY + timedelta(minutes=1), "nadia", "sign_in", None, None),
            AuditRow(DAY, None, "user_added", "lead.north", "role=lead team=vi-north-nearnorth"),
        ]
        assert entries[0].at.tzinfo is not None
        assert store.audit_entries(limit=2) == entries[:2]
        with pytest.raises(ValueError) as info:
            store.audit("nadia", "a" * 41, None, DAY)
        assert str(info.value) == "audit action must be at most 40 characters"
    finally:
        store.dispose()
