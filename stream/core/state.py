"""What the activation core remembers, and the draft that makes one step whole or nothing.

``CoreState`` holds the activations, their indexes and the escalation timers. The core's functions change
a state in place; ``step`` (stream/core/step.py) never hands them the caller's state but a ``draft`` of
it: the containers are copied (pointers only) and an activation is copied the first time the step
writes to it (``writable``). If anything raises half-way, the caller's state has not changed at all;
if the step succeeds, the draft is the new state. Copying an activation costs a few microseconds, and a
step writes one or two of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from geofences.coverage import CoverageMap, Placement
from geofences.roster import Roster
from rules.protocols import EscalationStep, ProtocolSet
from stream.core.standdowns import Standdown
from stream.model.events import KIND_RANK, EventKind, Intent, NotificationIntent, ShootingEvent
from stream.model.timeline import TimelineRecord

# The shortest time an activation is kept (the 72 h retaliation look-back of the Minneapolis protocols and a
# margin); a protocol file that looks further back keeps its activations longer (``Config.retention``).
MIN_RETENTION = timedelta(hours=73)


@dataclass
class Notice:
    """A team notified in an activation, with its escalation snapshot and cursor."""

    team: str
    protocol: str
    step: str
    at: datetime
    ack_deadline: datetime | None
    escalate: tuple[EscalationStep, ...]
    cursor: int = 0
    acked_at: datetime | None = None
    declined_at: datetime | None = None  # "can't respond": the escalation need not wait for the deadline

    def due(self) -> datetime | None:
        """When the next escalation step fires, or None when the chain is done or stopped."""
        if self.acked_at is not None or self.ack_deadline is None or self.cursor >= len(self.escalate):
            return None
        due = self.ack_deadline + timedelta(minutes=self.escalate[self.cursor].after_minutes)
        return min(due, self.declined_at) if self.declined_at is not None else due


@dataclass(frozen=True)
class Attempt:
    """One page of one person on one channel (None: whatever reaches them), at a planned moment."""

    person: str
    layer: str  # primary, secondary, or team (paged as one of everyone on the team)
    channel: str | None
    at: datetime


@dataclass(frozen=True)
class PagePlan:
    """A team-level alert's pages (stream/core/paging.py): who was on call then, every attempt in time
    order, and a cursor. ``key`` is the team-level intent's id."""

    key: str
    team: str
    step: str
    at: datetime
    on_call: tuple[tuple[str, str], ...]  # (layer, person) on call at ``at``: the snapshot the review shows
    attempts: tuple[Attempt, ...]
    escalated_team: str | None = None  # an escalation alert's: the team that did not answer
    cursor: int = 0  # attempts before it were sent (or skipped)
    declined: frozenset[str] = frozenset()  # people who answered "can't respond": their attempts are skipped
    stopped: bool = False  # someone of the team answered
    stopped_at: datetime | None = None
    # what its pages say first: ("standdown", team, until, reason) or ("repage", by); () for a plain alert
    note: tuple[str, ...] = ()

    def due(self) -> datetime | None:
        """When the next attempt is sent, or None when the plan is done or stopped."""
        if self.stopped:
            return None
        return next((a.at for a in self.attempts[self.cursor:] if a.person not in self.declined), None)


@dataclass(frozen=True)
class Task:
    """A follow-up task of a team (stream/core/tasks.py): its kind, the rule that made it, when it is due."""

    id: str
    team: str
    kind: str
    rule: str
    due: datetime
    created_at: datetime
    reminded: bool = False
    overdue_told: bool = False
    closed_at: datetime | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class News:
    """An answer the rest of the activation has yet to hear of (stream/core/answers.py)."""

    team: str
    person: str | None
    name: str
    response: str
    at: datetime
    stand_down: tuple[str, ...] = ()  # teams escalated to because of ``team``, now told to stand down


@dataclass
class Activation:
    """One shooting, however many reports it came in."""

    id: str
    jurisdiction: str
    opened_at: datetime
    location: tuple[float, float] | None
    placement: Placement | None
    coverage_version: str
    protocol_version: str
    refs: list[str] = field(default_factory=list)
    event_ids: set[str] = field(default_factory=set)
    kinds: set[EventKind] = field(default_factory=set)
    fatal: bool = False
    cad_victims: int = 0
    arrivals: dict[str, tuple[str, Intent | None]] = field(default_factory=dict)  # visit key → (hospital, intent)
    arrived_at: dict[str, datetime] = field(default_factory=dict)  # hospital → first arrival there
    ages: list[int] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notices: dict[str, Notice] = field(default_factory=dict)
    first_event: ShootingEvent | None = None
    plans: dict[str, PagePlan] = field(default_factory=dict)  # team-level intent id → its pages (paged teams)
    # person → their latest answer, per team ("team/person"): who stands behind a team's ack
    answers: dict[str, str] = field(default_factory=dict)
    news: tuple[News, ...] = ()  # answers waiting for the next coalesced update
    news_sent: int = 0  # updates sent so far (the next one's number)
    block: str | None = None  # the hundred-block of its first report that has one (the feeds' ShootingEvent.block)
    drill: bool = False  # opened by a drill report (ShootingEvent.drill): every alert says DRILL
    # team → the standdown that kept it off this activation (its alert went to the fallback instead), once per team
    redirected: dict[str, str] = field(default_factory=dict)
    closed_at: datetime | None = None  # DNS closed it from the live board: paging and escalations stopped
    tasks: dict[str, Task] = field(default_factory=dict)  # follow-up tasks by id (stream/core/tasks.py)
    flagged_at: dict[str, datetime] = field(default_factory=dict)  # flag → when it was first raised

    @property
    def kind(self) -> EventKind:
        """The most serious kind reported."""
        return max(self.kinds, key=KIND_RANK.__getitem__)

    def copy(self) -> Activation:
        """A copy that shares nothing mutable with this one (events, placements and steps are frozen)."""
        return replace(
            self, refs=list(self.refs), event_ids=set(self.event_ids), kinds=set(self.kinds), arrivals=dict(self.arrivals),
            arrived_at=dict(self.arrived_at), ages=list(self.ages), flags=list(self.flags),
            notices={team: replace(notice) for team, notice in self.notices.items()},
            plans=dict(self.plans), answers=dict(self.answers), redirected=dict(self.redirected), tasks=dict(self.tasks),
            flagged_at=dict(self.flagged_at),
        )


