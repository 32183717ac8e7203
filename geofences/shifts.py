"""Weekly shifts in local time, with dated exceptions, and the on-shift test.

Shifts are wall-clock intervals: "16:00-02:00" means from 16:00 local until 02:00 local the next day,
whatever the offset. Comparing wall-clock times makes daylight saving come out right by itself: on the
spring-forward night a 16:00-02:00 shift ends when the clocks jump (02:00 CST = 03:00 CDT), and on the
fall-back night the repeated hour 01:00-02:00 is on shift both times. A shift that passes midnight
belongs to the day it starts (demo-deployment.md), which matters for day lists and exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock(value: object) -> object:
    if isinstance(value, str):
        if not _CLOCK.match(value.strip()):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 23:59)")
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    return value


ClockTime = Annotated[time, BeforeValidator(_clock)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def minute_of_day(moment: time) -> int:
    """Minutes since midnight."""
    return moment.hour * 60 + moment.minute


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Shift(_Frozen):
    """A weekly shift: the days it starts on, its start and end (an end at or before the start is the next day)."""

    days: tuple[Day, ...] | Literal["daily"] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @property
    def weekdays(self) -> tuple[int, ...]:
        """The starting weekdays, Monday = 0."""
        return tuple(range(7)) if self.days == "daily" else tuple(DAY_NAMES.index(d) for d in self.days)

    @property
    def minutes(self) -> int:
        """Length in wall-clock minutes (a start equal to the end is a 24-hour shift)."""
        length = (minute_of_day(self.end) - minute_of_day(self.start)) % MINUTES_PER_DAY
        return length or MINUTES_PER_DAY


class ShiftException(_Frozen):
    """A dated change: the team is off on ``date`` (its shifts starting that day are cancelled), or it
    works an extra shift starting that day."""

    date: date
    off: bool = False
    start: ClockTime | None = None
    end: ClockTime | None = None
    note: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> ShiftException:
        extra = self.start is not None or self.end is not None
        if self.off == extra:
            raise ValueError("an exception is either `off: true` or an extra shift with `start` and `end`")
        if extra and (self.start is None or self.end is None):
            raise ValueError("an extra shift needs both `start` and `end`")
        return self

    def as_shift(self) -> Shift:
        """The extra shift (for an exception that adds one)."""
        assert self.start is not None and self.end is not None
        return Shift(days=(DAY_NAMES[self.date.weekday()],), start=self.start, end=self.end)


@dataclass(frozen=True)
class Schedule:
    """A team's compiled schedule: week intervals for the fast path, exceptions by date for the rest."""

    always: bool
    shifts: tuple[Shift, ...]
    exceptions: dict[date, tuple[ShiftException, ...]]
    week_intervals: tuple[tuple[int, int], ...]

    @classmethod
    def build(cls, shifts: tuple[Shift, ...], exceptions: tuple[ShiftException, ...], always: bool = False) -> Schedule:
        """Compile shifts into minute-of-week intervals (split at the week's end)."""
        intervals = []
        for shift in shifts:
            for weekday in shift.weekdays:
                start = weekday * MINUTES_PER_DAY + minute_of_day(shift.start)
                end = start + shift.minutes
                if end <= MINUTES_PER_WEEK:
                    intervals.append((start, end))
                else:
                    intervals += [(start, MINUTES_PER_WEEK), (0, end - MINUTES_PER_WEEK)]
        by_date: dict[date, list[ShiftException]] = {}
        for exception in exceptions:
            by_date.setdefault(exception.date, []).append(exception)
        return cls(always, shifts, {d: tuple(v) for d, v in by_date.items()}, tuple(sorted(intervals)))

    def on_shift(self, local: datetime) -> bool:
        """Whether the team is on shift at a local wall-clock time (naive, or aware in the local zone)."""
        if self.always:
            return True
        day = local.date()
        if self.exceptions and (day in self.exceptions or day - timedelta(days=1) in self.exceptions):
            return self._on_shift_dated(local.replace(tzinfo=None))
        minute = local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week_intervals)

    def shifts_starting(self, day: date) -> list[Shift]:
        """The shifts that start on ``day``: the weekly ones unless the team is off, plus extra ones."""
        dated = self.exceptions.get(day, ())
        regular = [] if any(e.off for e in dated) else [s for s in self.shifts if day.weekday() in s.weekdays]
        return regular + [e.as_shift() for e in dated if not e.off]

    def _on_shift_dated(self, wall: datetime) -> bool:
        for day in (wall.date() - timedelta(days=1), wall.date()):
            for shift in self.shifts_starting(day):
                begins = datetime.combine(day, shift.start)
                if begins <= wall < begins + timedelta(minutes=shift.minutes):
                    return True
        return False

    def hours_of_week_on(self) -> frozenset[int]:
        """Hours of a regular week (0 = Monday 00:00-01:00) in which the team is on shift at some minute."""
        if self.always:
            return frozenset(range(168))
        hours = set()
        for start, end in self.week_intervals:
            hours.update(range(start // 60, (end - 1) // 60 + 1))
        return frozenset(hours)
