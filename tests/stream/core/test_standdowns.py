"""Standdowns: windows (one-off, weekly, ended early), the redirect of a stood-down team's alert to its fallback,
and the on-call team told when a window ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from stream.core.standdowns import Standdown, Weekly, ended_between, in_force, window_at
from stream.core.state_codec import dump_state, load_state
from stream.model.events import CoreInput
from stream.model.timeline import StoodDown
from tests.stream.core.conftest import T0, TEAM, Run, minutes, pages, shot

ZONE = ZoneInfo("America/Chicago")


def standdown(team: str | None = TEAM, *, area: str | None = None, starts: datetime = T0 - timedelta(hours=1),
              ends: datetime | None = T0 + timedelta(hours=2), weekly: Weekly | None = None, **more) -> Standdown:
    return Standdown(id=f"sd-{team or area}", team=team, area=area, reason="funeral", by="dns1", created_at=starts, starts=starts,
                     ends=ends, weekly=weekly, **more)


def test_a_one_off_window_holds_from_its_start_until_its_end_or_its_early_end() -> None:
    one = standdown()
    assert window_at(one, T0, ZONE) == (T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    assert window_at(one, T0 + timedelta(hours=2), ZONE) is None  # the end is not inside
    ended = one.model_copy(update={"ended_at": T0 + timedelta(minutes=5)})
    assert window_at(ended, minutes(4), ZONE) is not None
    assert window_at(ended, minutes(5), ZONE) is None


def test_a_weekly_window_holds_on_its_days_in_local_time_and_across_midnight() -> None:
    mondays = standdown(ends=None, starts=datetime(2026, 11, 1, tzinfo=UTC), weekly=Weekly(days=("mon",), start="16:00", end="18:00"))
    assert window_at(mondays, datetime(2026, 11, 30, 16, 30, tzinfo=ZONE), ZONE) is not None  # a Monday
    assert window_at(mondays, datetime(2026, 12, 1, 16, 30, tzinfo=ZONE), ZONE) is None  # a Tuesday
    assert window_at(mondays, datetime(2026, 11, 30, 18, 0, tzinfo=ZONE), ZONE) is None
    nights = standdown(ends=None, starts=datetime(2026, 11, 1, tzinfo=UTC), weekly=Weekly(days=("fri",), start="22:00", end="02:00"))
    assert window_at(nights, datetime(2026, 12, 5, 1, 30, tzinfo=ZONE), ZONE) == (
        datetime(2026, 12, 4, 22, 0, tzinfo=ZONE), datetime(2026, 12, 5, 2, 0, tzinfo=ZONE))  # Friday night into Saturday


def test_a_standdown_is_of_a_team_or_an_area_and_ends_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        standdown(team=None)
    with pytest.raises(ValidationError, match="needs an end"):
        standdown(ends=None)
    with pytest.raises(ValidationError, match="end after it starts"):
        standdown(ends=T0 - timedelta(hours=2))


def test_ended_between_lists_each_window_end_once_in_order() -> None:
    weekly = standdown(ends=None, starts=datetime(2026, 11, 1, tzinfo=UTC), weekly=Weekly(days=("mon", "tue"), start="16:00", end="18:00"))
    monday_end = datetime(2026, 11, 30, 18, 0, tzinfo=ZONE)
    assert ended_between([weekly], monday_end - timedelta(seconds=1), monday_end, ZONE) == [(weekly, monday_end)]
    assert ended_between([weekly], monday_end, monday_end + timedelta(seconds=1), ZONE) == []
    two_days = ended_between([weekly], monday_end - timedelta(hours=1), monday_end + timedelta(days=1), ZONE)
    assert [end for _, end in two_days] == [monday_end, monday_end + timedelta(days=1)]


def test_in_force_finds_a_team_standdown_and_an_area_standdown() -> None:
    team = standdown()
    area = standdown(team=None, area="Jordan")
    assert in_force([team], TEAM, "Jordan", T0, ZONE)[0] is team
    assert in_force([area], "gvi-outreach", "Jordan", T0, ZONE)[0] is area
    assert in_force([area], "gvi-outreach", "Hawthorne", T0, ZONE) is None


def test_a_stood_down_teams_alert_goes_to_its_escalation_target_at_once_saying_why(deployment, paged) -> None:
    config = replace(paged, standdowns=(standdown(),))
    run = Run(config)
    run(shot(deployment), T0)
    assert pages(run.sent) == []  # nobody of the stood-down team is paged
    redirected = [i for i in run.told + run.sent if i.stood_down_team == TEAM]
    assert redirected and {i.team for i in redirected} == {"dns-oncall"}
    assert all(i.created_at == T0 for i in redirected)  # at once, not at the deadline
    page = next(i for i in run.sent if i.team == "dns-oncall" and i.person)
    assert "vi-north-nearnorth is stood down until" in page.body and "(funeral)" in page.body
    assert "stood_down" in page.flags
    record = next(r for r in run.timeline if isinstance(r, StoodDown))
    assert (record.team, record.redirected_to, record.reason) == (TEAM, ("dns-oncall",), "funeral")
    run.until(minutes(30))
    assert not [i for i in run.told if i.step == "escalation"]  # the stood-down team had no deadline to miss


def test_a_team_not_stood_down_is_alerted_as_before(deployment, paged) -> None:
    config = replace(paged, standdowns=(standdown(starts=T0 + timedelta(minutes=1)),))  # starts a minute later
    run = Run(config)
    run(shot(deployment), T0)
    assert pages(run.sent)  # the team is paged
    assert not [i for i in run.told + run.sent if i.stood_down_team]


def test_an_area_standdown_redirects_every_team_of_a_shooting_in_the_area(deployment, paged) -> None:
    config = replace(paged, standdowns=(standdown(team=None, area="Jordan"),))
    run = Run(config)
    run(shot(deployment), T0)
    told = {i.team for i in run.told + run.sent if i.purpose == "alert"}
    assert told == {"dns-oncall"}  # the street team and GVI both went to the on-call team
    assert {i.stood_down_team for i in run.told + run.sent if i.stood_down_team} == {TEAM, "gvi-outreach"}


def test_the_on_call_team_is_never_stood_down(deployment, paged) -> None:
    config = replace(paged, standdowns=(standdown(team="dns-oncall"), standdown(team=None, area="Jordan")))
    run = Run(config)
    run(shot(deployment), T0)
    assert any(i.team == "dns-oncall" for i in run.sent)


def test_the_on_call_team_hears_when_a_window_ends_once(deployment, paged) -> None:
    ends = T0 + timedelta(minutes=5)
    config = replace(paged, standdowns=(standdown(ends=ends),))
    run = Run(config)
    run(CoreInput(type="tick"), T0)  # the first tick only starts the watch
    run.until(minutes(10), every=timedelta(seconds=1))
    notices = [i for i in run.sent if i.purpose == "notice"]
    assert [(i.team, i.created_at) for i in notices] == [("dns-oncall", ends)]
    assert "ended at 22:09" in notices[0].body and TEAM in notices[0].title
    state = load_state(dump_state(run.state))  # a successor knows where the watch stands
    assert state.standdowns_checked_at == run.state.standdowns_checked_at


def test_a_standdown_ended_early_is_told_at_its_early_end(deployment, paged) -> None:
    early = standdown().model_copy(update={"ended_at": minutes(2), "ended_by": "dns2"})
    run = Run(replace(paged, standdowns=(early,)))
    run(CoreInput(type="tick"), T0)
    run.until(minutes(4), every=timedelta(seconds=1))
    assert [i.created_at for i in run.sent if i.purpose == "notice"] == [minutes(2)]
