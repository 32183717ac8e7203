"""Shifts in local time: overnight shifts, daylight-saving days, dated exceptions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from geofences.shifts import Schedule, Shift, ShiftException

CHICAGO = ZoneInfo("America/Chicago")
EVENINGS = Schedule.build((Shift(days="daily", start="16:00", end="02:00"),), ())
CENTRAL = Schedule.build((Shift(days=("thu", "fri", "sat"), start="18:00", end="03:00"),), ())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(CHICAGO)


@pytest.mark.parametrize(
    ("moment", "on"),
    [
        ("2026-07-04T15:59:00-05:00", False),
        ("2026-07-04T16:00:00-05:00", True),
        ("2026-07-05T01:59:00-05:00", True),  # after midnight: Saturday's shift
        ("2026-07-05T02:00:00-05:00", False),
    ],
)
def test_overnight_shift(moment: str, on: bool) -> None:
    assert EVENINGS.on_shift(at(moment)) is on


@pytest.mark.parametrize(
    ("moment", "on"),
    [
        ("2026-03-08T01:59:00-06:00", True),   # spring forward: the last CST minute
        ("2026-03-08T03:00:00-05:00", False),  # 02:00 CST never happens; the shift ends when clocks jump
        ("2026-03-08T16:00:00-05:00", True),   # the evening shift of the short day
        ("2026-11-01T01:30:00-05:00", True),   # fall back: 01:30 CDT
        ("2026-11-01T01:30:00-06:00", True),   # and 01:30 CST, an hour later: still Saturday's shift
        ("2026-11-01T02:00:00-06:00", False),
    ],
)
def test_daylight_saving_days_2026(moment: str, on: bool) -> None:
    assert EVENINGS.on_shift(at(moment)) is on


def test_shift_starting_on_listed_days_only_even_past_midnight() -> None:
    assert CENTRAL.on_shift(at("2026-07-05T02:30:00-05:00"))  # Sat 18:00 → Sun 03:00
    assert not CENTRAL.on_shift(at("2026-07-05T18:30:00-05:00"))  # Sunday evening: no shift starts
    assert CENTRAL.on_shift(at("2026-07-03T02:00:00-05:00"))  # Thursday's shift, early Friday
    assert not CENTRAL.on_shift(at("2026-07-02T02:00:00-05:00"))  # early Thursday: Wednesday had none


def test_shift_across_the_end_of_the_week() -> None:
    sunday = Schedule.build((Shift(days=("sun",), start="22:00", end="04:00"),), ())
    assert sunday.on_shift(at("2026-07-06T03:59:00-05:00"))  # Monday early, from Sunday's shift
    assert not sunday.on_shift(at("2026-07-06T04:00:00-05:00"))


def test_a_day_off_cancels_the_shift_starting_that_day_only() -> None:
    off = Schedule.build(EVENINGS.shifts, (ShiftException(date="2026-12-25", off=True),))
    assert not off.on_shift(at("2026-12-25T20:00:00-06:00"))
    assert not off.on_shift(at("2026-12-26T01:00:00-06:00"))  # Christmas's shift would run to 02:00
    assert off.on_shift(at("2026-12-25T01:00:00-06:00"))  # Christmas Eve's shift, early Christmas
    assert off.on_shift(at("2026-12-26T16:00:00-06:00"))


def test_an_extra_shift() -> None:
    extra = Schedule.build(CENTRAL.shifts, (ShiftException(date="2026-12-31", start="20:00", end="04:00"),))
    assert extra.on_shift(at("2027-01-01T03:30:00-06:00"))  # New Year's Eve is a Thursday: 18:00-03:00 and 20:00-04:00
    assert not extra.on_shift(at("2027-01-01T04:00:00-06:00"))


def test_always() -> None:
    assert Schedule.build((), (), always=True).on_shift(at("2026-03-08T02:30:00-05:00"))


def test_hours_of_week() -> None:
    assert len(EVENINGS.hours_of_week_on()) == 70
    assert 0 not in CENTRAL.hours_of_week_on() and 4 * 24 + 18 in CENTRAL.hours_of_week_on()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"days": "daily", "start": "25:00", "end": "02:00"}, "'25:00' is not a time of day HH:MM (00:00 to 23:59)"),
        ({"days": ["monday"], "start": "16:00", "end": "02:00"}, "Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"),
    ],
)
def test_bad_shifts_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Shift.model_validate(fields)


def test_an_exception_is_either_off_or_an_extra_shift() -> None:
    with pytest.raises(ValidationError, match="an exception is either `off: true` or an extra shift with `start` and `end`"):
        ShiftException.model_validate({"date": "2026-12-25"})
    with pytest.raises(ValidationError, match="an extra shift needs both `start` and `end`"):
        ShiftException.model_validate({"date": "2026-12-25", "start": "18:00"})
