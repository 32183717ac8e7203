"""What the next-day activation review shows, computed from the stored timeline: plain functions.

``review_of(records)`` turns one activation's typed timeline records (stream/model/timeline.py) into an
``ActivationReview``: its header (when, what, where), a line per team (notified, delivered, answered,
escalated), the flags the meeting goes through (coverage gap, retaliation watch, missed ack, delivery
failure) and the timeline as steps with the minutes between them. ``summarise`` aggregates a date
range. The web pages, `vigil review` and the exports only render these; nothing here touches a
database, a clock or the network.
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
from stream.model.timeline import AckRecorded, ActivationDecided, AlertDelivered, EventReceived, IntentCreated, TimelineRecord

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
REVIEW_FLAGS = ("coverage_gap", "retaliation_watch", "missed_ack", "delivery_failure")
FAILED_DELIVERY = ("failed", "partial", "no_recipients")
KIND_ORDER = {"event_received": 0, "decided": 1, "intent": 2, "delivery": 3, "ack": 4}


@dataclass(frozen=True)
class TeamLine:
    """One team in an activation: how it was told and how it answered."""

    team: str
    protocol: str
    step: str  # initial, update or escalation
    notified_at: datetime
    ack_deadline: datetime | None = None
    escalated_from: str | None = None  # for an escalation: the team that did not ack
    delivery: str | None = None  # delivered, partial, failed, no_recipients; None: no outcome yet
    delivered_at: datetime | None = None
    recipients: int = 0
    reached: int = 0
    answered_at: datetime | None = None  # the first ack or "on my way"
    response: str | None = None
    declined_at: datetime | None = None  # "can't respond"
    escalated_at: datetime | None = None  # when dns-oncall was told that this team had not acked

    @property
    def acked_in_time(self) -> bool | None:
        """True/False for a team with a deadline; None for a team without one."""
        if self.ack_deadline is None:
            return None
        return self.answered_at is not None and self.answered_at <= self.ack_deadline

    @property
    def missed(self) -> bool:
        """The team did not ack in time, by the evidence: its escalation fired, it answered "can't respond",
        or it answered after the deadline. (A deadline still running is not a miss.)"""
        if self.ack_deadline is None:
            return False
        late = self.answered_at is not None and self.answered_at > self.ack_deadline
        return self.escalated_at is not None or self.declined_at is not None or late

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
    what: str  # received, decided, sent, delivered, acked, declined, escalated
    team: str | None
    text: str
    minutes_since_previous: float | None
    minutes_since_start: float


@dataclass(frozen=True)
class ActivationReview:
    """Everything the review shows of one activation."""

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

    @property
    def review_flags(self) -> tuple[str, ...]:
        """The flags the meeting goes through, in order."""
        return tuple(f for f in REVIEW_FLAGS if f in self.flags)

    @property
    def seconds_to_notify(self) -> float | None:
        """From the first report received to the first alert delivered."""
        if self.first_delivered_at is None:
            return None
        return (self.first_delivered_at - self.first_received_at).total_seconds()

    def visible_to(self, team: str) -> bool:
        """A provider lead sees the activations their team was alerted about."""
        return any(line.team == team for line in self.teams)


def _hhmm(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%H:%M:%S}"


def review_of(records: Sequence[TimelineRecord], zone: tzinfo) -> ActivationReview:
    """One activation's review from its timeline records (any order; at least its first decision)."""
    # at one moment the report comes before the decision, the decision before its alerts
    ordered = sorted(records, key=lambda r: (r.at, KIND_ORDER.get(r.kind, 9), r.entry_id))
    received = [r for r in ordered if isinstance(r, EventReceived)]
    decided = [r for r in ordered if isinstance(r, ActivationDecided)]
    intents = [r for r in ordered if isinstance(r, IntentCreated)]
    deliveries = {r.intent_id: r for r in ordered if isinstance(r, AlertDelivered)}
    answers = [r for r in ordered if isinstance(r, AckRecorded)]
    if not decided:
        raise ValueError(f"activation {ordered[0].activation_id if ordered else '?'} has no decision record")
    activation_id = decided[0].activation_id

    escalations = {i.escalated_team: i for i in intents if i.step == "escalation" and i.escalated_team}
    lines: list[TeamLine] = []
    for intent in intents:
        delivery = deliveries.get(intent.intent_id)
        first_answer = next((a for a in answers if a.team == intent.team and a.response != "unable"), None)
        declined = next((a for a in answers if a.team == intent.team and a.response == "unable"), None)
        escalation = escalations.get(intent.team) if intent.step != "escalation" else None
        lines.append(TeamLine(
            # an escalation carries the deadline the other team missed; the escalated-to team has none of its own
            team=intent.team, protocol=intent.protocol, step=intent.step, notified_at=intent.at,
            ack_deadline=intent.ack_deadline if intent.step != "escalation" else None,
            escalated_from=intent.escalated_team if intent.step == "escalation" else None,
            delivery=delivery.status if delivery else None, delivered_at=delivery.at if delivery else None,
            recipients=len(delivery.recipients) if delivery else 0,
            reached=sum(r.status == "delivered" for r in delivery.recipients) if delivery else 0,
            answered_at=first_answer.at if first_answer else None, response=first_answer.response if first_answer else None,
            declined_at=declined.at if declined else None, escalated_at=escalation.at if escalation else None,
        ))

    flags = list(dict.fromkeys(f for d in decided for f in d.flags))
    if any(line.missed for line in lines):
        flags.append("missed_ack")
    if any(line.delivery in FAILED_DELIVERY for line in lines):
        flags.append("delivery_failure")

    first_received = received[0].at if received else decided[0].at
    delivered_times = [line.delivered_at for line in lines if line.delivered_at is not None and line.delivery in ("delivered", "partial")]
    kinds = {r.event_kind for r in received}
    location = next((r.location for r in received if r.location is not None), None)
    first = decided[0]
    return ActivationReview(
        id=activation_id,
        opened_at=first.at,
        kind=max(kinds, key=KIND_RANK.__getitem__) if kinds else EventKind.PERSON_SHOT,
        sources=tuple(dict.fromkeys(r.source for r in received)),
        incidents=tuple(dict.fromkeys(r.incident_id for r in received)),
        location=location,
        cell=next((d.cell for d in decided if d.cell), None),
        neighborhood=next((d.neighborhood for d in decided if d.neighborhood), None),
        community=next((d.community for d in decided if d.community), None),
        protocols=tuple(dict.fromkeys(p for d in decided for p in d.protocols)),
        flags=tuple(flags),
        teams=tuple(lines),
        steps=tuple(_steps(ordered, intents, zone)),
        first_received_at=first_received,
        first_delivered_at=min(delivered_times) if delivered_times else None,
        coverage_version=first.coverage_version,
        protocol_version=first.protocol_version,
    )


