"""The review reads what issue 17 adds to the timeline: answers on a team's behalf, standdown redirects, the live
board's re-pages and closes, drills; the CSV's new columns and the packet's action items. The activations are
the real core's (tests.helpers.CoreRun); the new records are built by hand on top, as the worker will write them."""

from __future__ import annotations

from datetime import timedelta

from reviews.model import action_items, csv_rows, review_of, summarise
from stream.model.timeline import AckRecorded, ActivationDecided, BoardActed, IntentCreated, StoodDown
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, CoreRun
from tests.reviews.test_model import CHICAGO, T0

LATER = T0 + timedelta(hours=1)


def _jordan(deployment, incident: str = "OPS-1") -> tuple[CoreRun, str]:
    run = CoreRun(deployment)
    return run, run.shooting(incident, JORDAN, T0)


def test_an_answer_on_the_teams_behalf_names_who_gave_it_in_the_steps_the_line_and_the_csv(deployment) -> None:
    run, activation = _jordan(deployment)
    records = run.of(activation) + [AckRecorded(
        entry_id="ack-behalf", activation_id=activation, at=T0 + timedelta(minutes=5), team="vi-north-nearnorth", first=True,
        within_deadline=True, response="on_my_way", by="dns1")]
    review = review_of(records, CHICAGO, now=LATER)
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.response, street.answered_by, street.answered_name, street.first_answer_by) == ("on_my_way", "dns1", None, (None, "dns1"))
    assert ("vi-north-nearnorth: on my way, in time (escalation cancelled); answered on the team's behalf by dns1"
            in [s.text for s in review.steps])
    row = next(r for r in csv_rows([review], CHICAGO) if r["team"] == "vi-north-nearnorth")
    assert (row["answered_by"], row["minutes_to_answer"], row["response"]) == ("by dns1 for the team", "5.0", "on_my_way")


def test_a_cant_respond_is_the_answer_in_the_csv_with_its_minutes_and_who(deployment) -> None:
    run, activation = _jordan(deployment)
    run.answer("OPS-1", "vi-north-nearnorth", T0 + timedelta(minutes=2), "unable")
    review = review_of(run.of(activation), CHICAGO, now=LATER)
    row = next(r for r in csv_rows([review], CHICAGO, notes={activation: 3}) if r["team"] == "vi-north-nearnorth")
    assert (row["response"], row["answered"], row["minutes_to_answer"]) == ("unable", "2026-07-04T22:17:00-05:00", "2.0")
    assert (row["acked_in_time"], row["notes"], row["incident"], row["drill"]) == ("can't respond", "3", "OPS-1", "")


def test_a_standdown_redirect_is_a_step_a_flag_and_the_reason_on_the_told_teams_line(deployment) -> None:
    run, activation = _jordan(deployment)
    records = run.of(activation)
    street = next(r for r in records if isinstance(r, IntentCreated) and r.team == "vi-north-nearnorth")
    # what the worker writes when vi-north-nearnorth is stood down: the redirect, and dns-oncall's alert in its place
    records = [r for r in records if getattr(r, "team", None) != "vi-north-nearnorth"] + [
        StoodDown(entry_id="sd-1", activation_id=activation, at=street.at, team="vi-north-nearnorth", standdown_id="sd-funeral",
                  reason="funeral", until=T0.replace(hour=23, minute=59) + timedelta(hours=18, minutes=1), redirected_to=("dns-oncall",)),
        street.model_copy(update={"entry_id": "redirected", "intent_id": "int-redirected", "team": "dns-oncall",
                                  "stood_down_team": "vi-north-nearnorth"}),
    ]
    review = review_of(records, CHICAGO, now=LATER)
    assert "stood_down" in review.flags and review.review_flags[-1] == "stood_down"
    texts = [s.text for s in review.steps]
    stood = "vi-north-nearnorth stood down (funeral) until Sun 05 Jul 18:00: alert sent to dns-oncall"
    assert stood in texts
    sent = next(t for t in texts if t.startswith("alert to dns-oncall"))
    assert "because vi-north-nearnorth is stood down" in sent and texts.index(stood) < texts.index(sent)
    oncall = next(line for line in review.teams if line.team == "dns-oncall")
    assert oncall.stood_down_for == "vi-north-nearnorth"
    assert [(t.team, t.reason, t.redirected_to) for t in review.stood_down_teams] == [("vi-north-nearnorth", "funeral", ("dns-oncall",))]


