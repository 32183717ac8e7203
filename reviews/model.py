"""What the next-day activation review shows, computed from the stored timeline: plain functions.

``review_of(records, zone, now=...)`` turns one activation's typed timeline records (stream/model/timeline.py)
into an ``ActivationReview``: its header (when, what, where), a line per team (notified, delivered,
answered, escalated), the flags the meeting goes through (coverage gap, retaliation watch, missed ack,
can't respond, delivery failure, stood down) and the timeline as steps with the minutes between them, the live
board's records among them (an answer given on a team's behalf, a re-page, a close: ``BoardActed``) and a standdown's
redirect (``StoodDown``). A drill (``ActivationDecided.drill``) is reviewed like any activation, labelled so, and
left out of ``summarise`` and ``action_items``. ``now`` is
the moment the review is looked at: a deadline after it is still running ("awaiting"), never a miss.
``summarise`` aggregates a date range. The web pages, `vigil review` and the exports only render these;
nothing here touches a database, a clock or the network.

How a team with an ack deadline stands (``TeamLine.ack_state``), judged on its first answer:

- ``in_time``: acknowledged (or "on my way") by the deadline;
- ``cant_respond``: answered "can't respond" by the deadline. An answer, not an ack: it is not counted
  as acked in time, and it is not a missed ack either (the team told DNS at once, which is what the
  button is for); it has its own flag, ``cant_respond``, so the meeting still goes through it;
- ``late``: its first answer (an ack or a "can't respond") came after the deadline: a missed ack;
- ``no_answer``: the deadline passed with no answer (whether or not the escalation fired): a missed ack;
- ``awaiting``: no answer, no escalation, and the deadline is not past ``now``.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from stream.model.events import KIND_RANK, EventKind, Location
from stream.model.timeline import (
    AckRecorded,
    ActivationDecided,
    AlertDelivered,
    BoardActed,
    EventReceived,
    IntentCreated,
    StoodDown,
    TimelineRecord,
)

KIND_LABEL = {EventKind.SHOTSPOTTER: "ShotSpotter", EventKind.SHOTS_FIRED: "shots fired", EventKind.GSW_ARRIVAL: "gunshot arrival",
              EventKind.PERSON_SHOT: "person shot"}
RESPONSE_LABEL = {"ack": "acknowledged", "on_my_way": "on my way", "unable": "can't respond"}
OUTCOMES = {
    "went_to_scene": "went to the scene",
    "bedside_contact": "bedside contact",
    "mediation": "mediation",
    "family_support": "family support",
    "unable": "unable",
}
# the flags the review goes through, in the order it goes through them
REVIEW_FLAGS = ("coverage_gap", "retaliation_watch", "missed_ack", "cant_respond", "delivery_failure", "stood_down")
STOOD_DOWN = "stood_down"  # the flag of an activation an alert of which went elsewhere (stream/core/standdowns.py)
FAILED_DELIVERY = ("failed", "partial", "no_recipients")
# a standdown's redirect is recorded with the alert it redirected: it reads before that alert
KIND_ORDER = {"event_received": 0, "decided": 1, "stood_down": 1.8, "intent": 2, "delivery": 3, "ack": 4, "board_action": 5}
# the sources whose incident id is the CAD's incident number; a hospital's (hl7) is a keyed hash of its visit, not a number
# anyone can look up, so the CSV's incident column leaves it out
HOSPITAL_SOURCES = ("hl7",)
# the team DNS on-call answers for: its outcomes are DNS's to record
DNS_TEAM = "dns-oncall"
# a "can't respond" sorts before the escalation it caused at the same moment
DECLINE_ORDER = 1.5
# how a team with a deadline stands (see the module docstring)
IN_TIME, CANT_RESPOND, LATE, NO_ANSWER, AWAITING = "in_time", "cant_respond", "late", "no_answer", "awaiting"
# Records made before intents carried their escalation chain (IntentCreated.escalates_to is None): every
# Minneapolis protocol with a deadline escalates to dns-oncall (docs/demo-deployment.md).
LEGACY_ESCALATION = ("dns-oncall",)


@dataclass(frozen=True)
class TeamLine:
    """One team in an activation: how it was told and how it answered."""

    team: str
    protocol: str
    step: str  # initial, update or escalation
    notified_at: datetime
    as_of: datetime  # the review's "now": a deadline after it is still running
    ack_deadline: datetime | None = None
    escalated_from: str | None = None  # for an escalation: the team that did not ack
    escalated_because: str | None = None  # for an escalation: "cant_respond" (that team answered so) or "no_ack"
    delivery: str | None = None  # delivered, partial, failed, no_recipients; None: no outcome yet
    delivered_at: datetime | None = None
    recipients: int = 0
    reached: int = 0
    answered_at: datetime | None = None  # the first ack or "on my way"
    response: str | None = None
    declined_at: datetime | None = None  # "can't respond"
    escalated_at: datetime | None = None  # when dns-oncall was told that this team had not acked
    answered_name: str | None = None  # who of the team gave the first ack or "on my way": roster name (else person id)
    answered_by: str | None = None  # the review user (DNS) who recorded that answer on the team's behalf, from the board
    declined_name: str | None = None  # who of the team answered "can't respond" (as answered_name)
    declined_by: str | None = None  # the review user who answered "can't respond" on the team's behalf
    stood_down_for: str | None = None  # this alert stands in for a stood-down team's (IntentCreated.stood_down_team)
    repages: tuple[tuple[datetime, str], ...] = ()  # (when, by whom) DNS paged this team again from the board

    @property
    def minutes_to_answer(self) -> float | None:
        """Minutes from the alert to the team's first answer, whichever it was ("can't respond" included)."""
        first = self.first_answer
        return None if first is None else (first[0] - self.notified_at).total_seconds() / 60

    @property
    def first_answer_by(self) -> tuple[str | None, str | None]:
        """Who gave the first answer: (the team's person's name, the review user who answered on the team's behalf)."""
        first = self.first_answer
        if first is None:
            return None, None
        if first[1] == "unable" and first[0] == self.declined_at:
            return self.declined_name, self.declined_by
        return self.answered_name, self.answered_by

    @property
    def first_answer(self) -> tuple[datetime, str] | None:
        """The team's first answer, (when, response): an ack, "on my way" or "can't respond" (``unable``)."""
        answers = [(at, response) for at, response in ((self.answered_at, self.response), (self.declined_at, "unable"))
                   if at is not None and response is not None]
        return min(answers, key=lambda answer: answer[0]) if answers else None

    @property
    def ack_state(self) -> str | None:
        """in_time, cant_respond, late, no_answer or awaiting (module docstring); None without a deadline."""
        if self.ack_deadline is None:
            return None
        first = self.first_answer
        if first is not None:
            at, response = first
            if at > self.ack_deadline:
                return LATE
            return CANT_RESPOND if response == "unable" else IN_TIME
        # an ack at the very deadline is in time, so at the deadline it is still running
        return AWAITING if self.escalated_at is None and self.as_of <= self.ack_deadline else NO_ANSWER

    @property
    def acked_in_time(self) -> bool | None:
        """True: acked by the deadline. False: the deadline passed without an ack in time. None: no
        deadline, a deadline still running, or "can't respond" (an answer, not an ack, and not a miss)."""
        return {IN_TIME: True, LATE: False, NO_ANSWER: False}.get(self.ack_state or "")

    @property
    def missed(self) -> bool:
        """The team did not answer by its deadline: no answer once it passed, or a first answer after it.
        A deadline still running is not a miss, nor is a "can't respond" given in time."""
        return self.ack_state in (LATE, NO_ANSWER)

    @property
    def cant_respond(self) -> bool:
        """The team answered "can't respond" by its deadline (its escalation fired at once)."""
        return self.ack_state == CANT_RESPOND

    @property
    def minutes_to_ack(self) -> float | None:
        """Minutes from the alert to the team's ack."""
        return None if self.answered_at is None else (self.answered_at - self.notified_at).total_seconds() / 60

    @property
    def escalation_cancelled(self) -> bool:
        """A team with a deadline acked in time: its escalation never fired."""
        return bool(self.acked_in_time) and self.escalated_at is None


