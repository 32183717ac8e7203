"""Event models that flow between Vigil's stages.

Every model is frozen: a stage receives a value, never a thing it may change under another stage.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """Base for Vigil's immutable records; unknown fields are an error, not silently kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EventKind(StrEnum):
    """The shooting kinds of demo-deployment.md; anything else is not a shooting."""

    PERSON_SHOT = "person_shot"
    SHOTS_FIRED = "shots_fired"
    SHOTSPOTTER = "shotspotter"
    GSW_ARRIVAL = "gsw_arrival"


# the kinds from least to most serious: an activation is of its most serious kind
KIND_RANK = {EventKind.SHOTSPOTTER: 0, EventKind.SHOTS_FIRED: 1, EventKind.GSW_ARRIVAL: 2, EventKind.PERSON_SHOT: 3}


class Intent(StrEnum):
    """The injury intent of a gunshot wound, from its ICD-10-CM external-cause code."""

    ASSAULT = "assault"
    UNINTENTIONAL = "unintentional"
    UNDETERMINED = "undetermined"
    SELF_HARM = "self_harm"
    LEGAL_INTERVENTION = "legal_intervention"


class Location(Frozen):
    """A WGS84 point."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CadReport(Frozen):
    """What Vigil keeps of one EIDO incident document (one version of a CAD incident)."""

    incident_id: str
    updated_at: AwareDatetime
    apco_code: str | None = None
    internal_code: str | None = None
    internal_text: str | None = None
    location: Location | None = None
    block: str | None = None  # the hundred-block of the PIDF-LO's civic address, "1400 block of Lowry Ave N"
    victim_ages: tuple[int | None, ...] = ()
    disposition: str | None = None
    # the incident's PIDF-LO, read only when the location is needed (see stream.eido.locate)
    pidf: str | None = Field(default=None, exclude=True, repr=False)


class ShootingEvent(Frozen):
    """A report recognised as a shooting, ready for correlation into an activation.

    Carries no personal identity: a hospital arrival has the hospital, an age, the intent, the codes and
    a keyed hash of the visit number (``incident_id``), nothing else of the patient.
    """

    event_id: str
    jurisdiction: str
    source: str
    incident_id: str
    ref: str
    kind: EventKind
    fatal: bool = False
    reported_at: AwareDatetime
    received_at: AwareDatetime
    location: Location | None = None
    # the hundred-block ("1400 block of Lowry Ave N") when CAD sent a civic address: what block-precision alerts
    # say instead of the point (stream/feeds/pidf.py)
    block: str | None = None
    victim_count: int = 0
    victim_ages: tuple[int | None, ...] = ()
    hospital: str | None = None
    intent: Intent | None = None
    diagnosis_codes: tuple[str, ...] = ()
    # a drill (`vigil produce --drill`: the CAD record's ``vigil-drill`` header): it flows through everything, is
    # labelled DRILL on every phone and page, never joins a real activation, and is left out of the summaries
    drill: bool = False


class Skipped(Frozen):
    """A well-formed report that is not a shooting (or not one Vigil acts on): counted and dropped."""

    source: str
    ref: str
    reason: str
    location: Location | None = None
    received_at: AwareDatetime


class DeadLetter(Frozen):
    """A rejected input: the reason, a short excerpt (redacted for HL7), and where it came from."""

    source: str
    reason: str
    detail: str
    excerpt: str
    received_at: AwareDatetime


IngestOutcome = ShootingEvent | Skipped | DeadLetter

# Report times outside these bounds are garbage, not history: years 1 and 9999 overflow the core's date
# arithmetic (correlation windows, deadlines) and would fail the activation stage.
EARLIEST_REPORT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_REPORT = datetime(2200, 1, 1, tzinfo=UTC)


def plausible_time(moment: datetime) -> bool:
    """True when an aware report time lies within [1900, 2200) UTC (and can be converted to UTC at all)."""
    try:
        return EARLIEST_REPORT <= moment.astimezone(UTC) < LATEST_REPORT
    except (OverflowError, ValueError):
        return False


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id: the same parts always give the same id, on every worker and replay."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:20]}"


class NotificationIntent(Frozen):
    """A decision to alert one team about one activation; its id is deterministic.

    The id is derived from (activation, team, protocol, step), so a re-delivered event or a replayed
    partition produces the same id and dispatch can refuse to send it twice. ``step`` is initial (the
    activation's first decision), update (a later report added the team) or escalation (a team with a
    deadline did not ack; ``escalated_team`` names it). ``escalates_to`` names the teams the core
    escalates to if this team does not ack by ``ack_deadline`` (or answers "can't respond"); empty when
    nothing follows (no deadline, or an escalation alert itself).
    """

    intent_id: str
    activation_id: str
    team: str
    protocol: str
    step: Literal["initial", "update", "escalation"]
    escalated_team: str | None = None
    refs: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    title: str
    body: str
    created_at: AwareDatetime
    ack_deadline: AwareDatetime | None = None
    escalates_to: tuple[str, ...] = ()
    # a page of one roster person (None: the team's shared recipients, the team-tagged contacts), on one
    # channel of theirs (None: their channels in order until one reaches them)
    person: str | None = None
    channel: str | None = None
    language: str = "en"  # the language of title and body
    # alert: the shooting itself; answers: who has answered so far (stream/core/answers.py); stand_down: a
    # team escalated to hears that the team it stood in for answered after all
    purpose: Literal["alert", "answers", "stand_down", "notice", "task"] = "alert"
    # a team alert whose people are paged: who was on call then ("primary:ana-r", "secondary:pa-v"), the snapshot
    on_call: tuple[str, ...] = ()
    drill: bool = False  # the activation is a drill: title and body say DRILL first
    # the alert of a stood-down team redirected here (stream/core/standdowns.py): that team's id
    stood_down_team: str | None = None
    repaged_by: str | None = None  # the team's alert sent again from the live board, by this DNS user
    # a follow-up task's reminder (purpose "task") or overdue notice: the task's id (its link and "DONE K7" close it)
    task_id: str | None = None


AckResponse = Literal["ack", "on_my_way", "unable"]


class AckMessage(Frozen):
    """An ack as it arrives on the acks topic: the ref of any report of the activation, and the team.

    ``response`` is what the person tapped: acknowledged, on my way, or can't respond (which does not
    stop the escalation: it brings it forward). ``recipient`` (a masked URL) and ``token_id`` say which
    alert link was used, when the ack came through one.
    """

    ref: str = Field(min_length=1, max_length=200)
    team: str = Field(min_length=1, max_length=100)
    response: AckResponse = "ack"
    recipient: str | None = Field(default=None, max_length=300)
    token_id: str | None = Field(default=None, max_length=100)
    person: str | None = Field(default=None, max_length=100)  # the roster person who answered, when known
    # a review user (DNS) who answered on the team's behalf from the live board; None when the team answered
    by: str | None = Field(default=None, max_length=100)


BoardActionKind = Literal["repage", "close"]


class BoardAction(Frozen):
    """What DNS did from the live board (`vigil web` ``/board``), on the acks topic beside the answers: page a
    team again (``repage``, with ``team``), or close the activation (``close``: paging and escalations stop,
    it leaves the board, its review stays). ``request_id`` makes a retried form the same action (its
    timeline record's id), ``ref`` is the activation's id or any of its report refs."""

    action: BoardActionKind
    ref: str = Field(min_length=1, max_length=200)
    team: str | None = Field(default=None, max_length=100)
    by: str = Field(min_length=1, max_length=100)
    request_id: str = Field(min_length=1, max_length=100)


class Referral(Frozen):
    """A referral to a wraparound service made when a task was closed, with the person's consent: never who."""

    service: Literal["housing", "employment", "mental_health", "relocation", "legal", "other"]
    consent: bool


class TaskClose(Frozen):
    """A follow-up task closed (from its phone link, an SMS reply or the review pages), on the acks topic: its
    outcome and referrals (stream/model/timeline.py ``Referral``), who closed it."""

    task_id: str = Field(min_length=1, max_length=64)
    ref: str = Field(min_length=1, max_length=200)  # the activation's id or a report's ref
    outcome: Literal["done", "attempted", "declined", "not_reachable"]
    referrals: tuple[Referral, ...] = Field(default=(), max_length=6)
    by: str | None = Field(default=None, max_length=100)
    person: str | None = Field(default=None, max_length=100)


class CoreInput(Frozen):
    """What the activation agent reads from the events topic, keyed by jurisdiction: a shooting report,
    an ack, a board action, or a clock tick (ticks let the partition's owner fire due escalations)."""

    type: Literal["event", "ack", "tick", "action", "task_close"]
    event: ShootingEvent | None = None
    ack: AckMessage | None = None
    action: BoardAction | None = None
    task_close: TaskClose | None = None