@dataclass
class CoreState:
    """Everything the core remembers: activations, their indexes, and the escalation timers."""

    activations: dict[str, Activation] = field(default_factory=dict)
    by_incident: dict[str, str] = field(default_factory=dict)  # "source:incident" → activation id
    by_ref: dict[str, str] = field(default_factory=dict)  # ack refs (incident ids, HL7 messages' keyed refs) → activation id
    timers: list[tuple[datetime, str, str, int]] = field(default_factory=list)  # heap of (due, activation, team, cursor)
    # heap of (due, activation, plan key or NEWS, cursor or update number): pages and coalesced answer updates
    page_timers: list[tuple[datetime, str, str, int]] = field(default_factory=list)
    opened: deque[str] = field(default_factory=deque)  # activation ids in the order they opened (the clock only runs forward)
    pruned_at: datetime | None = None  # when old activations were last forgotten (core time)
    # core time up to which ended standdown windows were told to the on-call team (None: not yet started)
    standdowns_checked_at: datetime | None = None
    # a draft's activations that are its own copies (None: not a draft, every activation is written in place)
    owned: set[str] | None = field(default=None, repr=False, compare=False)

    def draft(self) -> CoreState:
        """A state to run one step on, sharing nothing this state could see change (see the module)."""
        return CoreState(dict(self.activations), dict(self.by_incident), dict(self.by_ref), list(self.timers), list(self.page_timers),
                         deque(self.opened), self.pruned_at, self.standdowns_checked_at, owned=set())

    def settled(self) -> CoreState:
        """This draft as a state of its own (its copies are now simply its activations)."""
        self.owned = None
        return self

    def writable(self, activation_id: str) -> Activation:
        """The activation, safe to change: in a draft, its own copy (made on the first write)."""
        activation = self.activations[activation_id]
        if self.owned is None or activation_id in self.owned:
            return activation
        mine = self.activations[activation_id] = activation.copy()
        self.owned.add(activation_id)
        return mine

    def adopt(self, activation: Activation) -> None:
        """Add an activation made during this step (it is the draft's own)."""
        self.activations[activation.id] = activation
        self.opened.append(activation.id)
        if self.owned is not None:
            self.owned.add(activation.id)


def opened_since(state: CoreState, since: datetime) -> Iterator[Activation]:
    """Activations opened at or after ``since``, newest first: correlation and repeats look back a bounded time."""
    for activation_id in reversed(state.opened):
        activation = state.activations.get(activation_id)
        if activation is None:
            continue
        if activation.opened_at < since:
            return
        yield activation


@dataclass(frozen=True)
class Config:
    """What the core decides with."""

    coverage: CoverageMap
    protocols: ProtocolSet
    keep: timedelta | None = None  # how long activations are kept, when not as long as the protocols need (tests)
    # team → its roster: a team with one pages its people (stream/core/paging.py); without, its shared recipients
    rosters: Mapping[str, Roster] = field(default_factory=dict, compare=False)
    # person → their channels in the order they are tried (the contacts file's, notifiers/contacts.py); a
    # person not in it is paged once on whatever reaches them
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # the standdowns in force or to come (stream/core/standdowns.py): the worker's are the standdowns topic's
    standdowns: tuple[Standdown, ...] = field(default=(), compare=False)

    @property
    def on_call_teams(self) -> tuple[str, ...]:
        """The on-call teams (audience oncall): every redirect's last resort, and who hears a standdown end."""
        return tuple(team.id for team in self.coverage.teams.values() if team.audience.value == "oncall")

    @property
    def retention(self) -> timedelta:
        """How long an activation with nothing pending is kept: longer than anything looks back at it."""
        return self.keep if self.keep is not None else max(MIN_RETENTION, self.protocols.look_back + timedelta(hours=1))


@dataclass
class Outcome:
    """What one call produced: notifications to send and timeline records to keep."""

    intents: list[NotificationIntent] = field(default_factory=list)  # to send
    timeline: list[TimelineRecord] = field(default_factory=list)
    activation_id: str | None = None
    problem: str | None = None
    # team-level alerts of teams that page their people: recorded on the timeline, not sent (their pages are)
    told: list[NotificationIntent] = field(default_factory=list)

    def add(self, other: Outcome) -> Outcome:
        """This outcome followed by ``other`` (the activation and problem of ``other`` when it has them)."""
        self.intents += other.intents
        self.told += other.told
        self.timeline += other.timeline
        self.activation_id = other.activation_id or self.activation_id
        self.problem = other.problem or self.problem
        return self
