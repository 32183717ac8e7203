"""The public site's figures (issue 19), computed from the stored timeline: plain functions, no I/O.

Each activation is first reduced to its ``ActivationFacts``: the community it happened in (the place the review
pages name, ``ActivationDecided.community``), its local ISO week, month and hour of the week, and numbers (alerts
sent, time to notify, deadlines met, follow-up tasks done in time). Nothing finer than a community or a week
survives this step, and no text: no incident number, ref, note, team or person. The figures are then counted from
those facts, and every count goes through ``suppress`` (reviews.publish.suppression) before anything is rendered;
medians and shares are published only over 5 or more values (``median_or_none``, ``share_or_none``).

Drills are left out, as the review summary leaves them out (``reviews.model.real``). A month is the ISO weeks whose
Thursday falls in it (``week_month``): no figure splits a week. An activation belongs to the period (week, month, hour
of the week) and community of its opening, on the deployment's clock (``zone``); its follow-up tasks belong there too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from reviews.model import ActivationReview, real, reviews_of
from reviews.publish.suppression import CountTable, Published, median_or_none, share_or_none, suppress, suppress_with_series
from reviews.tasks import tasks_of
from stream.model.events import EventKind
from stream.model.timeline import TimelineRecord

NOT_PLACED = "No community"  # an activation without a location: a hospital arrival not joined to a 911 report
ALL_COMMUNITIES = "All communities"
ALL_PERIODS = "total"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = tuple(f"{h:02d}" for h in range(24))
# the kinds whose protocols look for a street team on shift at the place (P1, P2): the shootings of the coverage grid
SHOOTING_KINDS = (EventKind.PERSON_SHOT, EventKind.SHOTS_FIRED, EventKind.SHOTSPOTTER)
# the hour-of-week grid pools the range's weeks; over fewer weeks an hour of it would be nearly one moment
HOUR_OF_WEEK_MIN_WEEKS = 4
NOT_PUBLISHED = "—"  # a median or share over fewer than 5


@dataclass(frozen=True)
class ActivationFacts:
    """What the public figures keep of one activation: no id, no text, no place finer than a community."""

    community: str
    week: str  # ISO week, "2026-W27"
    month: str  # "2026-07": the month of its ISO week's Thursday (week_month)
    weekday: int  # 0 Monday
    hour: int
    shooting: bool  # reported as a shooting (SHOOTING_KINDS), not a hospital arrival alone
    covered: bool  # no coverage_gap flag: a street team was on shift at the place
    coverage_gap: bool
    alerts: int  # team alerts sent (a delivery outcome recorded), escalations included
    seconds_to_notify: float | None
    deadlines: int  # team alerts with an ack deadline that has passed or been answered
    in_time: int  # of those, acknowledged (or "on my way") by the deadline
    tasks_due: int  # follow-up tasks closed, or past their due time
    tasks_in_time: int  # of those, closed by their due time


def iso_week(day: date) -> str:
    """A day's ISO week, "2026-W27"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_month(day: date) -> str:
    """The month a day's ISO week belongs to: the month of its Thursday (as the ISO year is its Thursday's year), so a
    month is made of whole weeks and no week is ever split between two months (a split would show part of a week)."""
    thursday = day + timedelta(days=3 - day.weekday())
    return f"{thursday:%Y-%m}"


def whole_weeks(first: date, last: date) -> tuple[date, date]:
    """The range widened to whole ISO weeks (Monday to Sunday): the site never shows part of a week."""
    return first - timedelta(days=first.weekday()), last + timedelta(days=6 - last.weekday())


def facts_of(review: ActivationReview, records: Sequence[TimelineRecord], zone: tzinfo, now: datetime) -> ActivationFacts:
    """One activation's facts (``records``: its timeline, for its follow-up tasks)."""
    local = review.opened_at.astimezone(zone)
    decided = [line for line in review.teams if line.acked_in_time is not None]
    tasks = tasks_of(records)
    due = [t for t in tasks if t.closed is not None or now >= t.due]
    return ActivationFacts(
        community=review.community or NOT_PLACED, week=iso_week(local.date()), month=week_month(local.date()), weekday=local.weekday(),
        hour=local.hour, shooting=any(kind in SHOOTING_KINDS for kind in _kinds(records)) or review.kind in SHOOTING_KINDS,
        covered="coverage_gap" not in review.flags, coverage_gap="coverage_gap" in review.flags,
        alerts=sum(line.delivery is not None for line in review.teams), seconds_to_notify=review.seconds_to_notify,
        deadlines=len(decided), in_time=sum(bool(line.acked_in_time) for line in decided),
        tasks_due=len(due), tasks_in_time=sum(t.closed is not None and t.closed.at <= t.due for t in due),
    )