@dataclass(frozen=True)
class Step:
    """One moment of the activation's timeline."""

    at: datetime
    what: str  # received, decided, sent, paged, delivered, acked, declined, escalated, updated, stood_down, repaged, closed
    team: str | None
    text: str
    minutes_since_previous: float | None
    minutes_since_start: float


@dataclass(frozen=True)
class StoodDownTeam:
    """A team that was not alerted because a standdown was in force; its alert went to ``redirected_to``."""

    team: str
    at: datetime
    reason: str
    until: datetime  # the end of the standdown's window in force
    redirected_to: tuple[str, ...]


@dataclass(frozen=True)
class ActivationReview:
    """Everything the review shows of one activation.

    ``drill``: a drill activation (any decision made it one): labelled DRILL on every page, left out of the
    summaries and the action items. ``closed_at``/``closed_by``: when and by whom DNS closed it from the live
    board (the last close; None while open). ``cad_incidents``: the CAD incident numbers (a hospital's ref is a
    keyed hash, not a number: left out). ``stood_down_teams``: the teams not alerted because they were stood down.
    """

    id: str
    opened_at: datetime
    kind: EventKind
    sources: tuple[str, ...]
    incidents: tuple[str, ...]
    location: Location | None
    cell: str | None
    neighborhood: str | None
    community: str | None
    protocols: tuple[str, ...]
    flags: tuple[str, ...]  # everything the core flagged, plus missed_ack and delivery_failure
    teams: tuple[TeamLine, ...]
    steps: tuple[Step, ...]
    first_received_at: datetime
    first_delivered_at: datetime | None
    coverage_version: str | None = None
    protocol_version: str | None = None
    drill: bool = False
    closed_at: datetime | None = None
    closed_by: str | None = None
    cad_incidents: tuple[str, ...] = ()
    stood_down_teams: tuple[StoodDownTeam, ...] = ()

    @property
    def closed(self) -> bool:
        """DNS closed the activation from the live board (it leaves the board; its review stays)."""
        return self.closed_at is not None

    @property
    def review_flags(self) -> tuple[str, ...]:
        """The flags the meeting goes through, in order."""
        return tuple(f for f in REVIEW_FLAGS if f in self.flags)

    @property
    def seconds_to_notify(self) -> float | None:
        """From the first report received to the first alert delivered. Never negative: review_of puts
        every time on the decisions' clock (a report is received no later than its decision, an alert
        delivered no earlier than its intent)."""
        if self.first_delivered_at is None:
            return None
        return (self.first_delivered_at - self.first_received_at).total_seconds()

    def visible_to(self, team: str) -> bool:
        """A provider lead sees the activations their team was alerted about."""
        return any(line.team == team for line in self.teams)


