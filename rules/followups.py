"""Follow-up tasks as planner data: the protocol file's ``followups`` section (issue 18).

Community violence intervention goes on for days after the alert: the bedside visit, the family contact, the
retaliation check-ins, the school's next-day check. Each rule says which team gets which kind of task, when:

- ``notified_under``: the team was notified under one of these protocols (its first protocol, as the core keeps it);
- ``audience`` / ``teams``: the team is of this audience / one of these teams;
- ``intents``: the activation has a hospital arrival of one of these injury intents;
- ``flag``: the activation carries this flag (for each team of the rule told in it, whenever it was told);
- ``due``: one or more due times, each ``hours_after`` a moment (``notified``: when the team was told; ``arrival``:
  the gunshot patient's arrival at a hospital the team covers; ``flag``: when the flag was raised), or
  ``next_weekday_at`` a local time (the next Monday-Friday after the team was told).

Hours are counted on the local wall clock (DST-correct: "48 hours after Saturday 22:00" is Monday 22:00 local,
whatever the clocks did in between), so a due time reads as the people who keep it would say it. The core makes
the tasks (stream/core/tasks.py); this module only reads, checks and computes due times (pure).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geofences.shifts import ClockTime
from stream.model.events import Intent

TaskKind = Literal["bedside", "family_contact", "retaliation_checkin", "school_followup"]
DueFrom = Literal["notified", "arrival", "flag"]
# what a task's closing says happened (the review and the phone offer exactly these)
TASK_OUTCOMES: tuple[str, ...] = ("done", "attempted", "declined", "not_reachable")
# the wraparound services a closing may refer the person to (with their consent, never their identity)
REFERRAL_SERVICES: tuple[str, ...] = ("housing", "employment", "mental_health", "relocation", "legal", "other")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Due(_Frozen):
    """One due time of a task: ``hours_after`` a moment, or the ``next_weekday_at`` a local time."""

    hours_after: int | None = Field(default=None, ge=1, le=24 * 60)
    from_: DueFrom = Field(default="notified", alias="from")
    next_weekday_at: ClockTime | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Due:
        if (self.hours_after is None) == (self.next_weekday_at is None):
            raise ValueError("a due time is either `hours_after` a moment or `next_weekday_at` a local time")
        return self


class FollowupRule(_Frozen):
    """Which team gets which task, due when (see the module)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: str = ""
    kind: TaskKind
    notified_under: tuple[str, ...] = ()
    audience: Literal["street", "gvi", "hospital", "school", "oncall"] | None = None
    teams: tuple[str, ...] = ()
    intents: tuple[Intent, ...] = ()
    flag: Literal["coverage_gap", "retaliation_watch"] | None = None
    due: tuple[Due, ...] = Field(min_length=1)

    @field_validator("due", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _says_whom(self) -> FollowupRule:
        if not (self.notified_under or self.audience or self.teams or self.flag):
            raise ValueError("a follow-up rule says whom it is for: `notified_under`, `audience`, `teams` or `flag`")
        return self


class Followups(_Frozen):
    """The protocol file's ``followups`` section."""

    remind_before_minutes: int = Field(default=120, ge=0, le=24 * 60)  # the reminder to the person on call
    tasks: tuple[FollowupRule, ...] = ()


def wall_clock_after(moment: datetime, hours: int, zone: tzinfo) -> datetime:
    """``hours`` after ``moment`` on the local wall clock (a day is always 24 of them), as an aware time; a wall
    time the spring change skips moves on by the hour it skipped, one the autumn change repeats is the first."""
    local = moment.astimezone(zone).replace(tzinfo=None) + timedelta(hours=hours)
    aware = local.replace(tzinfo=zone)
    round_trip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)  # (to the same zone, astimezone is a no-op)
    return aware if round_trip == local else (local + timedelta(hours=1)).replace(tzinfo=zone)


def next_weekday_at(moment: datetime, at: time | str, zone: tzinfo) -> datetime:
    """The first Monday-Friday after ``moment``'s local day, at the local time ``at``."""
    day = moment.astimezone(zone).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, at if isinstance(at, time) else time.fromisoformat(at), tzinfo=zone)


def due_times(rule: FollowupRule, moments: dict[str, datetime], zone: tzinfo) -> Iterator[datetime]:
    """The rule's due times from the moments (``notified``, ``arrival``, ``flag``) known; a due time whose moment
    is not known is left out (an arrival-based task of a team told without an arrival falls back to ``notified``)."""
    for due in rule.due:
        if due.next_weekday_at is not None:
            yield next_weekday_at(moments["notified"], due.next_weekday_at, zone)
            continue
        base = moments.get(due.from_) or (moments["notified"] if due.from_ == "arrival" else None)
        if base is not None and due.hours_after is not None:
            yield wall_clock_after(base, due.hours_after, zone)
