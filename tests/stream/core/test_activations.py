"""The activation core: correlation, the escalation cursor, acks, determinism, pruning."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stream.core.activations import advance, handle_ack, handle_event, prune
from stream.core.state import Config, CoreState
from stream.model.events import EventKind, Intent, Location, ShootingEvent, stable_id
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)


@pytest.fixture
def config(deployment) -> Config:
    return Config(deployment.coverage, deployment.protocols)


def report(incident: str, kind: EventKind, at: datetime, where: tuple[float, float] | None = JORDAN, **kw) -> ShootingEvent:
    version = kw.pop("version", at.isoformat())
    return ShootingEvent(
        event_id=stable_id("evt", incident, version), jurisdiction="minneapolis", source=kw.pop("source", "eido"), incident_id=incident,
        ref=kw.pop("ref", incident), kind=kind, reported_at=at, received_at=at, location=Location(lat=where[0], lon=where[1]) if where else None,
        **kw,
    )


def arrival(control: str, at: datetime, hospital: str = "hcmc", intent: Intent = Intent.ASSAULT) -> ShootingEvent:
    return report(f"visit-{control}", EventKind.GSW_ARRIVAL, at, None, source="hl7", ref=control, hospital=hospital, intent=intent,
                  victim_count=1, victim_ages=(30,))


def teams(outcome) -> list[tuple[str, str, str]]:
    return [(i.team, i.protocol, i.step) for i in outcome.intents]


def test_the_same_report_twice_does_nothing_the_second_time(config) -> None:
    state = CoreState()
    first = handle_event(state, report("C-1", EventKind.PERSON_SHOT, T0), T0, config)
    again = handle_event(state, report("C-1", EventKind.PERSON_SHOT, T0), T0 + timedelta(seconds=5), config)
    assert teams(first) == [("vi-north-nearnorth", "P2", "initial"), ("gvi-outreach", "P2", "initial")]
    assert again.intents == [] and again.timeline == [] and again.activation_id == first.activation_id


def test_ids_are_deterministic(config) -> None:
    runs = [handle_event(CoreState(), report("C-2", EventKind.PERSON_SHOT, T0), T0, config) for _ in range(2)]
    assert [i.intent_id for i in runs[0].intents] == [i.intent_id for i in runs[1].intents]
    assert [e.entry_id for e in runs[0].timeline] == [e.entry_id for e in runs[1].timeline]


def test_escalation_fires_once_at_the_deadline(config) -> None:
    state = CoreState()
    handle_event(state, report("C-3", EventKind.PERSON_SHOT, T0), T0, config)
    assert advance(state, T0 + timedelta(minutes=9, seconds=59), config).intents == []
    fired = advance(state, T0 + timedelta(minutes=10), config)
    assert [(i.team, i.step, i.escalated_team, i.created_at) for i in fired.intents] == [
        ("dns-oncall", "escalation", "vi-north-nearnorth", T0 + timedelta(minutes=10))]
    assert "ESCALATION: vi-north-nearnorth has not acknowledged by 22:25." in fired.intents[0].body
    assert advance(state, T0 + timedelta(hours=5), config).intents == []


def test_an_ack_stops_the_escalation_and_its_timer_is_dropped(config) -> None:
    state = CoreState()
    handle_event(state, report("C-4", EventKind.PERSON_SHOT, T0), T0, config)
    acked = handle_ack(state, "C-4", "vi-north-nearnorth", T0 + timedelta(minutes=3))
    assert [(r.team, r.first, r.within_deadline) for r in acked.timeline] == [("vi-north-nearnorth", True, True)]
    assert len(state.timers) == 1  # still queued: dropped as stale when it comes up
    assert advance(state, T0 + timedelta(hours=1), config).intents == [] and state.timers == []


def test_ack_problems_are_named(config) -> None:
    state = CoreState()
    handle_event(state, report("C-5", EventKind.PERSON_SHOT, T0), T0, config)
    assert handle_ack(state, "NOPE", "vi-central", T0).problem == "no activation has the reference 'NOPE'"
    outcome = handle_ack(state, "C-5", "vi-central", T0)
    assert outcome.problem == f"team 'vi-central' was not notified for activation {outcome.activation_id}"


def test_arrival_joins_the_only_person_shot_activation_of_the_last_90_minutes(config) -> None:
    state = CoreState()
    shot = handle_event(state, report("C-6", EventKind.PERSON_SHOT, T0), T0, config)
    joined = handle_event(state, arrival("H-6", T0 + timedelta(minutes=40)), T0 + timedelta(minutes=40), config)
    assert joined.activation_id == shot.activation_id
    assert teams(joined) == [("nextstep-hcmc", "P3", "update")]
    assert state.activations[shot.activation_id].refs == ["C-6", "H-6"]


def test_arrival_with_two_candidates_opens_its_own_activation(config) -> None:
    state = CoreState()
    handle_event(state, report("C-7", EventKind.PERSON_SHOT, T0), T0, config)
    handle_event(state, report("C-8", EventKind.PERSON_SHOT, T0, MIDTOWN_PHILLIPS), T0, config)
    alone = handle_event(state, arrival("H-7", T0 + timedelta(minutes=30)), T0 + timedelta(minutes=30), config)
    assert teams(alone) == [("nextstep-hcmc", "P3", "initial")]


def test_shotspotter_and_a_nearby_cad_call_are_one_shooting(config) -> None:
    state = CoreState()
    spotter = handle_event(state, report("SS-1", EventKind.SHOTSPOTTER, T0), T0, config)
    call = handle_event(state, report("C-9", EventKind.PERSON_SHOT, T0 + timedelta(minutes=2), (45.0010, -93.3001)), T0 + timedelta(minutes=2), config)
    assert call.activation_id == spotter.activation_id
    assert teams(call) == [("gvi-outreach", "P2", "update")]  # the street team already knows
    later = handle_event(state, report("C-10", EventKind.SHOTS_FIRED, T0 + timedelta(minutes=20)), T0 + timedelta(minutes=20), config)
    assert later.activation_id != spotter.activation_id


def test_prune_forgets_old_activations_with_nothing_pending(config) -> None:
    state = CoreState()
    handle_event(state, report("C-11", EventKind.PERSON_SHOT, T0), T0, config)
    assert prune(state, T0 + timedelta(hours=2), config.retention) == 0
    advance(state, T0 + timedelta(hours=80), config)
    assert prune(state, T0 + timedelta(hours=80), config.retention) == 1
    assert state.activations == {} and state.by_ref == {} and state.by_incident == {}


def test_a_report_stamped_by_another_clock_is_received_no_later_than_it_is_decided(config) -> None:
    # the demo's HL7 listener stamps the wall clock while its worker decides on the demo's evening
    state = CoreState()
    ahead = arrival("H-CLOCK", T0).model_copy(update={"received_at": T0 + timedelta(days=150)})
    outcome = handle_event(state, ahead, T0, config)
    received = next(r for r in outcome.timeline if r.kind == "event_received")
    decided = next(r for r in outcome.timeline if r.kind == "decided")
    assert received.at == decided.at == T0
    # a report received before its decision (the events topic between ingest and core) keeps its stamp
    earlier = report("C-CLOCK", EventKind.PERSON_SHOT, T0).model_copy(update={"received_at": T0 - timedelta(seconds=2)})
    outcome = handle_event(state, earlier, T0, config)
    assert next(r for r in outcome.timeline if r.kind == "event_received").at == T0 - timedelta(seconds=2)


def test_an_intent_records_the_teams_it_escalates_to(config) -> None:
    state = CoreState()
    outcome = handle_event(state, report("C-ESC", EventKind.PERSON_SHOT, T0), T0, config)
    expected = [("vi-north-nearnorth", ("dns-oncall",)), ("gvi-outreach", ())]  # gvi-outreach has no deadline
    assert [(i.team, i.escalates_to) for i in outcome.intents] == expected
    assert [(r.team, r.escalates_to) for r in outcome.timeline if r.kind == "intent"] == expected
    fired = advance(state, T0 + timedelta(minutes=10), config)
    assert [(i.team, i.escalates_to) for i in fired.intents] == [("dns-oncall", ())]


def test_the_activation_keeps_the_hundred_block_of_its_first_report_that_has_one(config) -> None:
    state = CoreState()
    first = handle_event(state, report("SST-1", EventKind.SHOTSPOTTER, T0, source="shotspotter"), T0, config)
    activation = state.activations[first.activation_id]
    assert activation.block is None and "near Jordan, reported" in first.intents[0].body  # the neighborhood, no point
    later = T0 + timedelta(minutes=2)
    cad = handle_event(state, report("C-B1", EventKind.PERSON_SHOT, later, block="2400 block of James Ave N"), later, config)
    assert cad.activation_id == first.activation_id
    assert state.activations[first.activation_id].block == "2400 block of James Ave N"
    assert [r.block for r in cad.timeline if r.kind == "event_received"] == ["2400 block of James Ave N"]
    assert [r.block for r in first.timeline if r.kind == "event_received"] == [None]
    resend = T0 + timedelta(minutes=4)
    handle_event(state, report("C-B1", EventKind.PERSON_SHOT, resend, block="2500 block of James Ave N"), resend, config)
    assert state.activations[first.activation_id].block == "2400 block of James Ave N"  # the first block stays


def test_a_street_alert_names_the_hundred_block_and_never_the_point(config) -> None:
    outcome = handle_event(CoreState(), report("C-B2", EventKind.PERSON_SHOT, T0, block="2400 block of James Ave N"), T0, config)
    street = next(i for i in outcome.intents if i.team == "vi-north-nearnorth")
    assert "Person shot near 2400 block of James Ave N, Jordan, reported Sat 22:15." in street.body
    assert "45.0" not in street.body and "-93.3" not in street.body