def test_a_repage_and_a_close_from_the_board_are_steps_and_the_close_is_kept(deployment) -> None:
    run, activation = _jordan(deployment)
    repage = BoardActed(entry_id="b-1", activation_id=activation, at=T0 + timedelta(minutes=4), action="repage", team="vi-north-nearnorth",
                        by="dns1")
    close = BoardActed(entry_id="b-2", activation_id=activation, at=T0 + timedelta(minutes=40), action="close", by="dns2")
    review = review_of(run.of(activation) + [close, repage], CHICAGO, now=LATER)
    steps = [(s.what, s.text) for s in review.steps]
    assert ("repaged", "re-paged vi-north-nearnorth by dns1") in steps and steps[-1] == ("closed", "closed by dns2")
    assert (review.closed, review.closed_at, review.closed_by) == (True, T0 + timedelta(minutes=40), "dns2")
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert street.repages == ((T0 + timedelta(minutes=4), "dns1"),)
    assert review_of(run.of(activation), CHICAGO, now=LATER).closed is False


def test_a_drill_is_labelled_and_left_out_of_the_summary_and_the_action_items(deployment) -> None:
    run = CoreRun(deployment)
    real = run.shooting("OPS-R", MIDTOWN_PHILLIPS, T0)
    drill = run.shooting("OPS-D", HIAWATHA, T0 + timedelta(minutes=5))
    run.until(LATER)
    drill_records = [r.model_copy(update={"drill": True}) if isinstance(r, ActivationDecided) else r for r in run.of(drill)]
    reviews = [review_of(run.of(real), CHICAGO, now=LATER), review_of(drill_records, CHICAGO, now=LATER)]
    assert [r.drill for r in reviews] == [False, True]
    assert any(s.text.startswith("opened (DRILL): ") for s in reviews[1].steps)
    summary = summarise(reviews, CHICAGO)
    assert (summary.activations, summary.drills_left_out, summary.flags["coverage_gap"]) == (1, 1, 0)
    assert {i.activation_id for i in action_items(reviews, {}, CHICAGO)} == {real}
    assert {r["drill"] for r in csv_rows(reviews, CHICAGO) if r["activation"] == drill} == {"yes"}


def test_action_items_name_their_owners(deployment) -> None:
    run = CoreRun(deployment)
    phillips = run.shooting("OPS-P", MIDTOWN_PHILLIPS, T0)
    run.until(LATER)
    review = review_of(run.of(phillips), CHICAGO, now=LATER)
    items = [(i.owner, i.text) for i in action_items([review], {(phillips, "gvi-outreach"): "went_to_scene"}, CHICAGO)]
    assert ("vi-south-phillips lead", "record vi-south-phillips's outcome (22:15 person shot, Midtown Phillips)") in items
    assert ("DNS", "record dns-oncall's outcome (22:15 person shot, Midtown Phillips)") in items
    assert ("DNS", "decide and document why vi-south-phillips missed its ack (22:15 person shot, Midtown Phillips)") in items
    assert not any("gvi-outreach" in text for _, text in items)  # its outcome is recorded


def test_a_hospital_only_activation_has_no_incident_number(deployment) -> None:
    run = CoreRun(deployment)
    arrival = run.arrival("OPS-H", T0)
    review = review_of(run.of(arrival), CHICAGO, now=LATER)
    assert review.incidents and review.cad_incidents == ()
    assert {r["incident"] for r in csv_rows([review], CHICAGO)} == {""}


def test_a_repage_from_the_core_is_one_step_not_a_second_alert_or_team_line(deployment) -> None:
    from stream.core.replay import people_config
    from stream.core.state import CoreState
    from stream.core.step import step
    from stream.model.events import BoardAction, CoreInput
    from tests.stream.core.conftest import T0 as START
    from tests.stream.core.conftest import TEAM, minutes, shot

    paged_config, state, records = people_config(deployment), CoreState(), []
    for item, at in ((shot(deployment), START),
                     (CoreInput(type="action", action=BoardAction(action="repage", ref="S-1", team=TEAM, by="dns1", request_id="r")), minutes(1))):
        state, done = step(state, item, at, paged_config)
        records += done.outcome.timeline
    review = review_of(records, CHICAGO, now=minutes(2))
    assert [line.team for line in review.teams].count(TEAM) == 1
    sent = [s.text for s in review.steps if s.what == "sent" and s.team == TEAM]
    assert len(sent) == 1 and "re-paged vi-north-nearnorth by dns1" in [s.text for s in review.steps]
    assert [s.at for s in review.steps if s.what == "paged" and s.team == TEAM] == [START, minutes(1)]  # its page is shown
