"""The review's view of activations, computed from timeline records the core really makes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reviews.model import csv_rows, day_bounds, review_of, reviews_of, summarise
from stream.model.timeline import TimelineRecord
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, CoreRun

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)  # a Saturday evening: street teams on shift


Run = CoreRun


def test_an_ack_in_time_cancels_the_escalation(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-1", JORDAN, T0)
    run.answer("R-1", "vi-north-nearnorth", T0 + timedelta(minutes=3), "on_my_way")
    run.until(T0 + timedelta(hours=1))
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(hours=1))
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.acked_in_time, street.escalation_cancelled, street.response, street.minutes_to_ack) == (True, True, "on_my_way", 3.0)
    assert review.review_flags == ()
    # 30 s after the answer, the two teams told heard who is going
    assert [s.what for s in review.steps] == ["received", "decided", "sent", "sent", "delivered", "delivered", "acked", "updated", "updated"]
    assert review.steps[6].text == "vi-north-nearnorth: on my way, in time (escalation cancelled)"
    assert review.steps[6].minutes_since_previous == pytest.approx(3 - 1 / 60)
    assert [s.text for s in review.steps[7:]] == ["gvi-outreach told who has answered", "vi-north-nearnorth told who has answered"]
    assert review.steps[7].minutes_since_previous == pytest.approx(0.5)
    assert (review.kind.value, review.neighborhood, review.community) == ("person_shot", "Jordan", "Near North")
    assert review.seconds_to_notify == 1.0


def test_no_ack_is_a_missed_ack_and_an_escalation(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-2", MIDTOWN_PHILLIPS, T0)
    run.until(T0 + timedelta(hours=1))
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(hours=1))
    street = next(line for line in review.teams if line.team == "vi-south-phillips")
    assert street.acked_in_time is False and street.escalated_at == T0 + timedelta(minutes=10)
    oncall = next(line for line in review.teams if line.team == "dns-oncall")
    assert (oncall.step, oncall.escalated_from) == ("escalation", "vi-south-phillips")
    assert review.review_flags == ("missed_ack",)
    assert "escalated to dns-oncall: vi-south-phillips did not ack by 22:25:00" in [s.text for s in review.steps]


def test_cant_respond_is_escalated_at_once_and_shown_as_such_not_as_a_missed_ack(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-3", JORDAN, T0)
    run.answer("R-3", "vi-north-nearnorth", T0 + timedelta(minutes=2), "unable")
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(hours=1))
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.declined_at, street.escalated_at) == (T0 + timedelta(minutes=2),) * 2
    # it answered: not acked in time, and not a missed ack either
    assert (street.ack_state, street.acked_in_time, street.missed) == ("cant_respond", None, False)
    assert review.review_flags == ("cant_respond",)
    oncall = next(line for line in review.teams if line.team == "dns-oncall")
    assert (oncall.escalated_from, oncall.escalated_because) == ("vi-north-nearnorth", "cant_respond")
    texts = [s.text for s in review.steps]
    assert "vi-north-nearnorth: can't respond" in texts
    escalated = "escalated to dns-oncall: vi-north-nearnorth answered can't respond at 22:17:00"
    assert escalated in texts and "did not ack" not in " ".join(texts)
    assert texts.index("vi-north-nearnorth: can't respond") < texts.index(escalated)  # the answer, then what it caused


def test_coverage_gap_and_delivery_failure_are_flagged(deployment) -> None:
    run = Run(deployment, delivery="failed")
    activation = run.shooting("R-4", HIAWATHA, T0)
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(hours=1))
    assert review.review_flags == ("coverage_gap", "delivery_failure")
    assert review.seconds_to_notify is None  # nothing reached anybody


def test_a_record_set_without_a_decision_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="has no decision record"):
        review_of([], CHICAGO, now=T0)


def test_summary_and_csv_over_a_night(deployment) -> None:
    run = Run(deployment)
    jordan = run.shooting("R-5", JORDAN, T0)
    run.answer("R-5", "vi-north-nearnorth", T0 + timedelta(minutes=4))
    run.shooting("R-6", MIDTOWN_PHILLIPS, T0 + timedelta(minutes=30))
    run.shooting("R-7", HIAWATHA, T0 + timedelta(minutes=50))
    run.until(T0 + timedelta(hours=2))
    by_activation: dict[str, list[TimelineRecord]] = {}
    for record in run.records:
        by_activation.setdefault(record.activation_id, []).append(record)
    reviews = reviews_of(by_activation, CHICAGO, now=T0 + timedelta(hours=2))
    assert [r.incidents for r in reviews] == [("R-5",), ("R-6",), ("R-7",)]
    summary = summarise(reviews, CHICAGO, outcomes=["went_to_scene", "went_to_scene", "unable"])
    assert summary.activations == 3 and summary.by_kind == {"person shot": 3}
    assert summary.flags == {"coverage_gap": 1, "retaliation_watch": 0, "missed_ack": 1, "cant_respond": 0, "delivery_failure": 0,
                             "stood_down": 0}
    assert summary.gaps_by_neighborhood == {"Hiawatha": 1} and summary.gaps_by_hour == {23: 1}
    street = {t.team: t for t in summary.teams}
    assert (street["vi-north-nearnorth"].acked_in_time, street["vi-north-nearnorth"].share_in_time) == (1, 1.0)
    assert street["vi-south-phillips"].share_in_time == 0.0 and street["gvi-outreach"].share_in_time is None
    assert summary.outcomes == {"went_to_scene": 2, "unable": 1}
    rows = csv_rows(reviews, CHICAGO, {(jordan, "vi-north-nearnorth"): ("went_to_scene", None)})
    first = next(r for r in rows if r["team"] == "vi-north-nearnorth")
    assert (first["date"], first["acked_in_time"], first["outcome"], first["opened"]) == ("2026-07-04", "yes", "went_to_scene", "2026-07-04T22:15:00-05:00")


def test_a_fall_back_day_is_25_hours_long() -> None:
    start, end = day_bounds(date(2026, 11, 1), CHICAGO)
    assert end.timestamp() - start.timestamp() == 25 * 3600


def test_a_deadline_still_running_is_not_a_missed_ack(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-8", MIDTOWN_PHILLIPS, T0)
    run.until(T0 + timedelta(minutes=5))  # the 10-minute deadline has not passed
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(minutes=5))
    street = next(line for line in review.teams if line.team == "vi-south-phillips")
    assert (street.missed, street.escalated_at) == (False, None)
    assert review.review_flags == ()


def test_an_ack_after_the_deadline_is_a_miss(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-9", JORDAN, T0)
    run.answer("R-9", "vi-north-nearnorth", T0 + timedelta(minutes=20))
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(hours=1))
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.missed, street.acked_in_time, street.escalation_cancelled) == (True, False, False)
    assert review.review_flags == ("missed_ack",)


def test_cant_respond_after_the_deadline_passed_is_a_miss(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-10", MIDTOWN_PHILLIPS, T0)
    run.until(T0 + timedelta(minutes=11))  # 22:25: escalated, nobody answered
    run.answer("R-10", "vi-south-phillips", T0 + timedelta(minutes=12), "unable")
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(hours=1))
    street = next(line for line in review.teams if line.team == "vi-south-phillips")
    assert (street.ack_state, street.acked_in_time, street.missed) == ("late", False, True)
    assert review.review_flags == ("missed_ack",)
    texts = [s.text for s in review.steps]
    assert "escalated to dns-oncall: vi-south-phillips did not ack by 22:25:00" in texts
    assert "vi-south-phillips: can't respond, after the deadline" in texts


def test_a_running_deadline_is_awaiting_and_a_passed_one_without_an_answer_is_a_miss(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-11", MIDTOWN_PHILLIPS, T0)
    run.until(T0 + timedelta(minutes=5))  # the worker stopped here: the escalation never fired
    running = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(minutes=5))
    street = next(line for line in running.teams if line.team == "vi-south-phillips")
    assert (street.ack_state, street.acked_in_time, street.missed) == ("awaiting", None, False)
    assert running.review_flags == ()
    at_deadline = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(minutes=10))
    assert next(line for line in at_deadline.teams if line.team == "vi-south-phillips").ack_state == "awaiting"  # an ack now is in time
    passed = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(minutes=11))
    street = next(line for line in passed.teams if line.team == "vi-south-phillips")
    assert (street.ack_state, street.acked_in_time, street.missed) == ("no_answer", False, True)
    assert passed.review_flags == ("missed_ack",)


def test_times_stamped_by_another_clock_are_put_back_on_the_decisions_clock(deployment) -> None:
    # records stored before the fix: the HL7 listener's received stamp 150 days ahead of the worker's
    # decision, and a delivery stamped by another worker whose clock ran 5 s behind
    run = Run(deployment)
    activation = run.arrival("V-CLK", T0)
    records = []
    for record in run.of(activation):
        if record.kind == "event_received":
            record = record.model_copy(update={"at": record.at + timedelta(days=150)})
        if record.kind == "delivery":
            record = record.model_copy(update={"at": T0 - timedelta(seconds=5)})
        records.append(record)
    review = review_of(records, CHICAGO, now=T0 + timedelta(hours=1))
    assert review.first_received_at == T0
    assert review.seconds_to_notify == 0.0  # never negative
    assert [s.what for s in review.steps][:2] == ["received", "decided"]
    assert all(s.at.date() == T0.date() for s in review.steps)


def test_the_summary_counts_cant_respond_and_awaiting_apart(deployment) -> None:
    from tests.reviews.test_truthful_review import NOW, truthful_night

    run, ids = truthful_night(deployment)
    reviews = reviews_of({a: run.of(a) for a in ids.values()}, CHICAGO, now=NOW)
    summary = summarise(reviews, CHICAGO)
    assert (summary.flags["cant_respond"], summary.flags["missed_ack"]) == (1, 0)
    teams = {t.team: t for t in summary.teams}
    phillips, jordan = teams["vi-south-phillips"], teams["vi-north-nearnorth"]
    assert (phillips.with_deadline, phillips.decided, phillips.acked_in_time, phillips.cant_respond, phillips.share_in_time) == (1, 1, 0, 1, 0.0)
    assert (jordan.with_deadline, jordan.decided, jordan.awaiting, jordan.share_in_time) == (1, 0, 1, None)


def test_what_a_cant_respond_brings_about_is_read_from_the_stored_timeline(deployment) -> None:
    from reviews.model import IfCantRespond, if_cant_respond

    run = Run(deployment)
    records = run.of(run.shooting("R-12", JORDAN, T0))
    assert if_cant_respond(records, "vi-north-nearnorth") == IfCantRespond(will_tell=("dns-oncall",))
    assert if_cant_respond(records, "gvi-outreach") == IfCantRespond()  # no deadline, no escalation
    # records stored before intents carried their chain: a deadline escalates to dns-oncall, as every protocol's does
    legacy = [r.model_copy(update={"escalates_to": None}) if r.kind == "intent" else r for r in records]
    assert if_cant_respond(legacy, "vi-north-nearnorth").will_tell == ("dns-oncall",)
    # a deadline with nobody to escalate to (a protocol may set ack_within_minutes without escalate)
    alone = [r.model_copy(update={"escalates_to": ()}) if r.kind == "intent" else r for r in records]
    assert if_cant_respond(alone, "vi-north-nearnorth") == IfCantRespond()


def test_a_paged_team_shows_who_was_on_call_each_page_and_its_delivery(deployment) -> None:
    from stream.core.replay import people_config

    run = Run(deployment)
    run.config = people_config(deployment)
    activation = run.shooting("R-9", JORDAN, T0)
    run.until(T0 + timedelta(minutes=4))
    review = review_of(run.of(activation), CHICAGO, now=T0 + timedelta(minutes=4))
    sent = next(s for s in review.steps if s.what == "sent" and s.team == "vi-north-nearnorth")
    assert sent.text.endswith("; ack by 22:25:00; on call: yer-l (primary), luis-g (secondary)")
    pages = [s.text for s in review.steps if s.what == "paged" and s.team == "vi-north-nearnorth"]
    assert pages == ["page to yer-l (vi-north-nearnorth) by push", "page to yer-l (vi-north-nearnorth) by sms",
                     "page to luis-g (vi-north-nearnorth) by push", "page to yer-l (vi-north-nearnorth) by email"]
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    # the team's line is its pages' delivery taken together: delivered a second after the first page, 4 phones
    assert (street.delivery, street.delivered_at, street.recipients) == ("delivered", T0 + timedelta(seconds=1), 4)
    assert [line.team for line in review.teams] == ["vi-north-nearnorth", "gvi-outreach"]  # pages are not teams