def _hhmm(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%H:%M:%S}"


def on_one_clock(records: Iterable[TimelineRecord]) -> list[TimelineRecord]:
    """The records with their times on the clock of the activation's decisions.

    A report's received stamp may come from another process's clock (an HL7 listener on the wall clock
    beside a worker on a demo or drill clock), as may a delivery's (another worker's clock). A report is
    received no later than the decision made on it, and an alert is delivered no earlier than its
    intent: a stamp on the wrong side is put at that bound, so steps keep their order and the time to
    notify is never negative, also for records stored before the worker stamped arrivals itself.
    """
    records = list(records)
    decided_at: dict[str, datetime] = {}
    for record in records:
        if isinstance(record, ActivationDecided):
            decided_at[record.event_id] = min(record.at, decided_at.get(record.event_id, record.at))
    intent_at = {r.intent_id: r.at for r in records if isinstance(r, IntentCreated)}
    fitted: list[TimelineRecord] = []
    for record in records:
        if isinstance(record, EventReceived) and record.at > decided_at.get(record.event_id, record.at):
            record = record.model_copy(update={"at": decided_at[record.event_id]})
        elif isinstance(record, AlertDelivered) and record.at < intent_at.get(record.intent_id, record.at):
            record = record.model_copy(update={"at": intent_at[record.intent_id]})
        fitted.append(record)
    return fitted


def _order(record: TimelineRecord) -> tuple[datetime, float, str]:
    # at one moment the report comes before the decision, the decision before its alerts, and a
    # "can't respond" before the escalation it brought forward
    declined = isinstance(record, AckRecorded) and record.response == "unable"
    return record.at, DECLINE_ORDER if declined else KIND_ORDER.get(record.kind, 9), record.entry_id


def _first_declines(answers: Iterable[AckRecorded], intents: Iterable[IntentCreated] = ()) -> dict[str, AckRecorded]:
    """Each team's first "can't respond" (answers in time order). One person of a paged team answering so is
    not the team's: the next person is paged; it is the team's when it brought the escalation (at that moment)."""
    escalated_at = {(i.escalated_team, i.at) for i in intents if i.step == "escalation" and i.person is None}
    declines: dict[str, AckRecorded] = {}
    for answer in answers:
        if answer.response == "unable" and (answer.person is None or (answer.team, answer.at) in escalated_at):
            declines.setdefault(answer.team, answer)
    return declines


def team_alerts(intents: Iterable[IntentCreated]) -> list[IntentCreated]:
    """The teams' alerts: not the pages of their people, the answers updates (stream/core/paging.py, answers.py)
    nor an alert sent again from the live board (its ``BoardActed`` record is the step; its pages are shown)."""
    return [i for i in intents if i.person is None and i.purpose == "alert" and i.repaged_by is None]


def _pages_of(intent: IntentCreated, records: Sequence[TimelineRecord]) -> list[IntentCreated]:
    """The pages of the people of the team an alert told (same team, step and escalated team)."""
    return [r for r in records if isinstance(r, IntentCreated) and r.person is not None and r.purpose == "alert"
            and r.team == intent.team and r.step == intent.step and r.escalated_team == intent.escalated_team]


def _delivery_of(intent: IntentCreated, ordered: Sequence[TimelineRecord], deliveries: Mapping[str, AlertDelivered]) -> AlertDelivered | None:
    """An alert's delivery; for a team whose people are paged, its pages' taken together: delivered at the first
    page that reached somebody, with every page's recipients."""
    own = deliveries.get(intent.intent_id)
    pages = [deliveries[p.intent_id] for p in _pages_of(intent, ordered) if p.intent_id in deliveries]
    if own is not None or not pages:
        return own
    reached = [d for d in pages if d.status in ("delivered", "partial")]
    first = min(reached, key=lambda d: d.at) if reached else max(pages, key=lambda d: d.at)
    recipients = tuple(r for d in pages for r in d.recipients)
    return first.model_copy(update={"recipients": recipients, "intent_id": intent.intent_id})


def _escalation_cause(intent: IntentCreated, declines: Mapping[str, AckRecorded]) -> AckRecorded | None:
    """The "can't respond" that brought this escalation forward, or None when the deadline passed unanswered."""
    decline = declines.get(intent.escalated_team or "")
    return decline if decline is not None and decline.at <= intent.at else None


