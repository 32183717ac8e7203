"""The ingest core: a shooting, nothing, or a dead letter that names the problem."""

from __future__ import annotations

from stream.feeds.eido_builder import build_eido
from stream.feeds.ingest import ingest_cad
from stream.model.events import DeadLetter, EventKind, ShootingEvent, Skipped
from tests.helpers import RECEIVED, as_bytes, shooting


def test_shooting_becomes_an_event(deployment) -> None:
    result = ingest_cad(as_bytes(shooting("MPLS-I1")), deployment.classification, RECEIVED)
    assert isinstance(result, ShootingEvent)
    assert result.kind is EventKind.PERSON_SHOT
    assert result.received_at == RECEIVED


def test_non_shooting_is_skipped_not_an_error_and_its_location_read_only_on_request(deployment) -> None:
    doc = build_eido("MPLS-I2", "2026-07-04T22:00:00-05:00", apco="MVA", lat=44.96, lon=-93.27)
    outcome = ingest_cad(as_bytes(doc), deployment.classification, RECEIVED)
    assert isinstance(outcome, Skipped)
    assert (outcome.ref, outcome.reason, outcome.location) == ("MPLS-I2", "not_a_shooting", None)
    located = ingest_cad(as_bytes(doc), deployment.classification, RECEIVED, locate_skipped=True)
    assert (located.location.lat, located.location.lon) == (44.96, -93.27)


def test_hostile_pidf_in_a_shooting_is_a_dead_letter(deployment) -> None:
    doc = shooting("MPLS-I3")
    doc["locationComponent"][0]["locationByValue"] = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    outcome = ingest_cad(as_bytes(doc), deployment.classification, RECEIVED)
    assert isinstance(outcome, DeadLetter) and outcome.reason == "pidf_forbidden_xml"


def test_bad_input_becomes_a_dead_letter_with_reason_and_excerpt(deployment) -> None:
    raw = b'{"incidentComponent": {"$id": "X", "lastUpdateTimeStamp": ' + b"x" * 500
    result = ingest_cad(raw, deployment.classification, RECEIVED)
    assert isinstance(result, DeadLetter)
    assert (result.source, result.reason) == ("eido", "invalid_json")
    assert result.detail.startswith("EIDO is not valid JSON")
    assert len(result.excerpt) == 200 and result.excerpt.startswith('{"incidentComponent"')


def test_undecodable_bytes_are_a_dead_letter(deployment) -> None:
    result = ingest_cad(b"\xff\xfe\x00garbage", deployment.classification, RECEIVED)
    assert isinstance(result, DeadLetter) and result.reason == "invalid_json"
