"""Typed timeline records: everything that happens to an activation, append-only.

The review store keeps them as they come; the review pages only read them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from stream.model.events import EventKind, Frozen, Location, Referral


class TimelineBase(Frozen):
    """Fields every record has: a deterministic id (so a re-delivery is a no-op), its activation, when."""

    entry_id: str
    activation_id: str
    at: AwareDatetime


class EventReceived(TimelineBase):
    """A report of the shooting reached Vigil."""

    kind: Literal["event_received"] = "event_received"
    event_id: str
    event_kind: EventKind
    source: str
    incident_id: str
    reported_at: AwareDatetime
    location: Location | None
    block: str | None = None  # the hundred-block, when CAD sent a civic address (ShootingEvent.block)


class ActivationDecided(TimelineBase):
    """The protocols were applied: who is told, under which versions of config, with which flags."""

    kind: Literal["decided"] = "decided"
    event_id: str
    step: Literal["initial", "update"] = "initial"
    teams: tuple[str, ...]
    protocols: tuple[str, ...]
    flags: tuple[str, ...]
    new_flags: tuple[str, ...] = ()
    cell: str | None
    neighborhood: str | None
    community: str | None
    coverage_version: str
    protocol_version: str
    drill: bool = False  # a drill activation (ShootingEvent.drill): labelled DRILL, left out of the summaries


class IntentCreated(TimelineBase):
    """A notification to a team was decided. ``escalates_to``: the teams told if this team does not ack by
    its deadline (or answers "can't respond"), as the core snapshotted its chain; None in records made
    before the field existed."""

    kind: Literal["intent"] = "intent"
    intent_id: str
    team: str
    protocol: str
    step: Literal["initial", "update", "escalation"]
    escalated_team: str | None = None
    ack_deadline: AwareDatetime | None
    escalates_to: tuple[str, ...] | None = None
    person: str | None = None  # a page of one roster person (see NotificationIntent)
    channel: str | None = None
    language: str = "en"  # the language the alert was written in (the answer page speaks it too)
    purpose: Literal["alert", "answers", "stand_down", "notice", "task"] = "alert"
    on_call: tuple[str, ...] = ()  # a paged team's alert: who was on call then ("primary:ana-r"), see NotificationIntent
    drill: bool = False
    stood_down_team: str | None = None  # this alert stands in for a stood-down team's (see NotificationIntent)
    repaged_by: str | None = None  # the team's alert sent again from the live board (see NotificationIntent)
    task_id: str | None = None  # a follow-up task's reminder or overdue notice: the task (see NotificationIntent)


class RecipientResult(Frozen):
    """The outcome of one recipient's send; the URL is masked (no secrets)."""

    recipient: str
    status: str
    elapsed_ms: float
    channel: str = "default"
    attempts: int = 1
    recipient_id: str | None = None  # the id in the recipient's ack links
    waited_ms: float = 0.0  # held back by the recipient's rate limit


class AlertDelivered(TimelineBase):
    """The outcome of sending one intent to its team's recipients."""

    kind: Literal["delivery"] = "delivery"
    intent_id: str
    team: str
    status: Literal["delivered", "partial", "failed", "no_recipients"]
    recipients: tuple[RecipientResult, ...]


class AckRecorded(TimelineBase):
    """A team answered the alert: acknowledged or on my way (the first such stops its escalation), or
    can't respond (``unable``: not an ack; its escalation fires at once)."""

    kind: Literal["ack"] = "ack"
    team: str
    first: bool
    within_deadline: bool
    response: Literal["ack", "on_my_way", "unable"] = "ack"
    person: str | None = None  # the roster person who answered, when known
    name: str | None = None  # their display name from the roster
    by: str | None = None  # a review user (DNS) who answered on the team's behalf from the live board


class StoodDown(TimelineBase):
    """A team was not alerted because a standdown was in force (stream/core/standdowns.py); its alert went to
    ``redirected_to`` at once instead."""

    kind: Literal["stood_down"] = "stood_down"
    team: str
    standdown_id: str
    reason: str
    until: AwareDatetime  # the end of the standdown's window in force
    redirected_to: tuple[str, ...]


class BoardActed(TimelineBase):
    """DNS acted from the live board: paged a team again (``repage``) or closed the activation (``close``)."""

    kind: Literal["board_action"] = "board_action"
    action: Literal["repage", "close"]
    team: str | None = None
    by: str


class TaskCreated(TimelineBase):
    """A follow-up task (rules/followups.py) for a team, due at ``due``; its id is (activation, team, kind, due)."""

    kind: Literal["task"] = "task"
    task_id: str
    team: str
    task_kind: str
    rule: str
    due: AwareDatetime


class TaskOverdue(TimelineBase):
    """A task passed its due time unclosed: the on-call team was told, once."""

    kind: Literal["task_overdue"] = "task_overdue"
    task_id: str
    team: str
    told: tuple[str, ...]


class TaskClosed(TimelineBase):
    """A task closed with its outcome (done, attempted, declined, not_reachable) and any referrals; ``by`` a review
    user, ``person`` a roster person (from the phone). A later closing of the same task corrects it."""

    kind: Literal["task_closed"] = "task_closed"
    task_id: str
    team: str
    outcome: Literal["done", "attempted", "declined", "not_reachable"]
    referrals: tuple[Referral, ...] = ()
    by: str | None = None
    person: str | None = None


TimelineRecord = Annotated[
    EventReceived | ActivationDecided | IntentCreated | AlertDelivered | AckRecorded | StoodDown | BoardActed | TaskCreated
    | TaskOverdue | TaskClosed,
    Field(discriminator="kind"),
]
timeline_adapter: TypeAdapter[TimelineRecord] = TypeAdapter(TimelineRecord)


def decode_timeline(raw: bytes | str) -> TimelineRecord:
    """Decode a timeline record from JSON."""
    return timeline_adapter.validate_json(raw)
