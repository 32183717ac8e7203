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
    review = review_of(run.of(activation), CHICAGO)
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.acked_in_time, street.escalation_cancelled, street.response, street.minutes_to_ack) == (True, True, "on_my_way", 3.0)
    assert review.review_flags == ()
    assert [s.what for s in review.steps] == ["received", "decided", "sent", "sent", "delivered", "delivered", "acked"]
    assert review.steps[-1].text == "vi-north-nearnorth: on my way, in time (escalation cancelled)"
    assert review.steps[-1].minutes_since_previous == pytest.approx(3 - 1 / 60)
    assert (review.kind.value, review.neighborhood, review.community) == ("person_shot", "Jordan", "Near North")
    assert review.seconds_to_notify == 1.0


def test_no_ack_is_a_missed_ack_and_an_escalation(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-2", MIDTOWN_PHILLIPS, T0)
    run.until(T0 + timedelta(hours=1))
    review = review_of(run.of(activation), CHICAGO)
    street = next(line for line in review.teams if line.team == "vi-south-phillips")
    assert street.acked_in_time is False and street.escalated_at == T0 + timedelta(minutes=10)
    oncall = next(line for line in review.teams if line.team == "dns-oncall")
    assert (oncall.step, oncall.escalated_from) == ("escalation", "vi-south-phillips")
    assert review.review_flags == ("missed_ack",)
    assert "escalated to dns-oncall: vi-south-phillips did not ack by 22:25:00" in [s.text for s in review.steps]


def test_cant_respond_is_a_missed_ack_escalated_at_once(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-3", JORDAN, T0)
    run.answer("R-3", "vi-north-nearnorth", T0 + timedelta(minutes=2), "unable")
    review = review_of(run.of(activation), CHICAGO)
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.declined_at, street.escalated_at, street.acked_in_time) == (T0 + timedelta(minutes=2),) * 2 + (False,)
    assert "vi-north-nearnorth: can't respond" in [s.text for s in review.steps]


def test_coverage_gap_and_delivery_failure_are_flagged(deployment) -> None:
    run = Run(deployment, delivery="failed")
    activation = run.shooting("R-4", HIAWATHA, T0)
    review = review_of(run.of(activation), CHICAGO)
    assert review.review_flags == ("coverage_gap", "delivery_failure")
    assert review.seconds_to_notify is None  # nothing reached anybody


def test_a_record_set_without_a_decision_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="has no decision record"):
        review_of([], CHICAGO)


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
    reviews = reviews_of(by_activation, CHICAGO)
    assert [r.incidents for r in reviews] == [("R-5",), ("R-6",), ("R-7",)]
    summary = summarise(reviews, CHICAGO, outcomes=["went_to_scene", "went_to_scene", "unable"])
    assert summary.activations == 3 and summary.by_kind == {"person shot": 3}
    assert summary.flags == {"coverage_gap": 1, "retaliation_watch": 0, "missed_ack": 1, "delivery_failure": 0}
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
    review = review_of(run.of(activation), CHICAGO)
    street = next(line for line in review.teams if line.team == "vi-south-phillips")
    assert (street.missed, street.escalated_at) == (False, None)
    assert review.review_flags == ()


def test_an_ack_after_the_deadline_is_a_miss(deployment) -> None:
    run = Run(deployment)
    activation = run.shooting("R-9", JORDAN, T0)
    run.answer("R-9", "vi-north-nearnorth", T0 + timedelta(minutes=20))
    review = review_of(run.of(activation), CHICAGO)
    street = next(line for line in review.teams if line.team == "vi-north-nearnorth")
    assert (street.missed, street.acked_in_time, street.escalation_cancelled) == (True, False, False)
    assert review.review_flags == ("missed_ack",)
