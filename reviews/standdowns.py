"""Standdowns as DNS adds and reads them (the web page ``/standdowns`` and `vigil standdown`): what a request
says checked against the deployment, the windows in local time, and the listing (in force, upcoming, ended).

A standdown takes a team off alerts, or mutes an area, for a window (stream/core/standdowns.py). It is checked
here before it is stored: the team must exist (a did-you-mean otherwise), an area must be a neighborhood of the
coverage map, and the on-call team cannot be stood down, since every redirected alert falls back to it. Times
typed by a person are wall-clock times in the deployment's zone ("2026-12-02 16:00"); a weekly window is
written "every mon,wed 16:00-18:00".

The review store is the source of truth (what the pages list, audited); the compacted ``standdowns`` topic
is how the workers agree. A change is stored first, then sent (``standdown_record``); one not yet sent is
listed as such and sent again by the page's re-send button or `vigil standdown publish`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from geofences.coverage import Audience, CoverageMap
from geofences.problems import did_you_mean
from reviews.store import StoredStanddown
from reviews.users import User
from stream.core.standdowns import REASON_MAX_CHARS, WEEKDAYS, Standdown, Weekly, standdown_id, window_at, windows

ENDED_DAYS_SHOWN = 14  # how far back the listing shows ended standdowns
_DAY_NAMES = {name: day for day in WEEKDAYS for name in (day, {"mon": "monday", "tue": "tuesday", "wed": "wednesday",
                                                                "thu": "thursday", "fri": "friday", "sat": "saturday",
                                                                "sun": "sunday"}[day])}
_GROUPS = {"daily": WEEKDAYS, "weekdays": WEEKDAYS[:5], "weekends": WEEKDAYS[5:]}
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_EVERY = re.compile(r"^(?:every\s+)?(?P<days>.+?)\s+(?P<start>\d{1,2}:\d{2})\s*[-–]\s*(?P<end>\d{1,2}:\d{2})$", re.IGNORECASE)
WEEKLY_EXAMPLE = "every mon,wed 16:00-18:00"
LOCAL_EXAMPLE = "2026-12-02 16:00"


class StanddownError(ValueError):
    """A standdown request that cannot be taken, with what a person reads about why."""


@dataclass(frozen=True)
class StanddownRules:
    """What a standdown is checked against: the deployment's teams (id to name), the neighborhoods of its
    coverage map, the on-call teams (the fallback of every redirect: never stood down), and its zone."""

    teams: Mapping[str, str]
    neighborhoods: frozenset[str]
    oncall: frozenset[str]
    zone: tzinfo

    @classmethod
    def of(cls, coverage: CoverageMap) -> StanddownRules:
        """The rules of a deployment's coverage map."""
        names = {info.neighborhood for info in coverage.cells.values() if info.neighborhood}
        names |= {facts.neighborhood for edge in coverage.edge_cells.values() for _, facts in edge.candidates if facts.neighborhood}
        return cls(teams={t.id: t.name or t.id for t in coverage.teams.values()}, neighborhoods=frozenset(names),
                   oncall=frozenset(t.id for t in coverage.teams.values() if t.audience is Audience.ONCALL), zone=coverage.zone)


def _named(word: str, choices: Iterable[str], what: str) -> str:
    """``word`` as one of ``choices`` (a different case is forgiven), else a ``StanddownError`` with a did-you-mean."""
    options = sorted(choices)
    if word in options:
        return word
    by_case = {c.lower(): c for c in options}
    if word.lower() in by_case:
        return by_case[word.lower()]
    raise StanddownError(f"there is no {what} {word!r}{did_you_mean(word, options)}")


def check_subject(rules: StanddownRules, team: str | None, area: str | None) -> tuple[str | None, str | None]:
    """The team or the area (exactly one) as the deployment names it; ``StanddownError`` says what is wrong."""
    team, area = (team or "").strip() or None, (area or "").strip() or None
    if (team is None) == (area is None):
        raise StanddownError("name a team or an area (a neighborhood), one of the two")
    if area is not None:
        return None, _named(area, rules.neighborhoods, "neighborhood")
    assert team is not None
    found = _named(team, rules.teams, "team")
    if found in rules.oncall:
        raise StanddownError(f"{found} is the on-call team: every alert of a stood-down team goes to it, so it cannot be "
                             "stood down (change who is on call in its roster instead)")
    return found, None