def _kinds(records: Iterable[TimelineRecord]) -> set[EventKind]:
    return {r.event_kind for r in records if r.kind == "event_received"}  # type: ignore[union-attr]


def activation_facts(records_by_activation: Mapping[str, Sequence[TimelineRecord]], zone: tzinfo, now: datetime) -> list[ActivationFacts]:
    """Every activation's facts, drills left out, as the records stand at ``now`` (a deadline or due time after it
    is still running: not counted either way)."""
    reviews = real(reviews_of(records_by_activation, zone, now=now))
    return [facts_of(r, records_by_activation[r.id], zone, now) for r in reviews]


# the count measures: (name, what a reader reads, how a fact adds to it)
COUNTS: tuple[tuple[str, str, str], ...] = (
    ("activations_count", "Activations", "Activations opened (drills left out)."),
    ("alerts_sent_count", "Alerts sent", "Team alerts sent for those activations, escalations included."),
    ("coverage_gap_activations_count", "Coverage-gap activations",
     "Activations with no street team on shift at the place (the coverage_gap flag)."),
    ("tasks_due_count", "Follow-up tasks due", "Follow-up tasks closed, or past their due time."),
    ("tasks_completed_in_time_count", "Follow-up tasks completed in time", "Follow-up tasks closed by their due time."),
)


def _count(fact: ActivationFacts, name: str) -> int:
    return {"activations_count": 1, "alerts_sent_count": fact.alerts, "coverage_gap_activations_count": int(fact.coverage_gap),
            "tasks_due_count": fact.tasks_due, "tasks_completed_in_time_count": fact.tasks_in_time}[name]


# the values published only over 5 or more: (name, what a reader reads)
VALUES: tuple[tuple[str, str], ...] = (
    ("median_seconds_to_notify", "Median time to notify (seconds)"),
    ("answered_in_time_percent", "Team alerts answered within their deadline (%)"),
    ("tasks_completed_in_time_percent", "Follow-up tasks completed in time (%)"),
)


def value_of(facts: Sequence[ActivationFacts], name: str) -> str:
    """A median or share over these facts as published: "—" over fewer than 5 (values or denominator)."""
    if name == "median_seconds_to_notify":
        median = median_or_none([f.seconds_to_notify for f in facts if f.seconds_to_notify is not None])
        return NOT_PUBLISHED if median is None else f"{median:.1f}"
    if name == "answered_in_time_percent":
        share = share_or_none(sum(f.in_time for f in facts), sum(f.deadlines for f in facts))
    else:
        share = share_or_none(sum(f.tasks_in_time for f in facts), sum(f.tasks_due for f in facts))
    return NOT_PUBLISHED if share is None else f"{100 * share:.0f}"


@dataclass(frozen=True)
class Figures:
    """Everything the site shows, already published as text: nothing here can still be a small count.

    ``community_counts``: per count measure, its community × month table (suppressed with its totals);
    ``community_values``: per median/share, (community, month) → text, with ALL_COMMUNITIES and ALL_PERIODS;
    ``weekly_counts``: per count measure, week → text with its "total"; ``weekly_values``: per value, week → text
    (and "total"); ``shootings_by_hour``: shootings by day × hour, suppressed; ``covered_share``: (day, hour) → the
    percent with a street team on shift, "—" under 5 shootings; None (both) when the range is under
    HOUR_OF_WEEK_MIN_WEEKS weeks.
    """

    first: date
    last: date
    communities: tuple[str, ...]
    months: tuple[str, ...]
    weeks: tuple[str, ...]
    community_counts: Mapping[str, Published]
    community_values: Mapping[str, Mapping[tuple[str, str], str]]
    weekly_counts: Mapping[str, Mapping[str, str]]
    weekly_values: Mapping[str, Mapping[str, str]]
    shootings_by_hour: Published | None
    covered_share: Mapping[tuple[str, str], str] | None


