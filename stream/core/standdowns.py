"""Standdowns: a team taken off alerts for a time window (a funeral, a training, a drill), or an area muted.

A standdown is operational, not a planner file: DNS adds one on the web (``/standdowns``) or with `vigil
standdown add`, it is kept in the review store (audited) and published on the compacted ``standdowns`` topic,
keyed by its id, so every worker reads the same set (stream/runtime/standdown_feed.py). The protocols stay the
planners' files: a standdown only redirects. An alert that would go to a stood-down team goes at once to the
protocol's fallback (its escalation target; the on-call team when the protocol has none), flagged
``stood_down``; an area standdown does that for every team told about a shooting placed in the area.

A window is one-off (``starts`` to ``ends``) or weekly (``weekly``: days and local times, from ``starts``
until ``ends`` when given, else until ended). Ending one early sets ``ended_at``. When a window ends, the
on-call team is told (``ended_between``), so nobody forgets a team that is back on.

The word is "standdown" (one word) for this window; the ``stand_down`` alert purpose (stream/core/answers.py)
is the other meaning: "you can stand down, the team you stood in for answered".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from stream.model.events import Frozen, stable_id

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REASON_MAX_CHARS = 300
STOOD_DOWN = "stood_down"  # the flag of an activation an alert of which was redirected


class Weekly(Frozen):
    """A weekly window: on these days, from ``start`` to ``end`` local time (an ``end`` before ``start`` runs
    past midnight into the next day)."""

    days: tuple[Weekday, ...] = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _not_empty(self) -> Weekly:
        if self.start == self.end:
            raise ValueError("a weekly window's start and end must differ")
        return self

    def describe(self) -> str:
        """"every mon, wed 16:00-18:00"."""
        return f"every {', '.join(self.days)} {self.start}-{self.end}"


class Standdown(Frozen):
    """A team stood down, or an area muted, for a window, with its reason and who added it."""

    id: str = Field(min_length=1, max_length=64)
    team: str | None = Field(default=None, max_length=100)
    area: str | None = Field(default=None, max_length=100)  # a neighborhood's name, as the coverage map has it
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS)
    by: str = Field(min_length=1, max_length=100)
    created_at: AwareDatetime
    starts: AwareDatetime
    ends: AwareDatetime | None = None  # a one-off's end; a weekly one's last moment (None: until ended)
    weekly: Weekly | None = None
    ended_at: AwareDatetime | None = None  # ended early
    ended_by: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Standdown:
        if (self.team is None) == (self.area is None):
            raise ValueError("a standdown is of a team or of an area, exactly one")
        if self.weekly is None and self.ends is None:
            raise ValueError("a one-off standdown needs an end")
        if self.ends is not None and self.ends <= self.starts:
            raise ValueError("a standdown must end after it starts")
        return self

    @property
    def subject(self) -> str:
        """What is stood down, as pages say it: the team's id, or "area <neighborhood>"."""
        return self.team if self.team is not None else f"area {self.area}"

    @property
    def last_moment(self) -> datetime | None:
        """When it stops for good: ended early, or its ``ends``; None while open-ended."""
        ends = [m for m in (self.ended_at, self.ends) if m is not None]
        return min(ends) if ends else None


def standdown_id(subject: str, starts: datetime, created_at: datetime, by: str) -> str:
    """A standdown's id: the same request (say, a retried form) makes the same id."""
    return stable_id("sd", subject, starts.isoformat(), created_at.isoformat(), by)


def _weekly_windows(standdown: Standdown, weekly: Weekly, around: datetime, zone: tzinfo) -> Iterator[tuple[datetime, datetime]]:
    """The weekly windows that could hold ``around``: those starting on the day before, that day and the next."""
    local_day = around.astimezone(zone).date()
    start_t, end_t = time.fromisoformat(weekly.start), time.fromisoformat(weekly.end)
    for offset in (-1, 0, 1):
        day = local_day + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in weekly.days:
            continue
        end_day = day if end_t > start_t else day + timedelta(days=1)
        yield _local(day, start_t, zone), _local(end_day, end_t, zone)


def _local(day: date, moment: time, zone: tzinfo) -> datetime:
    # a wall-clock time in the zone (fold 0 in the repeated hour of a DST change)
    return datetime.combine(day, moment, tzinfo=zone)


def windows(standdown: Standdown, around: datetime, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """The standdown's windows near ``around`` (one-off: its only one), each cut to its start, end and early end."""
    raw = [(standdown.starts, standdown.ends)] if standdown.weekly is None else list(_weekly_windows(standdown, standdown.weekly, around, zone))
    cut = []
    last = standdown.last_moment
    for start, end in raw:
        assert end is not None
        start = max(start, standdown.starts)
        end = min(end, last) if last is not None else end
        if start < end:
            cut.append((start, end))
    return cut


def window_at(standdown: Standdown, moment: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """The window of ``standdown`` in force at ``moment`` (start inclusive, end exclusive), or None."""
    return next(((s, e) for s, e in windows(standdown, moment, zone) if s <= moment < e), None)


def in_force(standdowns: Iterable[Standdown], team: str, neighborhood: str | None, moment: datetime,
             zone: tzinfo) -> tuple[Standdown, datetime] | None:
    """The standdown that keeps ``team`` off an alert at ``moment`` (for a shooting placed in ``neighborhood``),
    with the end of its window; the one ending last when several do. None when the team is on."""
    found = [(s, window[1]) for s in standdowns
             if (s.team == team or (s.area is not None and s.area == neighborhood))
             and (window := window_at(s, moment, zone)) is not None]
    return max(found, key=lambda pair: pair[1]) if found else None


def ended_between(standdowns: Iterable[Standdown], after: datetime, until: datetime, zone: tzinfo) -> list[tuple[Standdown, datetime]]:
    """The windows that ended in (``after``, ``until``], each as (standdown, its end), in end order: the
    on-call team hears of each ("stood-down team back on at 18:00")."""
    ended = []
    for standdown in standdowns:
        for start, end in windows(standdown, until, zone) + windows(standdown, after, zone):
            if after < end <= until and start < end and (standdown, end) not in ended:
                ended.append((standdown, end))
    return sorted(ended, key=lambda pair: pair[1])
