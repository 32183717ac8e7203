"""The rest of the activation hears who is going: one coalesced update; a late answer stands dns-oncall down."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from stream.core.phrases import phrase
from stream.core.state import Config
from tests.stream.core.conftest import TEAM, Run, answer, minutes, shot

GVI = "gvi-outreach"  # told with the street team for a person shot in Jordan


def updates(run: Run, purpose: str = "answers") -> list:
    return [i for i in run.sent if i.purpose == purpose]


def test_a_burst_of_answers_is_one_update_to_each_other_person_paged(deployment, paged, on_call) -> None:
    primary, secondary = on_call
    run = Run(paged)
    run(shot(deployment), minutes(0))
    run.until(minutes(3.5))
    run(answer("ack", primary), minutes(4))
    run(answer("on_my_way", secondary), minutes(4.25))
    assert not updates(run)  # nothing yet: the window is open
    run.until(minutes(5))
    sent = updates(run)
    assert {(i.team, i.person) for i in sent} == {(TEAM, primary), (TEAM, secondary)} | {
        (GVI, p) for p in {i.person for i in run.sent if i.team == GVI and i.purpose == "alert"}}
    assert all(i.created_at == minutes(4.5) for i in sent)  # 30 s after the first answer of the burst
    to_primary = next(i for i in sent if i.person == primary)
    names = {p.id: p.name for p in deployment.rosters[TEAM].people}

    def line(language: str, person: str, response: str) -> str:
        return phrase("answers.line", language, name=names[person], team=TEAM, answer=phrase(f"answer.{response}", language), at="22:08")

    assert to_primary.body.splitlines()[0] == line(to_primary.language, secondary, "on_my_way")  # not their own answer
    for to_gvi in (i for i in sent if i.team == GVI):
        assert to_gvi.body.splitlines()[:2] == [line(to_gvi.language, primary, "ack"), line(to_gvi.language, secondary, "on_my_way")]


def test_answers_after_the_window_make_a_second_update(deployment, paged, on_call) -> None:
    primary, secondary = on_call
    run = Run(paged)
    run(shot(deployment), minutes(0))
    run.until(minutes(3.5))
    run(answer("ack", primary), minutes(4))
    run.until(minutes(5))
    run(answer("on_my_way", secondary), minutes(6))
    run.until(minutes(7))
    to_gvi = [i for i in updates(run) if i.team == GVI]
    assert len({i.created_at for i in to_gvi}) == 2 and len({i.intent_id for i in to_gvi}) == len(to_gvi)


def test_a_late_answer_after_the_escalation_tells_dns_oncall_to_stand_down_and_ends_its_paging(deployment, paged, on_call) -> None:
    run = Run(paged)
    run(shot(deployment), minutes(0))
    run.until(minutes(11))
    assert [i.team for i in run.told if i.step == "escalation"] == ["dns-oncall"]
    run(answer("on_my_way", on_call[0]), minutes(11.5))
    run.until(minutes(30))
    stand_down = updates(run, "stand_down")
    paged_dns = {i.person for i in run.sent if i.team == "dns-oncall" and i.purpose == "alert"}
    assert {i.person for i in stand_down} == paged_dns and paged_dns
    assert all(i.body.startswith(f"Stand down: {TEAM} answered after the escalation.") for i in stand_down)
    assert max(i.created_at for i in run.sent if i.team == "dns-oncall" and i.purpose == "alert") < minutes(11.5)


def test_an_answer_in_time_tells_dns_oncall_nothing(deployment, paged, on_call) -> None:
    run = Run(paged)
    run(shot(deployment), minutes(0))
    run(answer("ack", on_call[0]), minutes(1))
    run.until(minutes(20))
    assert not [i for i in run.sent if i.team == "dns-oncall"]


def test_which_audiences_hear_answers_is_per_protocol(deployment, on_call) -> None:
    protocols = deployment.protocols
    spec = protocols.spec.model_copy(update={"protocols": tuple(
        p.model_copy(update={"share_answers_with": ("street",)}) for p in protocols.spec.protocols)})
    quiet = dataclasses.replace(protocols, spec=spec)
    from stream.core.replay import people_config

    run = Run(dataclasses.replace(people_config(deployment), protocols=quiet))
    run(shot(deployment), minutes(0))
    run.until(minutes(3.5))
    run(answer("ack", on_call[0]), minutes(4))
    run.until(minutes(5))
    assert {i.team for i in updates(run)} == {TEAM}  # the GVI team's protocol no longer shares answers with it


def test_a_team_without_paging_hears_answers_on_its_shared_recipients(deployment) -> None:
    run = Run(Config(deployment.coverage, deployment.protocols))
    run(shot(deployment), minutes(0))
    run(answer("on_my_way", None), minutes(1))
    run.until(minutes(2))
    sent = updates(run)
    assert {(i.team, i.person) for i in sent} == {(TEAM, None), (GVI, None)}
    assert all(f"{TEAM}: on the way, 22:05" in i.body for i in sent)


def test_cant_respond_is_shared_too(deployment, paged, on_call) -> None:
    run = Run(paged)
    run(shot(deployment), minutes(0))
    run(answer("unable", on_call[0]), minutes(1))
    run.until(minutes(2))
    to_secondary = next(i for i in updates(run) if i.person == on_call[1])
    assert f": {phrase('answer.unable', to_secondary.language)}, 22:05" in to_secondary.body
    assert timedelta(0) < to_secondary.created_at - minutes(1) <= timedelta(seconds=30)
