"""The activation core: placement, routing, deterministic ids, flags and versions."""

from __future__ import annotations

from datetime import timedelta

import h3

from stream.activation import activate, activation_id_for
from stream.classify import classify_cad
from stream.eido import parse_eido
from stream.eido_builder import build_eido
from tests.helpers import (
    HIAWATHA,
    JORDAN,
    MIDTOWN_PHILLIPS,
    OUTSIDE_CITY,
    RECEIVED,
    as_bytes,
    shooting,
)


def _event(deployment, doc):
    return classify_cad(parse_eido(as_bytes(doc)), deployment.classification, RECEIVED)


def _decide(deployment, doc):
    return activate(_event(deployment, doc), deployment.coverage, deployment.protocols, RECEIVED)


def test_person_shot_notifies_the_covering_street_team(deployment) -> None:
    decision = _decide(deployment, shooting("MPLS-A1", JORDAN))
    assert [(i.team, i.protocol, i.step) for i in decision.intents] == [("vi-north-nearnorth", "P2", 0)]
    intent = decision.intents[0]
    assert intent.ack_deadline == RECEIVED + timedelta(minutes=10)
    assert intent.activation_id == activation_id_for("minneapolis", "MPLS-A1")


def test_shots_fired_uses_p1_with_a_fifteen_minute_deadline(deployment) -> None:
    doc = build_eido("MPLS-A2", "2026-07-04T22:00:00-05:00", internal_text="Sound of Shots Fired (P)", lat=MIDTOWN_PHILLIPS[0], lon=MIDTOWN_PHILLIPS[1])
    (intent,) = _decide(deployment, doc).intents
    assert (intent.team, intent.protocol, intent.ack_deadline - RECEIVED) == ("vi-south-phillips", "P1", timedelta(minutes=15))


def test_a_resend_gives_the_same_activation_and_intent_ids(deployment) -> None:
    first = _decide(deployment, shooting("MPLS-A3", JORDAN))
    resend = _decide(deployment, shooting("MPLS-A3", JORDAN, updated_at="2026-07-04T22:09:00-05:00"))
    assert first.activation_id == resend.activation_id
    assert [i.intent_id for i in first.intents] == [i.intent_id for i in resend.intents]
    # but the re-send is its own timeline entry: the review sees every report
    assert first.timeline[0].entry_id != resend.timeline[0].entry_id


def test_no_street_team_is_a_coverage_gap(deployment) -> None:
    decision = _decide(deployment, shooting("MPLS-A4", HIAWATHA))
    decided = decision.timeline[1]
    assert decision.intents == ()
    assert decided.flags == ("coverage_gap",)
    assert (decided.neighborhood, decided.community) == ("Hiawatha", "Longfellow")


def test_outside_the_city_is_placed_nowhere(deployment) -> None:
    decision = _decide(deployment, shooting("MPLS-A5", OUTSIDE_CITY))
    assert decision.intents == ()
    assert decision.timeline[1].neighborhood is None


def test_decision_records_config_versions_and_cell(deployment) -> None:
    decided = _decide(deployment, shooting("MPLS-A6", JORDAN)).timeline[1]
    assert decided.coverage_version == deployment.coverage.version
    assert decided.protocol_version == deployment.protocols.version
    assert decided.cell == h3.latlng_to_cell(*JORDAN, 9)
    assert decided.teams == ("vi-north-nearnorth",)


def test_alert_text_is_block_level_and_carries_no_victim_detail(deployment) -> None:
    (intent,) = _decide(deployment, shooting("MPLS-A7", JORDAN, victim_ages=[16])).intents
    assert intent.title == "VIGIL: Person shot - Jordan"
    assert "Jordan (45.000, -93.300)" in intent.body
    assert "reported Sat 22:03" in intent.body  # local time, America/Chicago
    assert "16" not in intent.body and "MPLS-A7" not in intent.body
    assert f"Ref {intent.activation_id}" in intent.body