def _clock(text: str) -> str:
    found = _CLOCK.fullmatch(text)
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:
        raise StanddownError(f"{text!r} is not a time of day (HH:MM, 00:00 to 23:59)")
    return f"{int(found[1]):02d}:{found[2]}"


def parse_weekly(text: str) -> Weekly:
    """A weekly window from "every mon,wed 16:00-18:00" ("every" optional; days by name, ranges like
    mon-fri, or daily, weekdays, weekends; an end before the start runs past midnight)."""
    found = _EVERY.match(text.strip())
    if found is None:
        raise StanddownError(f"{text!r} is not a weekly window: write it like {WEEKLY_EXAMPLE!r}")
    days: set[str] = set()
    for word in re.split(r"[,\s]+", found["days"].strip().lower()):
        if word in _GROUPS:
            days.update(_GROUPS[word])
        elif "-" in word:
            first, last = (_day(part) for part in word.split("-", 1))
            i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
            days.update(WEEKDAYS[i:j + 1] if i <= j else WEEKDAYS[i:] + WEEKDAYS[:j + 1])
        elif word:
            days.add(_day(word))
    start, end = _clock(found["start"]), _clock(found["end"])
    if start == end:
        raise StanddownError("a weekly window's start and end must differ")
    return Weekly(days=tuple(d for d in WEEKDAYS if d in days), start=start, end=end)


def _day(word: str) -> str:
    if word not in _DAY_NAMES:
        raise StanddownError(f"{word!r} is not a day of the week{did_you_mean(word, sorted(_DAY_NAMES))}")
    return _DAY_NAMES[word]


