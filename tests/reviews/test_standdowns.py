"""Standdown requests checked against the bundled Minneapolis deployment (reviews/standdowns.py): teams and areas
with a did-you-mean, the on-call team refused with why, weekly windows and local times parsed in the deployment's
zone, and the listing (in force, upcoming, ended) with each window in local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reviews.standdowns import (
    StanddownError,
    StanddownRequest,
    StanddownRules,
    check_subject,
    describe,
    describe_window,
    listing,
    may_see,
    new_standdown,
    next_window,
    parse_local,
    parse_weekly,
    standdown_record,
)
from reviews.store import StoredStanddown
from reviews.users import User
from stream.core.standdowns import Standdown, Weekly

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=CHICAGO)  # a Wednesday


@pytest.fixture(scope="module")
def rules(deployment) -> StanddownRules:
    return StanddownRules.of(deployment.coverage)


def test_the_rules_know_the_deployments_teams_neighborhoods_on_call_team_and_zone(rules: StanddownRules) -> None:
    assert {"vi-north-camden", "gvi-outreach", "dns-oncall"} <= set(rules.teams)
    assert {"Jordan", "Midtown Phillips", "Powderhorn Park"} <= rules.neighborhoods and len(rules.neighborhoods) == 87
    assert rules.oncall == {"dns-oncall"} and rules.zone == CHICAGO


@pytest.mark.parametrize(("team", "area", "message"), [
    ("vi-nort-camden", None, "there is no team 'vi-nort-camden' (did you mean \"vi-north-camden\"?)"),
    ("nobody-at-all", None, "there is no team 'nobody-at-all'"),
    (None, "Jordn", "there is no neighborhood 'Jordn' (did you mean \"Jordan\"?)"),
    (None, "Powderhorn", "there is no neighborhood 'Powderhorn' (did you mean \"Powderhorn Park\"?)"),
    ("vi-central", "Jordan", "name a team or an area (a neighborhood), one of the two"),
    (None, "  ", "name a team or an area (a neighborhood), one of the two"),
])
def test_an_unknown_team_or_area_is_refused_with_a_did_you_mean(rules: StanddownRules, team, area, message: str) -> None:
    with pytest.raises(StanddownError) as info:
        check_subject(rules, team, area)
    assert str(info.value) == message


def test_the_on_call_team_cannot_be_stood_down_and_the_refusal_says_why(rules: StanddownRules) -> None:
    with pytest.raises(StanddownError) as info:
        check_subject(rules, "DNS-Oncall", None)
    assert str(info.value).startswith("dns-oncall is the on-call team: every alert of a stood-down team goes to it, "
                                      "so it cannot be stood down")


def test_a_team_or_area_in_another_case_is_named_as_the_deployment_names_it(rules: StanddownRules) -> None:
    assert check_subject(rules, " VI-Central ", "") == ("vi-central", None)
    assert check_subject(rules, None, "midtown phillips") == (None, "Midtown Phillips")


@pytest.mark.parametrize(("text", "days", "start", "end"), [
    ("every mon,wed 16:00-18:00", ("mon", "wed"), "16:00", "18:00"),
    ("Wednesday, monday 16:00 – 18:00", ("mon", "wed"), "16:00", "18:00"),
    ("every mon-fri 22:00-2:00", ("mon", "tue", "wed", "thu", "fri"), "22:00", "02:00"),
    ("fri-mon 9:30-10:00", ("mon", "fri", "sat", "sun"), "09:30", "10:00"),
    ("every weekends 08:00-12:00", ("sat", "sun"), "08:00", "12:00"),
    ("daily 00:00-06:00", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00", "06:00"),
])
def test_weekly_windows_are_read_as_people_write_them(text: str, days, start: str, end: str) -> None:
    assert parse_weekly(text) == Weekly(days=days, start=start, end=end)


@pytest.mark.parametrize(("text", "message"), [
    ("every mun 16:00-18:00", "'mun' is not a day of the week (did you mean"),
    ("every mon 24:00-18:00", "'24:00' is not a time of day (HH:MM, 00:00 to 23:59)"),
    ("every mon 16:00-16:00", "a weekly window's start and end must differ"),
    ("mondays", "'mondays' is not a weekly window: write it like 'every mon,wed 16:00-18:00'"),
])
def test_a_weekly_window_that_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(StanddownError) as info:
        parse_weekly(text)
    assert str(info.value).startswith(message)


def test_local_times_are_in_the_deployments_zone_and_a_skipped_one_is_refused() -> None:
    assert parse_local("2026-12-02 16:00", CHICAGO) == datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    assert parse_local("2026-07-04T16:00", CHICAGO) == datetime(2026, 7, 4, 21, 0, tzinfo=UTC)  # the browser's form, summer time
    assert parse_local("2026-12-02T16:00+00:00", CHICAGO) == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert parse_local("2026-11-01 01:30", CHICAGO) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # repeated: the first
    with pytest.raises(StanddownError) as info:
        parse_local("2026-03-08 02:30", CHICAGO, "start")
    assert str(info.value) == "the start 2026-03-08 02:30 does not exist in America/Chicago: the clocks skip it"
    with pytest.raises(StanddownError) as info:
        parse_local("tomorrow", CHICAGO, "end")
    assert str(info.value) == "the end 'tomorrow' is not a date and time: write it like '2026-12-02 16:00'"


def test_a_request_becomes_a_standdown_with_a_stable_id(rules: StanddownRules) -> None:
    request = StanddownRequest(team="vi-central", starts="2026-12-02 16:00", ends="2026-12-02 18:00", reason="  a   funeral ")
    made = new_standdown(rules, request, "dana", NOW)
    assert (made.team, made.reason, made.by, made.created_at) == ("vi-central", "a funeral", "dana", NOW)
    assert (made.starts, made.ends) == (datetime(2026, 12, 2, 16, 0, tzinfo=CHICAGO), datetime(2026, 12, 2, 18, 0, tzinfo=CHICAGO))
    later = NOW + timedelta(seconds=3)
    assert new_standdown(rules, request, "dana", later, requested_at=NOW).id == made.id  # the same form sent twice
    assert new_standdown(rules, request, "dana", later).id != made.id
    weekly = new_standdown(rules, StanddownRequest(area="Jordan", every="every mon 16:00-18:00", reason="drill"), "dana", NOW)
    assert weekly.starts == NOW and weekly.ends is None and weekly.weekly == Weekly(days=("mon",), start="16:00", end="18:00")


@pytest.mark.parametrize(("request_", "message"), [
    (StanddownRequest(team="vi-central", ends="2026-12-02 18:00"), "say why: a reason is required"),
    (StanddownRequest(team="vi-central", ends="2026-12-02 18:00", reason="x" * 301), "the reason is at most 300 characters, this one has 301"),
    (StanddownRequest(team="vi-central", reason="r"), "a one-off standdown needs an end (or give a weekly window)"),
    (StanddownRequest(team="vi-central", starts="2026-12-02 18:00", ends="2026-12-02 17:00", reason="r"), "the end must come after the start"),
    (StanddownRequest(team="vi-central", starts="2026-12-02 10:00", ends="2026-12-02 11:00", reason="r"), "the end has passed already"),
])
def test_a_request_that_cannot_be_taken_says_why(rules: StanddownRules, request_: StanddownRequest, message: str) -> None:
    with pytest.raises(StanddownError) as info:
        new_standdown(rules, request_, "dana", NOW)
    assert str(info.value).startswith(message)


def _stored(s: Standdown, sent: bool = True) -> StoredStanddown:
    return StoredStanddown(s, NOW if sent else None)


def _one(id_: str, **kw) -> Standdown:
    fields = {"id": id_, "team": "vi-central", "reason": "r", "by": "dana", "created_at": NOW - timedelta(days=1),
              "starts": NOW - timedelta(hours=1), "ends": NOW + timedelta(hours=1)}
    return Standdown(**{**fields, **kw})


def test_the_listing_puts_each_standdown_in_force_upcoming_or_ended_with_its_window() -> None:
    weekly = Weekly(days=("mon", "wed"), start="16:00", end="18:00")
    items = [
        _one("now"),
        _one("later", starts=NOW + timedelta(days=1), ends=NOW + timedelta(days=2)),
        _one("weekly-later", ends=None, weekly=weekly),  # Wednesday 15:00: today's window at 16:00
        _one("weekly-now", ends=None, starts=NOW - timedelta(days=7), weekly=Weekly(days=("wed",), start="14:00", end="15:30")),
        _one("over", starts=NOW - timedelta(hours=5), ends=NOW - timedelta(hours=4)),
        _one("ended", ended_at=NOW - timedelta(minutes=10), ended_by="olga"),
        _one("cancelled", starts=NOW + timedelta(days=1), ends=NOW + timedelta(days=2), ended_at=NOW - timedelta(minutes=5), ended_by="olga"),
    ]
    shown = listing([_stored(s, sent=s.id != "later") for s in items], NOW, CHICAGO)
    assert [(i.standdown.id, i.window) for i in shown.in_force] == [
        ("now", (NOW - timedelta(hours=1), NOW + timedelta(hours=1))),
        ("weekly-now", (NOW - timedelta(hours=1), NOW + timedelta(minutes=30))),
    ][::-1]  # ending soonest first
    assert [(i.standdown.id, i.window) for i in shown.upcoming] == [
        ("weekly-later", (NOW + timedelta(hours=1), NOW + timedelta(hours=3))),
        ("later", (NOW + timedelta(days=1), NOW + timedelta(days=2))),
    ]
    assert [i.standdown.id for i in shown.ended] == ["cancelled", "ended", "over"]
    assert [s.standdown.id for s in shown.unsent] == ["later"]


def test_the_next_window_of_a_weekly_standdown_crosses_the_week_and_stops_at_its_end() -> None:
    weekly = _one("w", ends=None, weekly=Weekly(days=("mon",), start="22:00", end="02:00"))
    assert next_window(weekly, NOW, CHICAGO) == (datetime(2026, 12, 7, 22, 0, tzinfo=CHICAGO), datetime(2026, 12, 8, 2, 0, tzinfo=CHICAGO))
    until_sunday = weekly.model_copy(update={"ends": datetime(2026, 12, 6, 23, 0, tzinfo=CHICAGO)})
    assert next_window(until_sunday, NOW, CHICAGO) is None


def test_windows_read_in_local_time() -> None:
    assert describe_window((NOW, NOW + timedelta(hours=3)), CHICAGO) == "Wed 2 Dec 15:00 – 18:00 CST"
    assert describe_window((NOW, NOW + timedelta(hours=12)), CHICAGO) == "Wed 2 Dec 15:00 – Thu 3 Dec 03:00 CST"
    weekly = _one("w", ends=datetime(2026, 12, 31, 0, 0, tzinfo=CHICAGO), weekly=Weekly(days=("mon", "wed"), start="16:00", end="18:00"))
    assert describe(weekly, CHICAGO) == "every mon, wed 16:00-18:00 (from Wed 2 Dec 2026 14:00 CST until Thu 31 Dec 2026 00:00 CST)"


def test_a_lead_sees_their_own_teams_and_the_areas_standdowns() -> None:
    lead = User("lee", "lead", "vi-central", False)
    assert may_see(lead, _one("a")) and may_see(lead, _one("b", team=None, area="Jordan"))
    assert not may_see(lead, _one("c", team="gvi-outreach"))
    assert may_see(User("dana", "dns", None, False), _one("c", team="gvi-outreach"))


def test_the_topic_record_is_keyed_by_id_and_holds_the_standdown() -> None:
    s = _one("sd-x", ended_at=NOW, ended_by="olga")
    key, value = standdown_record(s)
    assert key == b"sd-x" and Standdown.model_validate_json(value) == s
