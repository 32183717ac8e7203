"""What DNS does from the live board, as the core takes it: an answer on a team's behalf, a re-page, a close;
and drills, labelled DRILL on every alert and never joined with a real shooting."""

from __future__ import annotations

from stream.core.phrases import phrase
from stream.core.state_codec import dump_state, load_state
from stream.model.events import AckMessage, BoardAction, CoreInput, EventKind
from stream.model.timeline import AckRecorded, ActivationDecided, BoardActed
from tests.stream.core.conftest import T0, TEAM, Run, minutes, pages, shot


def action(kind: str, team: str | None = None, request: str = "r1") -> CoreInput:
    return CoreInput(type="action", action=BoardAction(action=kind, ref="S-1", team=team, by="dns1", request_id=request))


def test_an_answer_on_the_teams_behalf_stops_its_paging_and_is_recorded_as_such(deployment, paged) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    run(CoreInput(type="ack", ack=AckMessage(ref="S-1", team=TEAM, response="on_my_way", by="dns1")), minutes(1))
    run.until(minutes(30))
    assert max(t for t, *_ in pages(run.sent)) == 0  # nobody paged after the answer
    answer = next(r for r in run.timeline if isinstance(r, AckRecorded))
    assert (answer.by, answer.person, answer.response) == ("dns1", None, "on_my_way")
    assert not [i for i in run.told if i.step == "escalation"]


def test_a_repage_pages_the_team_again_now_saying_so_once_per_request(deployment, paged, on_call) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    again = run(action("repage", TEAM), minutes(1))
    assert pages(again) == [(1, on_call[0], "push")]  # the primary, from the top of the rotation
    assert all(i.body.startswith(phrase("repage.body", i.language)) for i in again)
    assert run(action("repage", TEAM), minutes(1.5)) == []  # the same request again: nothing more
    record = next(r for r in run.timeline if isinstance(r, BoardActed))
    assert (record.action, record.team, record.by) == ("repage", TEAM, "dns1")


def test_a_repage_of_a_team_never_told_is_refused_with_the_reason(deployment, paged) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    from stream.core.step import step

    _, done = step(run.state, action("repage", "mps-safety"), minutes(1), paged)
    assert done.outcome.problem and "mps-safety" in done.outcome.problem and not done.outcome.intents


def test_close_stops_every_page_and_escalation_and_survives_a_restart(deployment, paged) -> None:
    run = Run(paged)
    run(shot(deployment), T0)
    run(action("close"), minutes(1))
    run.state = load_state(dump_state(run.state))
    run.until(minutes(30))
    assert max(i.created_at for i in run.sent) == T0  # nothing after the close
    assert not [i for i in run.told if i.step == "escalation"]
    activation = next(iter(run.state.activations.values()))
    assert activation.closed_at == minutes(1)
    assert any(isinstance(r, BoardActed) and r.action == "close" for r in run.timeline)


def test_a_drill_says_drill_first_on_every_alert_and_is_recorded_as_one(deployment, paged) -> None:
    drill = shot(deployment)
    drill = CoreInput(type="event", event=drill.event.model_copy(update={"drill": True}))
    run = Run(paged)
    run(drill, T0)
    run.until(minutes(12))
    assert run.sent and all(i.title.startswith("DRILL") and i.body.startswith("DRILL") and i.drill for i in run.sent)
    decided = next(r for r in run.timeline if isinstance(r, ActivationDecided))
    assert decided.drill


def test_the_answers_updates_of_a_drill_say_drill_too(deployment, paged, on_call) -> None:
    drill = shot(deployment)
    run = Run(paged)
    run(CoreInput(type="event", event=drill.event.model_copy(update={"drill": True})), T0)
    run(CoreInput(type="ack", ack=AckMessage(ref="S-1", team=TEAM, response="on_my_way", person=on_call[0])), minutes(1))
    run.until(minutes(2))
    updates = [i for i in run.sent if i.purpose == "answers"]
    assert updates and all(i.title.startswith("DRILL") and i.body.startswith("DRILL") and i.drill for i in updates)


def test_a_drill_never_joins_a_real_shooting(deployment, paged) -> None:
    real = shot(deployment)
    drill = CoreInput(type="event", event=real.event.model_copy(update={
        "drill": True, "event_id": "drill-1", "incident_id": "D-1", "ref": "D-1", "kind": EventKind.SHOTSPOTTER, "source": "shotspotter"}))
    run = Run(paged)
    run(real, T0)
    run(drill, minutes(1))
    assert len(run.state.activations) == 2
