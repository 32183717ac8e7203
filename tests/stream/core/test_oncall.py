"""Who is on call: rotations across both DST changes (America/Chicago), handoffs, overrides and swaps, gaps."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from geofences.roster import Roster
from geofences.shifts import Schedule, Shift
from stream.core.oncall import gaps, people_without_contact, who_is_on_call

CHICAGO = ZoneInfo("America/Chicago")
UTC_ = ZoneInfo("UTC")


def roster(handoff: str = "01:30", turn_days: int = 1, **extra) -> Roster:
    return Roster.model_validate({
        "team": "vi-central",
        "people": [{"id": "ana"}, {"id": "bo"}, {"id": "cy"}],
        "rotations": [{"layer": "primary", "people": ["ana", "bo", "cy"], "handoff": handoff, "turn_days": turn_days, "starts": "2026-01-05"},
                      {"layer": "secondary", "people": ["bo", "cy", "ana"], "handoff": handoff, "turn_days": turn_days, "starts": "2026-01-05"}],
        **extra,
    })


def primary(r: Roster, utc: str) -> str | None:
    return who_is_on_call(r, datetime.fromisoformat(utc).replace(tzinfo=UTC_), CHICAGO).holder("primary")


def test_weekly_handoff_at_local_time() -> None:
    r = roster("16:00", 7)
    assert primary(r, "2026-12-07T21:59") == "cy"   # Mon 15:59 CST: last week's turn (week 47)
    assert primary(r, "2026-12-07T22:00") == "ana"  # Mon 16:00 CST: handoff (week 48)
    assert primary(r, "2026-07-06T20:59") == "bo"   # Mon 15:59 CDT (week 25)
    assert primary(r, "2026-07-06T21:00") == "cy"   # Mon 16:00 CDT: same wall time, other offset


def test_fall_back_handoff_in_the_repeated_hour_happens_once() -> None:
    r = roster("01:30", 1)  # 2026-11-01: 01:00-02:00 happens twice
    before = primary(r, "2026-11-01T06:29")          # 01:29 CDT
    after = primary(r, "2026-11-01T06:30")           # 01:30 CDT: the handoff
    assert before != after
    assert primary(r, "2026-11-01T07:15") == after   # 01:15 CST, the second pass: no flip back
    assert primary(r, "2026-11-01T07:45") == after   # 01:45 CST


def test_spring_forward_handoff_in_the_skipped_hour_happens_at_the_jump() -> None:
    r = roster("02:30", 1)  # 2026-03-08: 02:00 CST jumps to 03:00 CDT
    before = primary(r, "2026-03-08T07:59")          # 01:59 CST
    at_jump = primary(r, "2026-03-08T08:00")         # 03:00 CDT
    assert before != at_jump
    assert primary(r, "2026-03-08T08:45") == at_jump


def test_override_by_local_date_time_wins() -> None:
    r = roster("16:00", 7, overrides=[{"layer": "primary", "person": "ana", "start": "2026-12-24T18:00", "end": "2026-12-25T09:00"}])
    assert primary(r, "2026-12-25T00:00") == "ana"   # 18:00 CST
    assert primary(r, "2026-12-24T23:59") != "ana"   # 17:59 CST
    assert primary(r, "2026-12-25T15:00") != "ana"   # 09:00 CST: over


def test_swap_by_turn_date() -> None:
    base = roster("16:00", 7)
    assert primary(base, "2026-12-08T03:00") == "ana"
    r = roster("16:00", 7, swaps=[{"layer": "primary", "date": "2026-12-07", "person": "ana", "covered_by": "cy"}])
    on_call = who_is_on_call(r, datetime(2026, 12, 8, 3, tzinfo=UTC_), CHICAGO)
    assert on_call.holder("primary") == "cy" and on_call.layers[0].source == "swap"
    assert primary(r, "2026-12-15T03:00") == "bo"   # next turn: the rotation's own


def test_gap_hours_inside_the_shift_are_found() -> None:
    r = roster("16:00", 7)
    r = r.model_copy(update={"rotations": tuple(
        rot.model_copy(update={"shifts": (Shift(days="daily", start="18:00", end="02:00"),)}) for rot in r.rotations)})
    schedule = Schedule.build((Shift(days="daily", start="16:00", end="02:00"),), ())
    found = gaps(r, schedule, CHICAGO, date(2026, 12, 7), 1)
    assert [str(g) for g in found] == ["vi-central: nobody on call Mon 2026-12-07 16:00 to Mon 2026-12-07 18:00 (local), inside the team's shift"]
    assert found[0].last - found[0].first == timedelta(hours=1)


def test_person_without_contact() -> None:
    assert people_without_contact(roster(), {"ana": ("push", "sms"), "bo": ("email",)}) == ["cy"]