def review_of(records: Sequence[TimelineRecord], zone: tzinfo, *, now: datetime) -> ActivationReview:
    """One activation's review from its timeline records (any order; at least its first decision), as it
    stands at ``now`` (a deadline after ``now`` is still running)."""
    ordered = sorted(on_one_clock(records), key=_order)
    received = [r for r in ordered if isinstance(r, EventReceived)]
    decided = [r for r in ordered if isinstance(r, ActivationDecided)]
    intents = team_alerts(r for r in ordered if isinstance(r, IntentCreated))
    if not decided:
        raise ValueError(f"activation {ordered[0].activation_id if ordered else '?'} has no decision record")
    lines = _team_lines(ordered, intents, now)

    flags = list(dict.fromkeys(f for d in decided for f in d.flags))
    if any(line.missed for line in lines):
        flags.append("missed_ack")
    if any(line.cant_respond for line in lines):
        flags.append("cant_respond")
    if any(line.delivery in FAILED_DELIVERY for line in lines):
        flags.append("delivery_failure")
    stood_down = [r for r in ordered if isinstance(r, StoodDown)]
    if (stood_down or any(line.stood_down_for for line in lines)) and STOOD_DOWN not in flags:
        flags.append(STOOD_DOWN)
    closes = [r for r in ordered if isinstance(r, BoardActed) and r.action == "close"]

    first = decided[0]
    # no report is received after the first decision (on_one_clock), whatever its source's clock said
    first_received = min(received[0].at, first.at) if received else first.at
    delivered_times = [line.delivered_at for line in lines if line.delivered_at is not None and line.delivery in ("delivered", "partial")]
    kinds = {r.event_kind for r in received}
    return ActivationReview(
        id=first.activation_id,
        opened_at=first.at,
        kind=max(kinds, key=KIND_RANK.__getitem__) if kinds else EventKind.PERSON_SHOT,
        sources=tuple(dict.fromkeys(r.source for r in received)),
        incidents=tuple(dict.fromkeys(r.incident_id for r in received)),
        location=next((r.location for r in received if r.location is not None), None),
        cell=next((d.cell for d in decided if d.cell), None),
        neighborhood=next((d.neighborhood for d in decided if d.neighborhood), None),
        community=next((d.community for d in decided if d.community), None),
        protocols=tuple(dict.fromkeys(p for d in decided for p in d.protocols)),
        flags=tuple(flags),
        teams=tuple(lines),
        steps=tuple(_steps(ordered, intents, zone)),
        first_received_at=first_received,
        # a delivery whose intent is not stored (yet) was not put after it by on_one_clock: bound it here
        first_delivered_at=max(min(delivered_times), first_received) if delivered_times else None,
        coverage_version=first.coverage_version,
        protocol_version=first.protocol_version,
        drill=any(d.drill for d in decided),
        closed_at=closes[-1].at if closes else None,
        closed_by=closes[-1].by if closes else None,
        cad_incidents=tuple(dict.fromkeys(r.incident_id for r in received if r.source not in HOSPITAL_SOURCES)),
        stood_down_teams=tuple(StoodDownTeam(r.team, r.at, r.reason, r.until, r.redirected_to) for r in stood_down),
    )


def _team_lines(ordered: Sequence[TimelineRecord], intents: Sequence[IntentCreated], now: datetime) -> list[TeamLine]:
    deliveries = {r.intent_id: r for r in ordered if isinstance(r, AlertDelivered)}
    answers = [r for r in ordered if isinstance(r, AckRecorded)]
    declines = _first_declines(answers, intents)
    escalations = {i.escalated_team: i for i in intents if i.step == "escalation" and i.escalated_team}
    repages: dict[str, tuple[tuple[datetime, str], ...]] = defaultdict(tuple)
    for r in ordered:
        if isinstance(r, BoardActed) and r.action == "repage" and r.team:
            repages[r.team] += ((r.at, r.by),)
    lines: list[TeamLine] = []
    for intent in intents:
        delivery = _delivery_of(intent, ordered, deliveries)
        first_answer = next((a for a in answers if a.team == intent.team and a.response != "unable"), None)
        declined = declines.get(intent.team)
        is_escalation = intent.step == "escalation"
        escalation = escalations.get(intent.team) if not is_escalation else None
        lines.append(TeamLine(
            # an escalation carries the deadline the other team missed; the escalated-to team has none of its own
            team=intent.team, protocol=intent.protocol, step=intent.step, notified_at=intent.at, as_of=now,
            ack_deadline=intent.ack_deadline if not is_escalation else None,
            escalated_from=intent.escalated_team if is_escalation else None,
            escalated_because=("cant_respond" if _escalation_cause(intent, declines) else "no_ack") if is_escalation else None,
            delivery=delivery.status if delivery else None, delivered_at=delivery.at if delivery else None,
            recipients=len(delivery.recipients) if delivery else 0,
            reached=sum(r.status == "delivered" for r in delivery.recipients) if delivery else 0,
            answered_at=first_answer.at if first_answer else None, response=first_answer.response if first_answer else None,
            declined_at=declined.at if declined else None, escalated_at=escalation.at if escalation else None,
            answered_name=(first_answer.name or first_answer.person) if first_answer else None,
            answered_by=first_answer.by if first_answer else None,
            declined_name=(declined.name or declined.person) if declined else None, declined_by=declined.by if declined else None,
            stood_down_for=intent.stood_down_team, repages=repages.get(intent.team, ()),
        ))
    return lines


