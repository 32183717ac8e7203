"""The review store on real SQLite and real PostgreSQL: idempotent append, ordered reads, single-use ack links."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifiers.ack_links import AckClaim
from reviews.store import AckUse, ReviewStore
from stream.activations import Config, CoreState, handle_event
from stream.classify import classify_cad
from stream.eido import parse_eido
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
        assert store.append(records) == len(records) == 4  # received, decided, two intents (street team, gvi)
        assert store.append(records) == 0  # at-least-once re-delivery stores nothing twice
        assert store.count() == 4 and store.count("intent") == 2
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
        assert store.count() == 8
    finally:
        store.dispose()


def test_refuses_other_databases() -> None:
    with pytest.raises(ValueError) as info:
        ReviewStore("mysql+mysqlconnector://root@127.0.0.1/test")
    assert str(info.value) == "review store supports sqlite and postgresql URLs, not mysql"


def _claim(token_id: str = "ack-0001", activation_id: str = "act-0001", team: str = "vi-north-nearnorth") -> AckClaim:
    return AckClaim(token_id=token_id, activation_id=activation_id, ref="MPLS-S1", team=team, recipient="tel:+1...0123",
                    intent_id="int-0001", expires_at=RECEIVED + timedelta(hours=12))


def test_an_ack_token_is_claimed_once_and_the_second_claim_gets_the_first_use(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    first_at = datetime(2026, 7, 4, 22, 10, 30, tzinfo=ZoneInfo("America/Chicago"))
    try:
        assert store.ack_token_use("ack-0001") is None
        assert store.claim_ack_token(_claim(), "on_my_way", first_at) is None
        earlier = store.claim_ack_token(_claim(), "ack", first_at + timedelta(minutes=3))
        assert earlier == AckUse(response="on_my_way", used_at=first_at.astimezone(UTC))
        assert earlier.used_at.tzinfo is not None  # SQLite gives naive datetimes back; the store must not
        assert store.ack_token_use("ack-0001") == earlier
        # another token is independent
        assert store.claim_ack_token(_claim("ack-0002"), "unable", first_at) is None
    finally:
        store.dispose()


def test_a_released_ack_token_can_be_claimed_again(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        assert store.claim_ack_token(_claim(), "ack", RECEIVED) is None
        store.release_ack_token("ack-0001")
        assert store.ack_token_use("ack-0001") is None
        assert store.claim_ack_token(_claim(), "unable", RECEIVED + timedelta(minutes=1)) is None
        assert store.claim_ack_token(_claim(), "ack", RECEIVED + timedelta(minutes=2)) == AckUse("unable", RECEIVED + timedelta(minutes=1))
        store.release_ack_token("ack-never-claimed")  # releasing nothing is not an error
    finally:
        store.dispose()


def test_racing_claims_have_exactly_one_winner(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: store.claim_ack_token(_claim(), f"r{i}", RECEIVED), range(8)))
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