def parse_local(text: str, zone: tzinfo, what: str = "time") -> datetime:
    """A moment a person typed: a local date and time in the deployment's zone ("2026-12-02 16:00", or the
    browser's "2026-12-02T16:00"), or ISO 8601 with an offset. A local time a clock change skips is refused;
    one it repeats is the first of the two. The moment comes back in UTC: a local time in a repeated hour
    compares unequal to every other zone's (PEP 495), UTC never does."""
    try:
        typed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StanddownError(f"the {what} {text!r} is not a date and time: write it like {LOCAL_EXAMPLE!r}") from None
    if typed.tzinfo is not None:
        return typed.astimezone(UTC)
    moment = typed.replace(tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != typed:
        raise StanddownError(f"the {what} {text} does not exist in {zone}: the clocks skip it")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class StanddownRequest:
    """What a person asked for, as typed (the web form's fields, or the command's options)."""

    team: str | None = None
    area: str | None = None
    starts: str | None = None  # local; empty: now
    ends: str | None = None
    every: str | None = None
    reason: str = ""


def new_standdown(rules: StanddownRules, request: StanddownRequest, by: str, now: datetime,
                  requested_at: datetime | None = None) -> Standdown:
    """The standdown a request asks for, checked against the deployment; ``StanddownError`` says what is wrong.
    ``requested_at`` (``now`` when None) makes its id: the same form sent twice makes the same standdown."""
    team, area = check_subject(rules, request.team, request.area)
    reason = " ".join(request.reason.split())
    if not reason:
        raise StanddownError("say why: a reason is required (a funeral, a training, a drill)")
    if len(reason) > REASON_MAX_CHARS:
        raise StanddownError(f"the reason is at most {REASON_MAX_CHARS} characters, this one has {len(reason)}")
    starts = parse_local(request.starts, rules.zone, "start") if (request.starts or "").strip() else now
    ends = parse_local(request.ends, rules.zone, "end") if (request.ends or "").strip() else None
    weekly = parse_weekly(request.every) if (request.every or "").strip() else None
    if weekly is None and ends is None:
        raise StanddownError("a one-off standdown needs an end (or give a weekly window)")
    if ends is not None and ends <= starts:
        raise StanddownError("the end must come after the start")
    if ends is not None and ends <= now:
        raise StanddownError("the end has passed already")
    subject = team if team is not None else f"area {area}"
    return Standdown(id=standdown_id(subject, starts, requested_at or now, by), team=team, area=area, reason=reason, by=by,
                     created_at=now, starts=starts, ends=ends, weekly=weekly)


def next_window(standdown: Standdown, after: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """The first window of ``standdown`` starting after ``after`` (a weekly one: within the coming 8 days), or None."""
    if standdown.weekly is None:
        found = windows(standdown, after, zone)
        return found[0] if found and found[0][0] > after else None
    local = after.astimezone(zone)
    for offset in range(9):
        noon = datetime.combine(local.date() + timedelta(days=offset), time(12), tzinfo=zone)
        ahead = sorted(w for w in windows(standdown, noon, zone) if w[0] > after)
        if ahead:
            return ahead[0]
    return None


@dataclass(frozen=True)
class ListedStanddown:
    """A standdown on the page: its window now or next (None for an ended one), and whether it was sent."""

    stored: StoredStanddown
    window: tuple[datetime, datetime] | None

    @property
    def standdown(self) -> Standdown:
        """The standdown itself."""
        return self.stored.standdown


@dataclass(frozen=True)
class Listing:
    """The standdowns in force now (ending soonest first), upcoming (starting soonest first) and ended (the
    latest first)."""

    in_force: tuple[ListedStanddown, ...]
    upcoming: tuple[ListedStanddown, ...]
    ended: tuple[ListedStanddown, ...]

    @property
    def unsent(self) -> tuple[StoredStanddown, ...]:
        """The stored changes the workers were not yet sent."""
        return tuple(item.stored for item in (*self.in_force, *self.upcoming, *self.ended) if not item.stored.sent)


def listing(stored: Iterable[StoredStanddown], now: datetime, zone: tzinfo) -> Listing:
    """Each standdown in force at ``now``, still to come, or over."""
    in_force, upcoming, ended = [], [], []
    for item in stored:
        standdown = item.standdown
        current = window_at(standdown, now, zone)
        if current is not None:
            in_force.append(ListedStanddown(item, current))
            continue
        later = next_window(standdown, now, zone) if standdown.last_moment is None or standdown.last_moment > now else None
        if later is not None:
            upcoming.append(ListedStanddown(item, later))
        elif standdown.last_moment is None or standdown.last_moment > now:
            upcoming.append(ListedStanddown(item, None))  # a weekly one with no window in the coming week
        else:
            ended.append(ListedStanddown(item, None))
    far = datetime.max.replace(tzinfo=UTC)
    return Listing(
        in_force=tuple(sorted(in_force, key=lambda i: i.window[1] if i.window else far)),
        upcoming=tuple(sorted(upcoming, key=lambda i: i.window[0] if i.window else far)),
        ended=tuple(sorted(ended, key=lambda i: i.standdown.last_moment or far, reverse=True)),
    )


def may_manage(user: User) -> bool:
    """Whether a review user may add and end standdowns: DNS staff only."""
    return user.role == "dns"


def may_see(user: User, standdown: Standdown) -> bool:
    """DNS staff see every standdown; a lead their own team's and the areas' (they change what their team is sent)."""
    return user.role == "dns" or standdown.area is not None or standdown.team == user.team


def describe_window(window: tuple[datetime, datetime], zone: tzinfo) -> str:
    """A window in local time: "Wed 2 Dec 16:00 – 18:00 CST", the end's day written when it is another day."""
    start, end = (moment.astimezone(zone) for moment in window)
    tail = f"{end:%H:%M %Z}" if end.date() == start.date() else f"{end:%a} {end.day} {end:%b %H:%M %Z}"
    return f"{start:%a} {start.day} {start:%b %H:%M} – {tail}"


def describe_moment(moment: datetime, zone: tzinfo) -> str:
    """A moment in local time: "Wed 2 Dec 2026 16:00 CST"."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"


def describe(standdown: Standdown, zone: tzinfo) -> str:
    """The standdown's whole span: a one-off's window, or a weekly one's days and times with its first and last day."""
    if standdown.weekly is None:
        assert standdown.ends is not None
        return describe_window((standdown.starts, standdown.ends), zone)
    span = f"from {describe_moment(standdown.starts, zone)}"
    if standdown.ends is not None:
        span += f" until {describe_moment(standdown.ends, zone)}"
    return f"{standdown.weekly.describe()} ({span})"


def standdown_record(standdown: Standdown) -> tuple[bytes, bytes]:
    """The standdown's record on the ``standdowns`` topic: keyed by its id, its JSON the value (the newest per
    key is its state)."""
    return standdown.id.encode(), standdown.model_dump_json().encode()