def _escalation_text(intent: IntentCreated, declines: Mapping[str, AckRecorded], zone: tzinfo) -> str:
    deadline = intent.ack_deadline
    decline = _escalation_cause(intent, declines)
    if decline is None:
        return f"escalated to {intent.team}: {intent.escalated_team} did not ack by {_hhmm(deadline, zone) if deadline else '?'}"
    after = f", after its deadline {_hhmm(deadline, zone)}" if deadline is not None and decline.at > deadline else ""
    return f"escalated to {intent.team}: {intent.escalated_team} answered can't respond at {_hhmm(decline.at, zone)}{after}"


def _steps(ordered: Sequence[TimelineRecord], intents: Sequence[IntentCreated], zone: tzinfo) -> list[Step]:
    deadlines = {i.team: i.ack_deadline for i in intents if i.ack_deadline is not None}
    escalated = {i.escalated_team for i in intents if i.step == "escalation"}
    declines = _first_declines((r for r in ordered if isinstance(r, AckRecorded)), intents)
    pages = {r.intent_id: r for r in ordered if isinstance(r, IntentCreated) and (r.person is not None or r.purpose != "alert")}
    raw: list[tuple[datetime, str, str | None, str]] = []
    updates: set[tuple[str, str, datetime]] = set()
    for r in ordered:
        if isinstance(r, IntentCreated | AlertDelivered) and r.intent_id in pages:
            step = _page_step(r, pages[r.intent_id], updates)
            if step is not None:
                raw.append(step)
            continue
        if isinstance(r, EventReceived):
            raw.append((r.at, "received", None, f"{KIND_LABEL[r.event_kind]} report from {r.source.upper()} ({r.incident_id})"))
        elif isinstance(r, ActivationDecided):
            told = ", ".join(r.teams) or "nobody new"
            extra = f"; flagged {', '.join(r.new_flags)}" if r.new_flags else ""
            rules = ", ".join(r.protocols) or "no rule"
            what = ("opened" if r.step == "initial" else "updated") + (" (DRILL)" if r.drill else "")
            raw.append((r.at, "decided", None, f"{what}: {rules} → {told}{extra}"))
        elif isinstance(r, IntentCreated):
            if r.repaged_by is not None:
                continue  # the board's "re-paged" step says it; the pages it sent are steps of their own
            instead = f" because {r.stood_down_team} is stood down" if r.stood_down_team else ""
            if r.step == "escalation":
                raw.append((r.at, "escalated", r.team, _escalation_text(r, declines, zone) + instead + _on_call(r)))
            else:
                by = f"; ack by {_hhmm(r.ack_deadline, zone)}" if r.ack_deadline else ""
                raw.append((r.at, "sent", r.team, f"alert to {r.team} ({r.step}, {r.protocol}){instead}{by}{_on_call(r)}"))
        elif isinstance(r, StoodDown | BoardActed):
            raw.append(_operations_step(r, zone))
        elif isinstance(r, AlertDelivered):
            reached = sum(x.status == "delivered" for x in r.recipients)
            channels = ", ".join(sorted({x.channel for x in r.recipients})) or "no channel"
            raw.append((r.at, "delivered", r.team, f"{r.team}: {r.status}, {reached} of {len(r.recipients)} phones ({channels})"))
        elif isinstance(r, AckRecorded):
            label = RESPONSE_LABEL.get(r.response, r.response) + (f" ({r.name or r.person})" if r.person else "")
            behalf = f"; answered on the team's behalf by {r.by}" if r.by else ""
            if r.response == "unable":
                raw.append((r.at, "declined", r.team, f"{r.team}: {label}{'' if r.within_deadline else ', after the deadline'}{behalf}"))
                continue
            timing = "in time" if r.within_deadline else "after the deadline"
            cancelled = " (escalation cancelled)" if r.first and r.within_deadline and r.team in deadlines and r.team not in escalated else ""
            again = "" if r.first else " (again)"
            raw.append((r.at, "acked", r.team, f"{r.team}: {label}{again}, {timing}{cancelled}{behalf}"))
    start = raw[0][0] if raw else None
    steps: list[Step] = []
    previous: datetime | None = None
    for at, what, team, text in raw:
        steps.append(Step(at, what, team, text, None if previous is None else (at - previous).total_seconds() / 60,
                          (at - start).total_seconds() / 60 if start else 0.0))
        previous = at
    return steps


def _operations_step(record: StoodDown | BoardActed, zone: tzinfo) -> tuple[datetime, str, str | None, str]:
    """A standdown's redirect, or what DNS did from the live board, as a step."""
    if isinstance(record, StoodDown):
        until = record.until.astimezone(zone)
        day = "" if until.date() == record.at.astimezone(zone).date() else f"{until:%a %d %b} "
        sent = ", ".join(record.redirected_to) or "nobody"
        return record.at, "stood_down", record.team, f"{record.team} stood down ({record.reason}) until {day}{until:%H:%M}: alert sent to {sent}"
    if record.action == "repage":
        return record.at, "repaged", record.team, f"re-paged {record.team} by {record.by}"
    return record.at, "closed", None, f"closed by {record.by}"


