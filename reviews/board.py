"""What the live board shows (`vigil web` ``/board``): the open activations of the last 24 hours, computed from
the stored timeline records, as plain functions (no database, clock or network: the web router brings those).

``board_row(records, now)`` turns one activation's records into a ``BoardRow``: what, where, when, its flags
(coverage gap, retaliation watch, severe, stood down, drill) and a ``BoardTeam`` per team told, built on the
review's team lines (``reviews.model.review_of``) with what the board adds: who was paged, every answer with
who gave it (and the DNS user who gave it on the team's behalf), re-pages, and whether the deadline passed
unanswered (``overdue``). ``board_rows`` keeps the open ones, newest first.

An activation is on the board while it is open: opened within ``WINDOW`` of ``now`` and not closed from the
board (a ``BoardActed`` close). Answered activations stay (an answer is not the end of the night's work: the
team is on its way), shown dimmed (``BoardRow.settled``), in the same newest-first order, so rows never jump
about while DNS reads them. A provider lead sees the activations their team was told about, and in them only
their own team's lines (``for_lead``): the board names the people on call, and other teams' rosters are theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from reviews.model import KIND_LABEL, RESPONSE_LABEL, ActivationReview, TeamLine, review_of
from stream.model.timeline import AckRecorded, ActivationDecided, BoardActed, IntentCreated, StoodDown, TimelineRecord

WINDOW = timedelta(hours=24)
# the protocol for the most severe shootings (rules/minneapolis/protocols.yaml: fatal, or three or more victims)
SEVERE_PROTOCOLS = ("P6",)
BOARD_FLAGS = ("drill", "severe", "coverage_gap", "retaliation_watch", "stood_down")
BOARD_FLAG_LABELS = {"drill": "DRILL", "severe": "severe", "coverage_gap": "coverage gap", "retaliation_watch": "retaliation watch",
                     "stood_down": "stood down"}


@dataclass(frozen=True)
class BoardAnswer:
    """One answer of a team: what, when, who (a roster person's name or id; None from a shared phone) and, when
    DNS answered from the board on the team's behalf, the DNS user (``by``)."""

    response: str  # ack, on_my_way, unable
    at: datetime
    who: str | None = None
    by: str | None = None

    @property
    def label(self) -> str:
        """"acknowledged", "on my way" or "can't respond"."""
        return RESPONSE_LABEL.get(self.response, self.response)


@dataclass(frozen=True)
class BoardTeam:
    """A team told about an activation, as the board shows it at ``line.as_of``."""

    line: TeamLine
    paged: tuple[str, ...] = ()  # the people paged one by one, in page order (names when known); () for shared phones
    on_call: tuple[str, ...] = ()  # "ana-r (primary)": who was on call when the alert went
    answers: tuple[BoardAnswer, ...] = ()
    repaged: tuple[tuple[datetime, str], ...] = ()  # (when, by whom) DNS paged the team again from the board
    in_place_of: str | None = None  # this alert went here because that team was stood down

    @property
    def team(self) -> str:
        """The team's name."""
        return self.line.team

    @property
    def deadline(self) -> datetime | None:
        """When the team must answer by; None for a team with no deadline (or told as an escalation)."""
        return self.line.ack_deadline

    @property
    def answered(self) -> bool:
        """The team gave any answer ("can't respond" included: DNS knows where it stands)."""
        return bool(self.answers)

    @property
    def overdue(self) -> bool:
        """The deadline passed and the team has not answered at all."""
        return self.deadline is not None and not self.answers and self.line.as_of > self.deadline

    @property
    def escalated(self) -> bool:
        """Its escalation fired (DNS on-call, or the chain's next team, was told)."""
        return self.line.escalated_at is not None

    @property
    def waiting(self) -> bool:
        """The team has a deadline still running and no answer."""
        return self.deadline is not None and not self.answers and not self.overdue


@dataclass(frozen=True)
class BoardRow:
    """One open activation on the board."""

    review: ActivationReview
    flags: tuple[str, ...]
    teams: tuple[BoardTeam, ...]
    stood_down: tuple[StoodDown, ...] = ()
    closed: BoardActed | None = None
    other_teams: int = 0  # teams told that this viewer does not see (a lead sees their own team's lines only)

    @property
    def id(self) -> str:
        """The activation's id."""
        return self.review.id

    @property
    def opened_at(self) -> datetime:
        """When the activation opened (its first decision)."""
        return self.review.opened_at

    @property
    def what(self) -> str:
        """The kind of report, as people say it ("person shot")."""
        return KIND_LABEL[self.review.kind]

    @property
    def overdue(self) -> bool:
        """A team's deadline passed without an answer."""
        return any(team.overdue for team in self.teams)

    @property
    def settled(self) -> bool:
        """Every team with a deadline answered, and there was one: nothing for DNS to chase (shown dimmed). A row
        where no team owes an answer (a coverage gap: DNS itself was told) is not settled: DNS has it to do."""
        owing = [team for team in self.teams if team.deadline is not None]
        return bool(owing) and all(team.answered for team in owing)

    @property
    def drill(self) -> bool:
        """A drill: labelled DRILL wherever it shows."""
        return "drill" in self.flags


def _name(person: str | None, names: Mapping[str, str]) -> str | None:
    return None if person is None else names.get(person, person)


def _team(line: TeamLine, records: Sequence[TimelineRecord], names: Mapping[str, str]) -> BoardTeam:
    """The board's view of one team line: its people paged, answers, re-pages and stand-in."""
    intents = [r for r in records if isinstance(r, IntentCreated) and r.purpose == "alert" and r.team == line.team
               and r.step == line.step]
    own = next((i for i in intents if i.person is None and i.at == line.notified_at), intents[0] if intents else None)
    paged = tuple(dict.fromkeys(_name(i.person, names) or "" for i in intents if i.person is not None))
    held = [entry.split(":", 1) for entry in own.on_call] if own is not None else []
    on_call = tuple(f"{_name(person, names)} ({layer})" for layer, person in held if person)
    answers = tuple(BoardAnswer(a.response, a.at, a.name or a.person, a.by) for a in records
                    if isinstance(a, AckRecorded) and a.team == line.team)
    repaged = tuple((r.at, r.by) for r in records if isinstance(r, BoardActed) and r.action == "repage" and r.team == line.team)
    return BoardTeam(line, paged, on_call, answers, repaged, own.stood_down_team if own is not None else None)


def board_row(records: Sequence[TimelineRecord], zone: tzinfo, *, now: datetime) -> BoardRow:
    """One activation's board row as it stands at ``now`` (records in any order; at least its first decision)."""
    review = review_of(records, zone, now=now)
    ordered = sorted(records, key=lambda r: (r.at, r.entry_id))
    names = {a.person: a.name for a in ordered if isinstance(a, AckRecorded) and a.person and a.name}
    decided = [r for r in ordered if isinstance(r, ActivationDecided)]
    stood_down = tuple(r for r in ordered if isinstance(r, StoodDown))
    found = set(review.flags)
    if any(d.drill for d in decided) or any(isinstance(r, IntentCreated) and r.drill for r in ordered):
        found.add("drill")
    if any(p in SEVERE_PROTOCOLS for p in review.protocols):
        found.add("severe")
    if stood_down or any(isinstance(r, IntentCreated) and r.stood_down_team for r in ordered):
        found.add("stood_down")
    closed = next((r for r in ordered if isinstance(r, BoardActed) and r.action == "close"), None)
    return BoardRow(review, tuple(f for f in BOARD_FLAGS if f in found), tuple(_team(line, ordered, names) for line in review.teams),
                    stood_down, closed)


def is_open(row: BoardRow, now: datetime, window: timedelta = WINDOW) -> bool:
    """On the board: opened within ``window`` before ``now`` (a moment ahead of it counts too) and not closed."""
    return row.closed is None and row.opened_at > now - window


def for_lead(row: BoardRow, team: str) -> BoardRow | None:
    """The row as ``team``'s lead sees it: None when the team was not told, else only its own team's lines."""
    mine = tuple(t for t in row.teams if t.team == team)
    if not mine:
        return None
    others = len({t.team for t in row.teams} - {team})
    return replace(row, teams=mine, other_teams=others)


def board_rows(records_by_activation: Mapping[str, Sequence[TimelineRecord]], zone: tzinfo, *, now: datetime,
               window: timedelta = WINDOW) -> list[BoardRow]:
    """The open activations among these, newest first (activations without a decision are left out)."""
    rows = [board_row(records, zone, now=now) for records in records_by_activation.values()
            if any(isinstance(r, ActivationDecided) for r in records)]
    return sorted((r for r in rows if is_open(r, now, window)), key=lambda r: (r.opened_at, r.id), reverse=True)
