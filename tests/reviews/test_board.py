"""The live board's rows (reviews/board.py), from timeline records the core really makes plus hand-built ones for
what the board adds: people paged, answers on a team's behalf, board actions, stand-downs and drills."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reviews.board import board_row, board_rows, for_lead, is_open
from reviews.store import ReviewStore
from stream.model.timeline import AckRecorded, ActivationDecided, BoardActed, IntentCreated, StoodDown, TimelineRecord
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, CoreRun

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)
STREET = "vi-north-nearnorth"


def _night(deployment) -> tuple[CoreRun, dict[str, str]]:
    run = CoreRun(deployment)
    ids = {"jordan": run.shooting("B-1", JORDAN, T0)}
    ids["phillips"] = run.shooting("B-2", MIDTOWN_PHILLIPS, T0 + timedelta(minutes=5))
    ids["gap"] = run.shooting("B-3", HIAWATHA, T0 + timedelta(minutes=6))
    return run, ids


def _team(row, name: str):
    return next(t for t in row.teams if t.team == name)


def _ack(activation: str, at: datetime, n: int = 1, **kw) -> AckRecorded:
    return AckRecorded(entry_id=f"tl-ack-{n}", activation_id=activation, at=at, team=kw.pop("team", STREET), first=n == 1,
                       within_deadline=True, **kw)


def test_a_fresh_activation_waits_on_its_street_team(deployment) -> None:
    run, ids = _night(deployment)
    row = board_row(run.of(ids["jordan"]), CHICAGO, now=T0 + timedelta(minutes=4))
    street = _team(row, STREET)
    assert (row.what, row.review.neighborhood, row.flags) == ("person shot", "Jordan", ())
    assert (street.deadline, street.answered, street.overdue, street.waiting, street.escalated) == (T0 + timedelta(minutes=10), False, False, True, False)
    assert not row.overdue and not row.settled
    assert sorted(t.team for t in row.teams) == ["gvi-outreach", STREET]


def test_a_deadline_passed_unanswered_is_overdue_and_escalated(deployment) -> None:
    run, ids = _night(deployment)
    run.until(T0 + timedelta(minutes=12))
    row = board_row(run.of(ids["jordan"]), CHICAGO, now=T0 + timedelta(minutes=12))
    street = _team(row, STREET)
    assert (street.overdue, street.escalated, row.overdue, row.settled) == (True, True, True, False)
    assert sorted(t.team for t in row.teams) == ["dns-oncall", "gvi-outreach", STREET]  # the escalation's line


def test_an_answer_settles_the_row_and_says_who_gave_it(deployment) -> None:
    run, ids = _night(deployment)
    records = [*run.of(ids["jordan"]), _ack(ids["jordan"], T0 + timedelta(minutes=3), response="on_my_way", person="yer-l", name="Yer L.")]
    row = board_row(records, CHICAGO, now=T0 + timedelta(minutes=20))
    street = _team(row, STREET)
    assert [(a.label, a.who, a.by) for a in street.answers] == [("on my way", "Yer L.", None)]
    assert (street.overdue, row.overdue, row.settled) == (False, False, True)


def test_a_row_where_no_team_owes_an_answer_is_not_settled(deployment) -> None:
    run, ids = _night(deployment)
    row = board_row(run.of(ids["gap"]), CHICAGO, now=T0 + timedelta(minutes=30))
    assert all(t.deadline is None for t in row.teams) and "coverage_gap" in row.flags
    assert not row.settled and not row.overdue  # DNS itself was told: not dimmed as done


def test_an_answer_on_the_teams_behalf_names_the_dns_user(deployment) -> None:
    run, ids = _night(deployment)
    records = [*run.of(ids["jordan"]), _ack(ids["jordan"], T0 + timedelta(minutes=12), response="ack", by="dana")]
    street = _team(board_row(records, CHICAGO, now=T0 + timedelta(minutes=13)), STREET)
    assert [(a.response, a.who, a.by) for a in street.answers] == [("ack", None, "dana")]
    assert not street.overdue  # answered, if late


def test_people_paged_and_on_call_by_name(deployment) -> None:
    run, ids = _night(deployment)
    own = next(r for r in run.of(ids["jordan"]) if isinstance(r, IntentCreated) and r.team == STREET)
    records: list[TimelineRecord] = [r for r in run.of(ids["jordan"]) if r is not own]
    records.append(own.model_copy(update={"on_call": ("primary:ana-r", "secondary:pa-v")}))
    for n, person in enumerate(("ana-r", "pa-v")):
        records.append(own.model_copy(update={"entry_id": f"tl-page-{n}", "intent_id": f"int-page-{n}", "person": person,
                                              "at": own.at + timedelta(minutes=2 * n)}))
    records.append(_ack(ids["jordan"], T0 + timedelta(minutes=5), person="pa-v", name="Pa V.", response="unable"))
    street = _team(board_row(records, CHICAGO, now=T0 + timedelta(minutes=6)), STREET)
    assert street.paged == ("ana-r", "Pa V.")  # a name once the roster gave it with an answer
    assert street.on_call == ("ana-r (primary)", "Pa V. (secondary)")
    assert [a.label for a in street.answers] == ["can't respond"]


def test_flags_severe_drill_and_stood_down(deployment) -> None:
    run, ids = _night(deployment)
    records = list(run.of(ids["gap"]))
    decided = next(r for r in records if isinstance(r, ActivationDecided))
    records[records.index(decided)] = decided.model_copy(update={"protocols": ("P2", "P6"), "drill": True})
    records.append(StoodDown(entry_id="tl-sd", activation_id=ids["gap"], at=T0 + timedelta(minutes=6), team="vi-south-phillips",
                             standdown_id="sd-1", reason="funeral", until=T0 + timedelta(hours=2), redirected_to=("dns-oncall",)))
    row = board_row(records, CHICAGO, now=T0 + timedelta(minutes=7))
    assert row.flags == ("drill", "severe", "coverage_gap", "stood_down")
    assert row.drill and [s.reason for s in row.stood_down] == ["funeral"]


def test_a_stand_in_alert_says_whose_it_is(deployment) -> None:
    run, ids = _night(deployment)
    records = [r.model_copy(update={"stood_down_team": "vi-south-phillips"}) if isinstance(r, IntentCreated) and r.team == "gvi-outreach" else r
               for r in run.of(ids["phillips"])]
    row = board_row(records, CHICAGO, now=T0 + timedelta(minutes=7))
    assert _team(row, "gvi-outreach").in_place_of == "vi-south-phillips" and "stood_down" in row.flags


def test_repages_are_listed_and_a_close_takes_the_row_off(deployment) -> None:
    run, ids = _night(deployment)
    now = T0 + timedelta(minutes=8)
    repage = BoardActed(entry_id="tl-rp", activation_id=ids["jordan"], at=T0 + timedelta(minutes=7), action="repage", team=STREET, by="dana")
    row = board_row([*run.of(ids["jordan"]), repage], CHICAGO, now=now)
    assert _team(row, STREET).repaged == ((T0 + timedelta(minutes=7), "dana"),) and is_open(row, now)
    close = BoardActed(entry_id="tl-cl", activation_id=ids["jordan"], at=now, action="close", by="dana")
    closed = board_row([*run.of(ids["jordan"]), repage, close], CHICAGO, now=now)
    assert closed.closed is not None and not is_open(closed, now)
    by_id = {ids["jordan"]: [*run.of(ids["jordan"]), close], ids["phillips"]: run.of(ids["phillips"]), ids["gap"]: run.of(ids["gap"])}
    assert [r.id for r in board_rows(by_id, CHICAGO, now=now)] == [ids["gap"], ids["phillips"]]  # newest first, closed gone


def test_the_window_is_24_hours(deployment) -> None:
    run, ids = _night(deployment)
    by_id = {name: run.of(ident) for name, ident in ids.items()}
    assert len(board_rows(by_id, CHICAGO, now=T0 + timedelta(hours=24, minutes=5, seconds=30))) == 1  # only the 22:21 one left
    assert board_rows(by_id, CHICAGO, now=T0 + timedelta(hours=25)) == []


def test_a_lead_sees_their_teams_lines_only(deployment) -> None:
    run, ids = _night(deployment)
    row = board_row(run.of(ids["jordan"]), CHICAGO, now=T0 + timedelta(minutes=1))
    mine = for_lead(row, STREET)
    assert mine is not None and [t.team for t in mine.teams] == [STREET] and mine.other_teams == 1
    assert for_lead(row, "vi-south-phillips") is None


@pytest.mark.database
def test_the_store_says_which_activations_changed_after_a_cursor(db_url: str, deployment) -> None:
    run, ids = _night(deployment)
    early = CoreRun(deployment)
    old = early.shooting("B-0", JORDAN, T0 - timedelta(days=2))
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        store.append([*early.records, *run.records])
        since = T0 - timedelta(hours=1)
        first = store.activations_changed_since(datetime(1970, 1, 1, tzinfo=UTC), since)
        assert set(first) == set(ids.values()) and old not in first  # opened before ``since``: not asked for
        cursor = max(first.values())
        assert store.activations_changed_since(cursor, since) == {}
        time.sleep(0.01)
        store.append([_ack(ids["phillips"], T0 + timedelta(minutes=7), team="vi-south-phillips"),
                      _ack(old, T0, n=2)])  # a change to an activation outside the window
        changed = store.activations_changed_since(cursor, since)
        assert list(changed) == [ids["phillips"]] and changed[ids["phillips"]] > cursor
        assert changed[ids["phillips"]].tzinfo is not None
    finally:
        store.dispose()