def _on_call(intent: IntentCreated) -> str:
    """"; on call: ana-r (primary), pa-v (secondary)" for a paged team's alert (the snapshot), else ""."""
    held = [entry.split(":", 1) for entry in intent.on_call]
    return "; on call: " + ", ".join(f"{person} ({layer})" for layer, person in held) if held else ""


def _page_step(record: IntentCreated | AlertDelivered, intent: IntentCreated, updates: set[tuple[str, str, datetime]]
               ) -> tuple[datetime, str, str | None, str] | None:
    """A person's page and its delivery as steps; an answers update or stand-down once per team and moment."""
    if intent.purpose != "alert":
        key = (intent.team, intent.purpose, intent.at)
        if isinstance(record, AlertDelivered) or key in updates:
            return None
        updates.add(key)
        what = "told to stand down" if intent.purpose == "stand_down" else "told who has answered"
        return record.at, "updated", intent.team, f"{intent.team} {what}"
    channel = f" by {intent.channel}" if intent.channel else ""
    if isinstance(record, IntentCreated):
        return record.at, "paged", intent.team, f"page to {intent.person} ({intent.team}){channel}"
    reached = sum(x.status == "delivered" for x in record.recipients)
    return record.at, "delivered", intent.team, f"{intent.person} ({intent.team}): {record.status}, {reached} of {len(record.recipients)}{channel}"


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The start and end of a local calendar day (23 or 25 hours long on a daylight-saving night)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def reviews_of(records_by_activation: Mapping[str, Sequence[TimelineRecord]], zone: tzinfo, *, now: datetime) -> list[ActivationReview]:
    """Reviews of several activations as they stand at ``now``, oldest first; activations without a
    decision are left out."""
    out = [review_of(records, zone, now=now) for records in records_by_activation.values()
           if any(isinstance(r, ActivationDecided) for r in records)]
    return sorted(out, key=lambda r: r.opened_at)


@dataclass(frozen=True)
class IfCantRespond:
    """What a "can't respond" from a team brings about, judged from the activation's stored timeline:
    the teams told at once (``will_tell``), or those its escalation already told (``told``, at ``told_at``).
    Both empty: nobody else is told."""

    will_tell: tuple[str, ...] = ()
    told: tuple[str, ...] = ()
    told_at: datetime | None = None


def if_cant_respond(records: Iterable[TimelineRecord], team: str) -> IfCantRespond:
    """What a "can't respond" from ``team`` would bring about now, as stream.activations.handle_ack
    decides it: the team's remaining escalation steps fire at once when its own alert has a deadline and
    an escalation chain, the team has not acked, and steps remain. A team told only as an escalation
    target, or whose alert has no deadline (gvi-outreach, mps-safety, dns-oncall), escalates nowhere.
    The stored timeline may lag the core by a moment (the review sink): this is the best word the answer
    page can give, and the core's decision is what the review records."""
    records = sorted(records, key=_order)
    own = next((r for r in records if isinstance(r, IntentCreated) and r.team == team and r.step != "escalation"), None)
    if own is None or own.ack_deadline is None:
        return IfCantRespond()
    fired = [r for r in records if isinstance(r, IntentCreated) and r.step == "escalation" and r.escalated_team == team]
    told = tuple(dict.fromkeys(r.team for r in fired))
    acked = any(isinstance(r, AckRecorded) and r.team == team and r.response != "unable" for r in records)
    chain = own.escalates_to if own.escalates_to is not None else LEGACY_ESCALATION
    will_tell = () if acked else tuple(t for t in chain if t not in told and t != team)
    return IfCantRespond(will_tell, told, fired[0].at if fired else None)


@dataclass(frozen=True)
class Follows:
    """What follows the answers given for a team, judged from the activation's stored timeline for one person
    paged (issue 16, item 6): the teams its escalation tells (``chain``; empty: nobody is told automatically),
    its deadline, whether the escalation already fired (``told`` at ``told_at``), who else of the team stands
    answered "acknowledge" or "on my way" (``answered``: names, or None for an answer from a team's shared
    phone), and whether the team pages its people one by one (a "can't respond" then pages the next first)."""

    team: str
    chain: tuple[str, ...] = ()
    deadline: datetime | None = None
    told: tuple[str, ...] = ()
    told_at: datetime | None = None
    answered: tuple[str | None, ...] = ()
    pages_people: bool = False

    def if_cant_respond(self) -> IfCantRespond:
        """What this person's "can't respond" brings about, in IfCantRespond's terms: the chain is told only
        when nobody else of the team stands answered (the person's own earlier answer is withdrawn by it)."""
        will_tell = () if self.answered else tuple(t for t in self.chain if t not in self.told)
        return IfCantRespond(will_tell, self.told, self.told_at)


