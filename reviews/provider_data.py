"""What the provider API (reviews/web/api.py) says about an activation, a notification and a task (issue 19, item 3).

Pure: timeline records in, rows out. A row carries ids, times, kinds, the community (never a finer place), teams,
protocols, steps, and delivered / answered / closed states and times. It never carries a person (a roster person, a
recipient, who answered or closed), patient data, a location finer than a community, or free text (notes, reasons):
the fields below are the whole of it, and the models forbid anything else.

A team's token sees its own rows only; an activation row then names only that team among the teams told, so one
team's rows never say what another team was sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from reviews.tasks import tasks_of
from stream.model.timeline import (
    AckRecorded,
    ActivationDecided,
    AlertDelivered,
    EventReceived,
    IntentCreated,
    TaskCreated,
    TimelineRecord,
)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivationRow(_Row):
    """An activation: when Vigil decided whom to tell, what was reported, where (community), and whom it told."""

    id: str = Field(description="The activation's id.")
    at: AwareDatetime = Field(description="When the protocols were applied (the initial decision), UTC.")
    event_kind: str | None = Field(description="What was reported: person_shot, shots_fired, shotspotter, ...")
    reported_at: AwareDatetime | None = Field(description="When the source reported it, UTC.")
    community: str | None = Field(description="The community it happened in (no finer place is given).")
    flags: list[str] = Field(description="The activation's flags, e.g. coverage_gap, retaliation_watch.")
    teams_told: list[str] = Field(description="The teams told (a team's token: only its own).")
    drill: bool = Field(description="A drill, not a real shooting.")


class NotificationRow(_Row):
    """One notification to a team: an alert, a notice or a task reminder, whether it was delivered and answered."""

    id: str = Field(description="The notification's id (its intent id).")
    activation_id: str
    at: AwareDatetime = Field(description="When the notification was decided, UTC.")
    team: str
    protocol: str
    step: Literal["initial", "update", "escalation"]
    purpose: Literal["alert", "answers", "stand_down", "notice", "task"]
    ack_deadline: AwareDatetime | None = Field(description="When an answer was due (alerts), UTC.")
    task_id: str | None = Field(description="The follow-up task a reminder or overdue notice is about.")
    delivery_status: Literal["delivered", "partial", "failed", "no_recipients"] | None = Field(
        description="The outcome of sending it; null while not yet sent.")
    delivered_at: AwareDatetime | None = Field(description="When the send finished, UTC.")
    answer: Literal["ack", "on_my_way", "unable"] | None = Field(description="The team's first answer after it (alerts only).")
    answered_at: AwareDatetime | None
    answered_within_deadline: bool | None
    drill: bool


class Referral(_Row):
    """A referral made when a task was closed: the service, and whether the person consented (never who)."""

    service: str
    consent: bool


class TaskRow(_Row):
    """A follow-up task of a team: its kind, due time, state and, once closed, its outcome and referrals."""

    id: str = Field(description="The task's id.")
    activation_id: str
    at: AwareDatetime = Field(description="When the task was made, UTC.")
    team: str
    kind: str = Field(description="bedside, family_contact, retaliation_checkin, school_followup, ...")
    due: AwareDatetime
    state: Literal["open", "overdue", "closed"] = Field(description="At the time of the request.")
    overdue_told_at: AwareDatetime | None = Field(description="When DNS was told it was overdue, UTC.")
    closed_at: AwareDatetime | None = Field(description="When its latest closing was recorded, UTC.")
    outcome: Literal["done", "attempted", "declined", "not_reachable"] | None
    referrals: list[Referral]


def activation_row(decided: ActivationDecided, records: Iterable[TimelineRecord], team: str | None) -> ActivationRow:
    """The row of an activation from its initial decision and its records; ``team`` (None: every team) is whose token reads."""
    records = list(records)
    received = next((r for r in records if isinstance(r, EventReceived)), None)
    told = sorted({r.team for r in records if isinstance(r, IntentCreated)})
    return ActivationRow(id=decided.activation_id, at=decided.at, event_kind=None if received is None else str(received.event_kind),
                         reported_at=None if received is None else received.reported_at, community=decided.community,
                         flags=list(decided.flags), teams_told=[t for t in told if team is None or t == team], drill=decided.drill)


def notification_row(intent: IntentCreated, records: Iterable[TimelineRecord]) -> NotificationRow:
    """The row of a notification from its intent and its activation's records (its delivery; the team's answer)."""
    records = list(records)
    delivery = next((r for r in records if isinstance(r, AlertDelivered) and r.intent_id == intent.intent_id), None)
    answer = None
    if intent.purpose == "alert":
        # answers are recorded per team and activation, not per notification: the team's first one from this alert on
        answers = sorted((r for r in records if isinstance(r, AckRecorded) and r.team == intent.team and r.at >= intent.at),
                         key=lambda r: r.at)
        answer = answers[0] if answers else None
    return NotificationRow(id=intent.intent_id, activation_id=intent.activation_id, at=intent.at, team=intent.team, protocol=intent.protocol,
                           step=intent.step, purpose=intent.purpose, ack_deadline=intent.ack_deadline, task_id=intent.task_id,
                           delivery_status=None if delivery is None else delivery.status,
                           delivered_at=None if delivery is None else delivery.at,
                           answer=None if answer is None else answer.response, answered_at=None if answer is None else answer.at,
                           answered_within_deadline=None if answer is None else answer.within_deadline, drill=intent.drill)


def task_row(made: TaskCreated, records: Iterable[TimelineRecord], now: datetime) -> TaskRow:
    """The row of a task from its record and its activation's records (overdue notice, closings), its state at ``now``."""
    task = next((t for t in tasks_of(records) if t.task_id == made.task_id), None)
    closed = None if task is None else task.closed
    return TaskRow(id=made.task_id, activation_id=made.activation_id, at=made.at, team=made.team, kind=made.task_kind, due=made.due,
                   state="open" if task is None else task.state(now),  # type: ignore[arg-type] - one of the three
                   overdue_told_at=None if task is None else task.overdue_told_at, closed_at=None if closed is None else closed.at,
                   outcome=None if closed is None else closed.outcome,
                   referrals=[] if closed is None else [Referral(service=r.service, consent=r.consent) for r in closed.referrals])


def rows_of(kind: str, anchors: Iterable[TimelineRecord], records: Mapping[str, list[TimelineRecord]], team: str | None,
            now: datetime) -> list[ActivationRow] | list[NotificationRow] | list[TaskRow]:
    """The rows of a page: one per anchoring record (a decision, an intent, a task), with its activation's records."""
    if kind == "decided":
        return [activation_row(a, records.get(a.activation_id, ()), team) for a in anchors if isinstance(a, ActivationDecided)]
    if kind == "intent":
        return [notification_row(a, records.get(a.activation_id, ())) for a in anchors if isinstance(a, IntentCreated)]
    return [task_row(a, records.get(a.activation_id, [a]), now) for a in anchors if isinstance(a, TaskCreated)]