def _steps(ordered: Sequence[TimelineRecord], intents: Sequence[IntentCreated], zone: tzinfo) -> list[Step]:
    deadlines = {i.team: i.ack_deadline for i in intents if i.ack_deadline is not None}
    escalated = {i.escalated_team for i in intents if i.step == "escalation"}
    raw: list[tuple[datetime, str, str | None, str]] = []
    for r in ordered:
        if isinstance(r, EventReceived):
            raw.append((r.at, "received", None, f"{KIND_LABEL[r.event_kind]} report from {r.source.upper()} ({r.incident_id})"))
        elif isinstance(r, ActivationDecided):
            told = ", ".join(r.teams) or "nobody new"
            extra = f"; flagged {', '.join(r.new_flags)}" if r.new_flags else ""
            rules = ", ".join(r.protocols) or "no rule"
            raw.append((r.at, "decided", None, f"{'opened' if r.step == 'initial' else 'updated'}: {rules} → {told}{extra}"))
        elif isinstance(r, IntentCreated):
            if r.step == "escalation":
                text = f"escalated to {r.team}: {r.escalated_team} did not ack by {_hhmm(r.ack_deadline, zone) if r.ack_deadline else '?'}"
                raw.append((r.at, "escalated", r.team, text))
            else:
                by = f"; ack by {_hhmm(r.ack_deadline, zone)}" if r.ack_deadline else ""
                raw.append((r.at, "sent", r.team, f"alert to {r.team} ({r.step}, {r.protocol}){by}"))
        elif isinstance(r, AlertDelivered):
            reached = sum(x.status == "delivered" for x in r.recipients)
            channels = ", ".join(sorted({x.channel for x in r.recipients})) or "no channel"
            raw.append((r.at, "delivered", r.team, f"{r.team}: {r.status}, {reached} of {len(r.recipients)} phones ({channels})"))
        elif isinstance(r, AckRecorded):
            label = RESPONSE_LABEL.get(r.response, r.response)
            if r.response == "unable":
                raw.append((r.at, "declined", r.team, f"{r.team}: {label}"))
                continue
            timing = "in time" if r.within_deadline else "after the deadline"
            cancelled = " (escalation cancelled)" if r.first and r.within_deadline and r.team in deadlines and r.team not in escalated else ""
            again = "" if r.first else " (again)"
            raw.append((r.at, "acked", r.team, f"{r.team}: {label}{again}, {timing}{cancelled}"))
    start = raw[0][0] if raw else None
    steps: list[Step] = []
    previous: datetime | None = None
    for at, what, team, text in raw:
        steps.append(Step(at, what, team, text, None if previous is None else (at - previous).total_seconds() / 60,
                          (at - start).total_seconds() / 60 if start else 0.0))
        previous = at
    return steps


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The start and end of a local calendar day (23 or 25 hours long on a daylight-saving night)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def reviews_of(records_by_activation: Mapping[str, Sequence[TimelineRecord]], zone: tzinfo) -> list[ActivationReview]:
    """Reviews of several activations, oldest first; activations without a decision are left out."""
    out = [review_of(records, zone) for records in records_by_activation.values()
           if any(isinstance(r, ActivationDecided) for r in records)]
    return sorted(out, key=lambda r: r.opened_at)


