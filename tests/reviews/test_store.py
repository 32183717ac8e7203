"""The review store on real SQLite and real PostgreSQL: idempotent append, ordered reads."""

from __future__ import annotations

import pytest

from reviews.store import ReviewStore
from stream.activations import Config, CoreState, handle_event
from stream.classify import classify_cad
from stream.eido import parse_eido
from tests.helpers import JORDAN, RECEIVED, as_bytes, shooting

pytestmark = pytest.mark.database


def _timeline(deployment, incident: str = "MPLS-S1"):
    event = classify_cad(parse_eido(as_bytes(shooting(incident, JORDAN))), deployment.classification, RECEIVED)
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