def what_follows(records: Iterable[TimelineRecord], team: str, person: str | None) -> Follows:
    """``Follows`` for ``person`` (None: a team's shared phone) paged for ``team``. Assumes the core's rules for
    person pages: a person's ack or "on my way" stops the team's paging and escalation; their later "can't
    respond" withdraws it (so their own answers never count as someone else's); answers from a team's shared
    phone carry no person and each stands. Like ``if_cant_respond``, the stored timeline may lag the core."""
    records = sorted(records, key=_order)
    intents = [r for r in records if isinstance(r, IntentCreated) and r.team == team and r.purpose == "alert"]
    own = next((r for r in intents if r.step != "escalation"), None)
    pages_people = any(r.person is not None for r in intents)
    if own is None or own.ack_deadline is None:
        return Follows(team, pages_people=pages_people)
    fired = [r for r in records if isinstance(r, IntentCreated) and r.step == "escalation" and r.escalated_team == team]
    latest: dict[str, AckRecorded] = {}
    for n, answer in enumerate(r for r in records if isinstance(r, AckRecorded) and r.team == team):
        key = f"person:{answer.person}" if answer.person is not None else f"phone:{n}"
        if answer.person is None or answer.person != person:
            latest[key] = answer
    answered = tuple(a.name or a.person for a in latest.values() if a.response != "unable")
    chain = own.escalates_to if own.escalates_to is not None else LEGACY_ESCALATION
    return Follows(team, tuple(t for t in chain if t != team), own.ack_deadline, tuple(dict.fromkeys(r.team for r in fired)),
                   fired[0].at if fired else None, answered, pages_people)


@dataclass(frozen=True)
class TeamSummary:
    """One team over a range: alerts, acks, time to ack, share acked within the deadline.

    Of the alerts with a deadline, ``awaiting`` are still running and not judged yet; the others are
    ``decided``: acked in time, "can't respond" (``cant_respond``), or missed (``missed``: no answer, or
    a late one). The share in time is over the decided ones, "can't respond" included: it says how often
    the team took an alert in time, and the "can't respond" count beside it tells an honest "we can't"
    from silence.
    """

    team: str
    alerts: int
    with_deadline: int
    acked_in_time: int
    acked: int
    median_minutes_to_ack: float | None
    cant_respond: int = 0
    missed: int = 0
    awaiting: int = 0

    @property
    def decided(self) -> int:
        """Alerts with a deadline that has passed or been answered."""
        return self.with_deadline - self.awaiting

    @property
    def share_in_time(self) -> float | None:
        """The share of decided deadlines that were acked in time (None when none is decided yet)."""
        return None if not self.decided else self.acked_in_time / self.decided


@dataclass(frozen=True)
class Summary:
    """A date range of activations, as the summary page shows it."""

    activations: int
    by_kind: dict[str, int]
    median_seconds_to_notify: float | None
    p90_seconds_to_notify: float | None
    teams: tuple[TeamSummary, ...]
    flags: dict[str, int]
    gaps_by_neighborhood: dict[str, int]
    gaps_by_hour: dict[int, int]
    outcomes: dict[str, int] = field(default_factory=dict)
    drills_left_out: int = 0  # drill activations in the range: none of the numbers above counts them


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(reviews: Iterable[ActivationReview], zone: tzinfo, outcomes: Iterable[str] = ()) -> Summary:
    """Aggregate reviews: time to notify, per-team acks, flags, coverage gaps by place and hour, outcomes. Drills
    are left out (and counted as such); ``outcomes`` are the recorded outcomes of the activations that are not
    drills (``real``)."""
    given = list(reviews)
    reviews = real(given)
    notify = [s for s in (r.seconds_to_notify for r in reviews) if s is not None]
    per_team: dict[str, list[TeamLine]] = defaultdict(list)
    for review in reviews:
        for line in review.teams:
            per_team[line.team].append(line)
    teams = []
    for team, lines in sorted(per_team.items()):
        minutes = [m for m in (line.minutes_to_ack for line in lines) if m is not None]
        teams.append(TeamSummary(
            team=team, alerts=len(lines), with_deadline=sum(line.ack_deadline is not None for line in lines),
            acked_in_time=sum(bool(line.acked_in_time) for line in lines), acked=len(minutes),
            median_minutes_to_ack=statistics.median(minutes) if minutes else None,
            cant_respond=sum(line.cant_respond for line in lines), missed=sum(line.missed for line in lines),
            awaiting=sum(line.ack_state == AWAITING for line in lines),
        ))
    gaps = [r for r in reviews if "coverage_gap" in r.flags]
    return Summary(
        activations=len(reviews),
        by_kind=dict(Counter(KIND_LABEL[r.kind] for r in reviews)),
        median_seconds_to_notify=statistics.median(notify) if notify else None,
        p90_seconds_to_notify=_percentile(notify, 0.9),
        teams=tuple(teams),
        flags={f: sum(f in r.flags for r in reviews) for f in REVIEW_FLAGS},
        gaps_by_neighborhood=dict(Counter(r.neighborhood or "(no place)" for r in gaps).most_common()),
        gaps_by_hour=dict(sorted(Counter(r.opened_at.astimezone(zone).hour for r in gaps).items())),
        outcomes=dict(Counter(outcomes)),
        drills_left_out=len(given) - len(reviews),
    )


def real(reviews: Iterable[ActivationReview]) -> list[ActivationReview]:
    """The activations that are not drills: what summaries and action items count."""
    return [r for r in reviews if not r.drill]


@dataclass(frozen=True)
class ActionItem:
    """Something the review meeting leaves to somebody: ``owner`` (a team's lead, or DNS) does ``text`` about
    the activation ``activation_id``."""

    activation_id: str
    owner: str
    text: str