@dataclass(frozen=True)
class TeamSummary:
    """One team over a range: alerts, acks, time to ack, share acked within the deadline."""

    team: str
    alerts: int
    with_deadline: int
    acked_in_time: int
    acked: int
    median_minutes_to_ack: float | None

    @property
    def share_in_time(self) -> float | None:
        """The share of alerts with a deadline that were acked in time."""
        return None if not self.with_deadline else self.acked_in_time / self.with_deadline


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


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(reviews: Iterable[ActivationReview], zone: tzinfo, outcomes: Iterable[str] = ()) -> Summary:
    """Aggregate reviews: time to notify, per-team acks, flags, coverage gaps by place and hour, outcomes."""
    reviews = list(reviews)
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
    )


CSV_COLUMNS = ("date", "activation", "opened", "kind", "neighborhood", "community", "flags", "team", "protocol", "step", "notified",
               "delivery", "answered", "response", "acked_in_time", "escalated", "outcome", "outcome_reason")


def csv_rows(reviews: Iterable[ActivationReview], zone: tzinfo,
             outcomes: Mapping[tuple[str, str], tuple[str, str | None]] | None = None) -> list[dict[str, str]]:
    """One row per (activation, team), for the CSV export and `vigil review`; ``outcomes`` maps
    (activation, team) to (outcome, reason)."""
    outcomes = outcomes or {}

    def local(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")

    rows = []
    for review in reviews:
        for line in review.teams or (None,):  # an activation that told nobody still gets its row
            outcome, reason = outcomes.get((review.id, line.team), ("", None)) if line else ("", None)
            rows.append({
                "date": f"{review.opened_at.astimezone(zone):%Y-%m-%d}",
                "activation": review.id,
                "opened": local(review.opened_at),
                "kind": KIND_LABEL[review.kind],
                "neighborhood": review.neighborhood or "",
                "community": review.community or "",
                "flags": " ".join(review.flags),
                "team": line.team if line else "",
                "protocol": line.protocol if line else "",
                "step": line.step if line else "",
                "notified": local(line.notified_at) if line else "",
                "delivery": (line.delivery or "") if line else "",
                "answered": local(line.answered_at) if line else "",
                "response": (line.response or ("unable" if line.declined_at else "")) if line else "",
                "acked_in_time": "" if line is None or line.acked_in_time is None else ("yes" if line.acked_in_time else "no"),
                "escalated": local(line.escalated_at) if line else "",
                "outcome": outcome,
                "outcome_reason": reason or "",
            })
    return rows


# a spreadsheet runs a cell that starts with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(rows: Iterable[Mapping[str, str]]) -> str:
    """Rows as CSV with the export's columns; a cell a spreadsheet would run as a formula is prefixed with '."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v for k, v in row.items()})
    return buffer.getvalue()
