"""Paging inside a team: primary, secondary, everyone; channels in turn; answers stop it; all before the deadline."""

from __future__ import annotations

from stream.core.oncall import who_is_on_call
from stream.core.state import Config
from stream.core.state_codec import dump_state, load_state
from stream.core.step import step
from stream.model.events import CoreInput
from tests.stream.core.conftest import T0, TEAM, Run, answer, minutes, pages, shot


def test_a_team_pages_its_primary_now_its_secondary_then_everyone_each_on_their_channels_in_turn(deployment, paged, on_call) -> None:
    primary, secondary = on_call
    everyone = [p.id for p in deployment.rosters[TEAM].people if p.id not in on_call]
    run = Run(paged)
    first = run(shot(deployment), T0)
    assert pages(first) == [(0, primary, "push")]  # the primary alone, at once
    assert [i.team for i in run.told if i.team == TEAM] == [TEAM]  # the team is told once; its pages are what is sent
    run.until(minutes(9.5))
    assert pages(run.sent) == [
        (0, primary, "push"), (2, primary, "sms"), (3, secondary, "push"), (4, primary, "email"), (5, secondary, "sms"),
        *[(6, person, "push") for person in everyone], (7, secondary, "email"), *[(8, person, "sms") for person in everyone],
    ]  # everyone's e-mail would be at 10: the deadline, where the protocol's escalation takes over


def test_the_deadline_escalates_to_dns_oncall_exactly_as_the_protocol_says_and_pages_its_people(deployment, paged) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    run.until(minutes(10))
    escalation = [i for i in run.told if i.step == "escalation"]
    assert [(i.team, i.created_at, i.escalated_team) for i in escalation] == [("dns-oncall", minutes(10), TEAM)]
    dns = who_is_on_call(deployment.rosters["dns-oncall"], minutes(10), deployment.protocols.zone).holder("primary")
    assert pages(run.sent, "dns-oncall") == [(10, dns, "push")]
    assert all(i.created_at < minutes(10) for i in run.sent if i.team == TEAM)


def test_an_answer_stops_the_teams_paging_and_its_escalation(deployment, paged, on_call) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    run.until(minutes(3))
    run(answer("on_my_way", on_call[1]), minutes(3.5))
    run.until(minutes(30))
    assert max(i.created_at for i in run.sent if i.team == TEAM and i.purpose == "alert") == minutes(3)
    assert not [i for i in run.told + run.sent if i.step == "escalation"]


def test_cant_respond_pages_the_next_person_now_and_escalates_only_when_nobody_is_left(deployment, paged, on_call) -> None:
    primary, secondary = on_call
    people = [p.id for p in deployment.rosters[TEAM].people]
    run = Run(paged)
    run(shot(deployment), T0)
    now = run(answer("unable", primary), minutes(1))
    assert pages(now) == [(1, secondary, "push")]  # brought forward from 3 minutes
    assert not [i for i in run.told if i.step == "escalation"]
    run(answer("unable", secondary), minutes(1.5))
    for person in people:
        if person not in on_call:
            run(answer("unable", person), minutes(2))
    escalations = [i for i in run.told if i.step == "escalation"]
    assert [(i.team, i.created_at) for i in escalations] == [("dns-oncall", minutes(2))]  # not waiting for 10 minutes


def test_cant_respond_without_a_person_escalates_at_once_as_before(deployment, paged) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    run(answer("unable", None), minutes(1))
    assert [(i.team, i.created_at) for i in run.told if i.step == "escalation"] == [("dns-oncall", minutes(1))]


def test_an_ack_withdrawn_by_cant_respond_resumes_paging_and_the_escalation(deployment, paged, on_call) -> None:
    primary, secondary = on_call
    run = Run(paged)
    run(shot(deployment), T0)
    run(answer("ack", primary), minutes(1))
    run.until(minutes(4))
    assert pages(run.sent) == [(0, primary, "push")]
    resumed = run(answer("unable", primary), minutes(4))
    assert (4, secondary, "push") in pages(resumed)  # the secondary's page that fell due at 3 goes now
    assert primary not in {p for _, p, _ in pages(resumed)}
    run.until(minutes(10))
    assert [i.team for i in run.told if i.step == "escalation"] == ["dns-oncall"]


def test_another_persons_ack_still_stands_when_one_withdraws(deployment, paged, on_call) -> None:
    primary, secondary = on_call
    run = Run(paged)
    run(shot(deployment), T0)
    run.until(minutes(3))
    run(answer("ack", primary), minutes(3.5))
    run(answer("on_my_way", secondary), minutes(4))
    run(answer("unable", primary), minutes(5))
    run.until(minutes(12))
    assert not [i for i in run.told if i.step == "escalation"]
    assert max(i.created_at for i in run.sent if i.team == TEAM and i.purpose == "alert") == minutes(3)


def test_the_snapshot_of_who_was_on_call_is_kept_and_survives_a_restart(deployment, paged, on_call) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    activation = next(iter(run.state.activations.values()))
    plan = next(p for p in activation.plans.values() if p.team == TEAM)
    assert plan.on_call == (("primary", on_call[0]), ("secondary", on_call[1]))
    restored = load_state(dump_state(run.state))
    assert restored.activations[activation.id].plans == activation.plans
    assert restored.page_timers == run.state.page_timers
    # the restored state goes on paging exactly as the original
    a, done_a = step(run.state, CoreInput(type="tick"), minutes(3), paged)
    b, done_b = step(restored, CoreInput(type="tick"), minutes(3), paged)
    assert done_a.outcome.intents == done_b.outcome.intents and done_a.outcome.intents


def test_page_ids_are_deterministic_and_distinct_per_person_and_channel(deployment, paged) -> None:
    one, two = Run(paged), Run(paged)
    for run in (one, two):
        run(shot(deployment), T0)
        run.until(minutes(9))
    ids = [i.intent_id for i in one.sent]
    assert ids == [i.intent_id for i in two.sent] and len(set(ids)) == len(ids)


def test_a_team_whose_people_have_no_contact_methods_is_told_as_before(deployment) -> None:
    run = Run(Config(deployment.coverage, deployment.protocols, rosters=deployment.rosters, channels={}))
    first = run(shot(deployment), T0)
    assert [(i.team, i.person) for i in first] == [(TEAM, None), ("gvi-outreach", None)] and not run.told


def test_a_page_is_written_in_the_persons_language(deployment, paged) -> None:
    roster = deployment.rosters[TEAM]
    run = Run(paged)
    run(shot(deployment), T0)
    run.until(minutes(9))
    for intent in run.sent:
        if intent.team == TEAM:
            person = roster.person(intent.person)
            assert intent.language == next((code for code in person.languages if code in deployment.protocols.languages), "en")