def periods(first: date, last: date) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The range's ISO weeks and months (of whole weeks, ``week_month``), in order (the range in whole weeks)."""
    weeks: list[str] = []
    months: list[str] = []
    day = first
    while day <= last:
        for found, label in ((weeks, iso_week(day)), (months, week_month(day))):
            if not found or found[-1] != label:
                found.append(label)
        day += timedelta(days=1)
    return tuple(weeks), tuple(months)


def weeks_of_months(first: date, last: date) -> dict[str, list[str]]:
    """Each month of the range (``week_month``) → its ISO weeks, in order: a month is whole weeks, so its citywide
    count is the sum of its weeks' (what ``suppress_with_series`` protects)."""
    out: dict[str, list[str]] = defaultdict(list)
    day = first
    while day <= last:
        if iso_week(day) not in out[week_month(day)]:
            out[week_month(day)].append(iso_week(day))
        day += timedelta(days=1)
    return dict(out)


def figures(facts: Sequence[ActivationFacts], first: date, last: date, communities: Iterable[str]) -> Figures:
    """The published figures of the activations opened from ``first`` to ``last`` (whole ISO weeks, see
    ``whole_weeks``); ``communities``: the deployment's, every one listed (a community with none shows 0)."""
    weeks, months = periods(first, last)
    places = tuple(sorted(set(communities) | {f.community for f in facts if f.community != NOT_PLACED}))
    places += (NOT_PLACED,) if any(f.community == NOT_PLACED for f in facts) else ()
    community_counts, weekly_counts = {}, {}
    for name, _, _ in COUNTS:
        cells: dict[tuple[str, str], int] = defaultdict(int)
        series = dict.fromkeys(weeks, 0)
        for fact in facts:
            cells[fact.community, fact.month] += _count(fact, name)
            series[fact.week] += _count(fact, name)
        # together: a month's citywide total is the sum of its weeks, so the table and the series suppressed apart
        # would hide different parts of the same sums and give small counts away
        community_counts[name], weekly_counts[name] = suppress_with_series(CountTable(name, places, months, dict(cells)),
                                                                           weeks_of_months(first, last), series)
    community_values, weekly_values = {}, {}
    for name, _ in VALUES:
        groups: dict[tuple[str, str], list[ActivationFacts]] = defaultdict(list)
        by_week: dict[str, list[ActivationFacts]] = defaultdict(list)
        for fact in facts:
            for key in ((fact.community, fact.month), (fact.community, ALL_PERIODS), (ALL_COMMUNITIES, fact.month),
                        (ALL_COMMUNITIES, ALL_PERIODS)):
                groups[key].append(fact)
            by_week[fact.week].append(fact)
        community_values[name] = {(p, m): value_of(groups[p, m], name) for p in (*places, ALL_COMMUNITIES) for m in (*months, ALL_PERIODS)}
        weekly_values[name] = {w: value_of(by_week[w], name) for w in weeks} | {ALL_PERIODS: value_of(facts, name)}
    by_hour, share = hour_of_week(facts, len(weeks))
    return Figures(first, last, places, months, weeks, community_counts, community_values, weekly_counts, weekly_values, by_hour, share)


def hour_of_week(facts: Sequence[ActivationFacts], weeks: int) -> tuple[Published | None, dict[tuple[str, str], str] | None]:
    """Shootings by local day and hour of the week, pooled over the range (suppressed), and the percent of them with
    a street team on shift at the place (no coverage_gap flag), "—" for an hour with fewer than 5; (None, None) when
    the range has fewer than HOUR_OF_WEEK_MIN_WEEKS weeks (one hour of one week would be nearly a moment)."""
    if weeks < HOUR_OF_WEEK_MIN_WEEKS:
        return None, None
    shootings: dict[tuple[str, str], int] = defaultdict(int)
    covered: dict[tuple[str, str], int] = defaultdict(int)
    for fact in facts:
        if fact.shooting:
            key = (DAYS[fact.weekday], HOURS[fact.hour])
            shootings[key] += 1
            covered[key] += fact.covered
    published = suppress(CountTable("shootings_count", DAYS, HOURS, dict(shootings)))
    shares = {}
    for day in DAYS:
        for hour in HOURS:
            share = share_or_none(covered[day, hour], shootings[day, hour])
            # only over a count that is shown: a share of a hidden count (x, <5) would narrow it down
            shown = published.cells[day, hour].isdigit()
            shares[day, hour] = NOT_PUBLISHED if share is None or not shown else f"{100 * share:.0f}"
    return published, shares