def owner_of(team: str) -> str:
    """Who answers for a team's outcome: DNS for the on-call team, else the team's lead."""
    return "DNS" if team == DNS_TEAM else f"{team} lead"


def action_items(reviews: Iterable[ActivationReview], outcomes: Mapping[tuple[str, str], object], zone: tzinfo) -> list[ActionItem]:
    """What is left to do after the day's review, in the activations' order (drills left out): each team's
    outcome not recorded yet (its lead); each missed ack, "can't respond", failed delivery and coverage gap
    (DNS: decide and document)."""
    items: list[ActionItem] = []
    for review in real(reviews):
        where = review.neighborhood or "no place"
        about = f"{review.opened_at.astimezone(zone):%H:%M} {KIND_LABEL[review.kind]}, {where}"
        for team in dict.fromkeys(line.team for line in review.teams):
            if (review.id, team) not in outcomes:
                items.append(ActionItem(review.id, owner_of(team), f"record {team}'s outcome ({about})"))
        for line in review.teams:
            if line.missed:
                items.append(ActionItem(review.id, "DNS", f"decide and document why {line.team} missed its ack ({about})"))
            elif line.cant_respond:
                items.append(ActionItem(review.id, "DNS", f"decide and document why {line.team} could not respond ({about})"))
            if line.delivery in FAILED_DELIVERY:
                items.append(ActionItem(review.id, "DNS", f"check {line.team}'s phones: delivery {line.delivery} ({about})"))
        if "coverage_gap" in review.flags:
            items.append(ActionItem(review.id, "DNS", f"decide who covers {where}: nobody was on duty there ({about})"))
    return items


# incident: the CAD incident number(s), empty for a hospital-only activation (a hospital's ref is a keyed hash of
# the visit); answered/response: the first answer, "unable" (can't respond) included; answered_by: who gave it
# (the roster name, or "by <user> for the team" when DNS answered on its behalf); notes: the activation's notes
CSV_COLUMNS = ("date", "activation", "incident", "drill", "opened", "kind", "neighborhood", "community", "flags", "team", "protocol",
               "step", "notified", "ack_deadline", "delivery", "answered", "response", "answered_by", "minutes_to_answer",
               "acked_in_time", "escalated", "outcome", "outcome_reason", "notes")
# the acked_in_time cell of each ack state: "can't respond" and "awaiting" are neither yes nor no
ACKED_IN_TIME_CELL = {IN_TIME: "yes", LATE: "no", NO_ANSWER: "no", CANT_RESPOND: "can't respond", AWAITING: "awaiting"}


def answered_by_text(line: TeamLine) -> str:
    """Who gave the team's first answer: "Yer L.", "by dns1 for the team", or "" (not known, or no answer)."""
    name, by = line.first_answer_by
    return f"by {by} for the team" if by else (name or "")


def csv_rows(reviews: Iterable[ActivationReview], zone: tzinfo,
             outcomes: Mapping[tuple[str, str], tuple[str, str | None]] | None = None,
             notes: Mapping[str, int] | None = None) -> list[dict[str, str]]:
    """One row per (activation, team), for the CSV export and `vigil review`; ``outcomes`` maps
    (activation, team) to (outcome, reason), ``notes`` an activation to its count of notes."""
    outcomes = outcomes or {}
    notes = notes or {}

    def local(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")

    rows = []
    for review in reviews:
        for line in review.teams or (None,):  # an activation that told nobody still gets its row
            outcome, reason = outcomes.get((review.id, line.team), ("", None)) if line else ("", None)
            first = line.first_answer if line else None  # whichever it was: a "can't respond" is an answer too
            rows.append({
                "date": f"{review.opened_at.astimezone(zone):%Y-%m-%d}",
                "activation": review.id,
                "incident": " ".join(review.cad_incidents),
                "drill": "yes" if review.drill else "",
                "opened": local(review.opened_at),
                "kind": KIND_LABEL[review.kind],
                "neighborhood": review.neighborhood or "",
                "community": review.community or "",
                "flags": " ".join(review.flags),
                "team": line.team if line else "",
                "protocol": line.protocol if line else "",
                "step": line.step if line else "",
                "notified": local(line.notified_at) if line else "",
                "ack_deadline": local(line.ack_deadline) if line else "",
                "delivery": (line.delivery or "") if line else "",
                "answered": local(first[0]) if first else "",
                "response": first[1] if first else "",
                "answered_by": answered_by_text(line) if line else "",
                "minutes_to_answer": f"{line.minutes_to_answer:.1f}" if line and line.minutes_to_answer is not None else "",
                "acked_in_time": ACKED_IN_TIME_CELL.get(line.ack_state or "", "") if line else "",
                "escalated": local(line.escalated_at) if line else "",
                "outcome": outcome,
                "outcome_reason": reason or "",
                "notes": str(notes.get(review.id, 0)),
            })
    return rows


# a spreadsheet runs a cell that starts with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(rows: Iterable[Mapping[str, str]], columns: Sequence[str] = CSV_COLUMNS) -> str:
    """Rows as CSV with the export's columns (or ``columns``: the tasks CSV's); a cell a spreadsheet would run as a
    formula is prefixed with '."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v for k, v in row.items()})
    return buffer.getvalue()
