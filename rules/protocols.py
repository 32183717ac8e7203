"""Notification protocols as code: the file's schema, loading with file and line in every error, the
sandboxed message templates, and the evaluation of an activation's facts against the protocols.

Templates per language: ``templates`` holds each audience's message in English, the default, with its
precision; ``translations`` gives, per language (an ISO 639 code, e.g. ``es``, ``so``, ``hmn``), the title and
body of any audiences that language has, keyed by audience like ``templates``. A person's alert is rendered in
their first language the file has (``languages``); an audience a language lacks falls back to English. The
precision is the audience's, whatever the language: a translation gives only words. Translations are checked at
load exactly like the English templates (compile, render every sample step), with unknown audiences named with
a did-you-mean.

Evaluation is a pure function of the facts (what the activation's reports say, where it is and who was on
shift when it was created, the shootings before it) and returns whom to notify, with which deadline and
escalation chain, and which flags to raise. Which of those are new is the activation core's business.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, model_validator

from geofences.coverage import CoverageMap, Placement, distance_m
from geofences.problems import ERROR, ConfigError, Problem, load_model
from geofences.shifts import ClockTime, Day, minute_of_day
from rules.followups import Followups
from stream.model.events import EventKind, Intent
from stream.model.zones import ZoneName

AudienceName = Literal["street", "gvi", "hospital", "school", "oncall"]
Precision = Literal["block", "neighborhood", "none"]
Selector = Literal["street_on_shift", "street_on_shift_and_earlier", "hospital_team", "school_team"]
Flag = Literal["coverage_gap", "retaliation_watch"]
STEPS = ("initial", "update", "escalation")
AUDIENCES: tuple[str, ...] = ("street", "gvi", "hospital", "school", "oncall")
ENGLISH = "en"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Repeat(_Frozen):
    """An earlier activation of ``kind`` within a distance and a time (retaliation watch)."""

    kind: EventKind = EventKind.PERSON_SHOT
    within_m: float = Field(gt=0)
    within_hours: float = Field(gt=0)


class When(_Frozen):
    """Match conditions; all given ones must hold (``any_of``: at least one of its alternatives)."""

    kinds: tuple[EventKind, ...] = ()
    intents: tuple[Intent, ...] = ()
    fatal: bool | None = None
    victims_at_least: int | None = Field(default=None, ge=1)
    victim_age_under: int | None = Field(default=None, ge=1, le=130)
    has_location: bool | None = None
    school_within_m: float | None = Field(default=None, gt=0)
    days: tuple[Day, ...] = ()
    between: tuple[ClockTime, ClockTime] | None = None
    repeat: Repeat | None = None
    any_of: tuple[When, ...] = ()


class EscalationStep(_Frozen):
    """Notify ``team`` when the deadline has passed by ``after_minutes`` without an ack."""

    team: str
    after_minutes: int = Field(default=0, ge=0)


class Otherwise(_Frozen):
    """What to do when an audience finds nobody: notify these teams at once, raise this flag."""

    teams: tuple[str, ...] = ()
    flag: Flag | None = None


class Notify(_Frozen):
    """One audience of a protocol: a selector or a named team, its ack deadline and escalation chain."""

    audience: Selector | None = None
    team: str | None = None
    ack_within_minutes: int | None = Field(default=None, gt=0)
    escalate: tuple[EscalationStep, ...] = ()
    otherwise: Otherwise | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Notify:
        if (self.audience is None) == (self.team is None):
            raise ValueError("a notify entry names either an `audience` or a `team`")
        if self.escalate and self.ack_within_minutes is None:
            raise ValueError("`escalate` needs `ack_within_minutes`: escalation follows a missed deadline")
        return self


class Protocol(_Frozen):
    """One notification protocol."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: str
    when: When
    notify: tuple[Notify, ...] = ()
    flags: tuple[Flag, ...] = ()
    # the audiences whose teams, told under this protocol, hear who has answered (stream/core/answers.py)
    share_answers_with: tuple[AudienceName, ...] = ("street", "gvi", "hospital", "school", "oncall")


class Template(_Frozen):
    """The message an audience gets, and how precisely it may see the place."""

    precision: Precision
    title: str
    body: str


class Wording(_Frozen):
    """An audience's title and body in another language (the precision stays the English template's)."""

    title: str
    body: str


class Correlation(_Frozen):
    """How separate reports become one activation (beyond one CAD incident id)."""

    hospital_join_kind: EventKind = EventKind.PERSON_SHOT
    hospital_join_minutes: int = Field(default=90, gt=0)
    shotspotter_join_m: float = Field(default=250, ge=0)
    shotspotter_join_minutes: int = Field(default=10, ge=0)


class ProtocolFile(_Frozen):
    """A jurisdiction's protocol file."""

    jurisdiction: str
    timezone: ZoneName
    correlation: Correlation = Correlation()
    # answers within this many seconds of the first one go out as one update (a burst is one message)
    answers_coalesce_seconds: int = Field(default=30, ge=0, le=600)
    templates: dict[AudienceName, Template]
    protocols: tuple[Protocol, ...] = Field(min_length=1)
    # language -> audience -> title and body; audiences are checked at load, with a did-you-mean
    translations: dict[str, dict[str, Wording]] = {}
    # follow-up tasks in the days after (rules/followups.py): which team gets which task, due when
    followups: Followups = Followups()


class ProtocolError(ConfigError):
    """A protocol file with errors: every problem with its file and line."""


_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _render(template: JinjaTemplate, context: dict[str, object]) -> str:
    # a shared context skips copying the environment's globals on every render: half the cost
    return "".join(template.root_render_func(template.new_context(context, shared=True)))


@functools.lru_cache(maxsize=256)
def compiled(source: str) -> JinjaTemplate:
    """A template compiled once (Jinja's from_string compiles every time it is called)."""
    return _ENV.from_string(source)


@dataclass(frozen=True)
class ProtocolSet:
    """Loaded protocols, compiled templates, and the content hash every activation records."""

    spec: ProtocolFile
    version: str
    path: Path

    @property
    def zone(self) -> ZoneInfo:
        """The jurisdiction's local time zone."""
        return ZoneInfo(self.spec.timezone)

    @functools.cached_property
    def by_id(self) -> dict[str, Protocol]:
        """Protocol id → protocol."""
        return {p.id: p for p in self.spec.protocols}

    @functools.cached_property
    def names(self) -> dict[str, str]:
        """Protocol id → name."""
        return {p.id: p.name for p in self.spec.protocols}

    @functools.cached_property
    def _repeats(self) -> list[Repeat]:
        return [p.when.repeat for p in self.spec.protocols if p.when.repeat] + [
            a.repeat for p in self.spec.protocols for a in p.when.any_of if a.repeat]

    @functools.cached_property
    def repeat_reach(self) -> tuple[frozenset[EventKind], float]:
        """The kinds that repeat conditions look for, and their longest distance (metres)."""
        return frozenset(r.kind for r in self._repeats), max((r.within_m for r in self._repeats), default=0.0)

    @functools.cached_property
    def repeat_subjects(self) -> frozenset[EventKind] | None:
        """The kinds an activation must have for a repeat condition to matter (None: any kind)."""
        kinds: set[EventKind] = set()
        for protocol in self.spec.protocols:
            if protocol.when.repeat or any(a.repeat for a in protocol.when.any_of):
                if not protocol.when.kinds:
                    return None
                kinds |= set(protocol.when.kinds)
        return frozenset(kinds)

    @functools.cached_property
    def repeat_horizon(self) -> timedelta:
        """How far back any repeat condition looks."""
        return timedelta(hours=max((r.within_hours for r in self._repeats), default=0))

    @functools.cached_property
    def look_back(self) -> timedelta:
        """How far back any rule or correlation window looks at earlier activations."""
        correlation = self.spec.correlation
        joins = timedelta(minutes=max(correlation.hospital_join_minutes, correlation.shotspotter_join_minutes))
        return max(self.repeat_horizon, joins)

    @functools.cached_property
    def languages(self) -> tuple[str, ...]:
        """The languages the file has templates in: English first, then each translated one in file order."""
        return (ENGLISH, *(code for code, wordings in self.spec.translations.items() if wordings))

    def has_template(self, audience: str, language: str) -> bool:
        """Whether ``audience`` has its own text in ``language`` (English always has; others may fall back)."""
        return language == ENGLISH or audience in self.spec.translations.get(language, {})

    def render(self, audience: str, context: dict[str, object], language: str = ENGLISH) -> tuple[str, str]:
        """Title and body for an audience, in ``language`` when the file has it for that audience, else English."""
        template: Template | Wording = self.spec.translations.get(language, {}).get(audience) or self.spec.templates[audience]  # type: ignore[index]
        title = _render(compiled(template.title), context).strip()
        body = "\n".join(line.rstrip() for line in _render(compiled(template.body), context).strip().splitlines() if line.strip())
        return title, body


def _team_references(spec: ProtocolFile) -> list[tuple[tuple[str | int, ...], str]]:
    refs = []
    for p, protocol in enumerate(spec.protocols):
        for n, notify in enumerate(protocol.notify):
            base: tuple[str | int, ...] = ("protocols", p, "notify", n)
            if notify.team:
                refs.append(((*base, "team"), notify.team))
            for s, step in enumerate(notify.escalate):
                refs.append(((*base, "escalate", s, "team"), step.team))
            for t, team in enumerate(notify.otherwise.teams if notify.otherwise else ()):
                refs.append(((*base, "otherwise", "teams", t), team))
    for r, rule in enumerate(spec.followups.tasks):
        refs += [(("followups", "tasks", r, "teams", t), team) for t, team in enumerate(rule.teams)]
    return refs


def followup_problems(path: Path, locator, spec: ProtocolFile) -> list[Problem]:
    """Follow-up rules naming a protocol the file does not have (with a did-you-mean), or an id used twice."""
    from geofences.problems import did_you_mean

    problems: list[Problem] = []
    known = {p.id for p in spec.protocols}
    seen: set[str] = set()
    for r, rule in enumerate(spec.followups.tasks):
        if rule.id in seen or rule.id in known:
            problems.append(Problem(path, locator.line(("followups", "tasks", r, "id")), ERROR, f"follow-up id {rule.id} is used twice"))
        seen.add(rule.id)
        for n, protocol in enumerate(rule.notified_under):
            if protocol not in known:
                problems.append(Problem(path, locator.line(("followups", "tasks", r, "notified_under", n)), ERROR,
                                        f"follow-up {rule.id}: unknown protocol {protocol!r}{did_you_mean(protocol, known)}"))
    return problems


def check_protocol_file(path: Path, teams: set[str] | None = None) -> tuple[ProtocolSet | None, list[Problem]]:
    """Load a protocol file; every error with its line: schema, repeated ids, unknown team ids (when
    ``teams`` is given, with a did-you-mean), templates that fail on a sample event, rules that can
    never notify anyone. The worker and `vigil rules lint` both go through here."""
    from geofences.problems import did_you_mean

    spec, locator, problems = load_model(path, ProtocolFile)
    if spec is None or locator is None:
        return None, problems
    seen: dict[str, int] = {}
    for p, protocol in enumerate(spec.protocols):
        line = locator.line(("protocols", p, "id"))
        if protocol.id in seen:
            problems.append(Problem(path, line, ERROR, f"protocol id {protocol.id} is used twice (first at line {seen[protocol.id]})"))
        seen.setdefault(protocol.id, line)
    if teams is not None:
        for where, team in _team_references(spec):
            if team not in teams:
                problems.append(Problem(path, locator.line(where), ERROR, f"unknown team {team!r}{did_you_mean(team, teams)}"))
    for audience in AUDIENCES:
        if audience not in spec.templates:
            problems.append(Problem(path, locator.line(("templates",)), ERROR, f"templates: no template for audience {audience!r}"))
    problems += translation_problems(path, locator, spec)
    problems += template_problems(path, locator, spec)
    problems += never_matching_problems(path, locator, spec)
    problems += followup_problems(path, locator, spec)
    if problems:
        return None, problems
    return ProtocolSet(spec=spec, version="proto-" + hashlib.sha256(path.read_bytes()).hexdigest()[:16], path=path), []


SAMPLE_CONTEXT = {
    "what": "Person shot", "where": "2400 block of James Ave N, Jordan", "place": "Jordan", "reported": "Sat 22:15", "ack_by": "22:25",
    "ref": "act-0123456789abcdef0123", "step": "initial", "rule": "P2", "rule_name": "person shot", "flags": ["coverage_gap"],
    "hospital": "Hennepin Healthcare (HCMC)", "intent": "assault", "age_band": "18-24", "team": "vi-north-nearnorth",
    "escalated_team": "",
    "declined": False,
}


def is_language_code(code: str) -> bool:
    """Whether ``code`` looks like an ISO 639 code as rosters write them: 2 or 3 lowercase ASCII letters."""
    return code.isascii() and code.isalpha() and code.islower() and 2 <= len(code) <= 3


def translation_problems(path: Path, locator, spec: ProtocolFile) -> list[Problem]:
    """Languages that are not ISO 639 codes (or English, which is ``templates``) and unknown audiences."""
    from geofences.problems import did_you_mean

    problems = []
    for language, wordings in spec.translations.items():
        line = locator.key_line(("translations", language))
        if language == ENGLISH:
            problems.append(Problem(path, line, ERROR, "translations: English is `templates`, not a translation"))
        elif not is_language_code(language):
            problems.append(Problem(path, line, ERROR, f"translations: {language!r} is not an ISO 639 language code (e.g. es, so, hmn)"))
        for audience in wordings:
            if audience not in AUDIENCES:
                problems.append(Problem(path, locator.key_line(("translations", language, audience)), ERROR,
                                        f"translations.{language}: unknown audience {audience!r}{did_you_mean(audience, AUDIENCES)}"))
    return problems


def _texts(spec: ProtocolFile) -> list[tuple[tuple[str, ...], Template | Wording]]:
    """Every message text of the file with its path: the English templates, then each translation."""
    found: list[tuple[tuple[str, ...], Template | Wording]] = [(("templates", audience), t) for audience, t in spec.templates.items()]
    found += [(("translations", language, audience), wording) for language, wordings in spec.translations.items()
              for audience, wording in wordings.items() if audience in AUDIENCES]
    return found


def template_problems(path: Path, locator, spec: ProtocolFile) -> list[Problem]:
    """Templates (English and every translation) that do not compile, or fail to render on a sample event, for
    every step."""
    problems = []
    for where, template in _texts(spec):
        name = ".".join(where)
        for part in ("title", "body"):
            line = locator.line((*where, part))
            try:
                compiled = _ENV.from_string(getattr(template, part))
            except TemplateError as exc:
                problems.append(Problem(path, line, ERROR, f"{name}.{part}: does not compile: {exc}"))
                continue
            for step in STEPS:
                context = {**SAMPLE_CONTEXT, "step": step, "escalated_team": "vi-north-nearnorth" if step == "escalation" else ""}
                try:
                    compiled.render(context)
                except Exception as exc:  # noqa: BLE001 - any failure to render is the planner's to fix
                    problems.append(Problem(path, line, ERROR, f"{name}.{part}: fails to render a sample {step} message: {exc}"))
                    break
    return problems


def never_matches(protocol: Protocol) -> str | None:
    """Why a protocol can never notify anyone, or None."""
    when = protocol.when
    kinds = set(when.kinds)
    if when.intents and kinds and EventKind.GSW_ARRIVAL not in kinds:
        return "`intents` describe hospital arrivals, but `kinds` leaves out gsw_arrival"
    if (when.victim_age_under is not None or when.victims_at_least is not None) and kinds and kinds <= {EventKind.SHOTSPOTTER, EventKind.SHOTS_FIRED}:
        return "victim conditions on kinds that carry no victims (shotspotter, shots_fired)"
    if when.between is not None and when.between[0] == when.between[1]:
        return "`between` starts and ends at the same time: an empty window"
    for notify in protocol.notify:
        if notify.audience == "hospital_team" and kinds and EventKind.GSW_ARRIVAL not in kinds:
            return "audience hospital_team needs hospital arrivals, but `kinds` leaves out gsw_arrival"
        if notify.audience == "street_on_shift_and_earlier" and when.repeat is None:
            return "audience street_on_shift_and_earlier needs a `repeat` condition to know the earlier shooting"
    return None


def never_matching_problems(path: Path, locator, spec: ProtocolFile) -> list[Problem]:
    """Protocols that can never match or never find an audience."""
    problems = []
    for p, protocol in enumerate(spec.protocols):
        reason = never_matches(protocol)
        if reason:
            problems.append(Problem(path, locator.line(("protocols", p, "when")), ERROR, f"protocol {protocol.id} can never notify anyone: {reason}"))
    return problems


def load_protocols(path: Path, teams: set[str] | None = None) -> ProtocolSet:
    """Load and check a protocol file; raises ProtocolError listing every problem with its line."""
    loaded, problems = check_protocol_file(path, teams)
    if loaded is None:
        raise ProtocolError(problems)
    return loaded


# ---- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierShooting:
    """An earlier activation, for repeat conditions."""

    activation_id: str
    kinds: frozenset[EventKind]
    opened_at: datetime
    lat: float
    lon: float
    street_teams: tuple[str, ...]  # covering the earlier place (on shift is judged at the new activation's creation)


@dataclass(frozen=True)
class Facts:
    """What an activation is, as the protocols see it."""

    kinds: frozenset[EventKind]
    arrivals: tuple[tuple[str, Intent | None], ...]  # (hospital, intent) of each hospital arrival
    fatal: bool
    victims: int
    ages: tuple[int, ...]
    placement: Placement | None
    location: tuple[float, float] | None
    opened_at: datetime  # the moment the activation was created: shifts and hours are judged then
    earlier: tuple[EarlierShooting, ...]


@dataclass(frozen=True)
class Routing:
    """One team to notify because of one protocol, with its deadline and escalation snapshot."""

    team: str
    protocol: str
    ack_within_minutes: int | None
    escalate: tuple[EscalationStep, ...]


@dataclass(frozen=True)
class Decision:
    """Whom the protocols notify for these facts (each team once: its first protocol wins) and the flags."""

    routings: tuple[Routing, ...]
    flags: tuple[str, ...]
    matched: tuple[str, ...]


def _repeats(repeat: Repeat, facts: Facts) -> list[EarlierShooting]:
    if facts.location is None:
        return []
    lat, lon = facts.location
    return [
        e for e in facts.earlier
        if repeat.kind in e.kinds
        and 0 <= (facts.opened_at - e.opened_at).total_seconds() <= repeat.within_hours * 3600
        and distance_m(lat, lon, e.lat, e.lon) <= repeat.within_m
    ]


def _arrival_matches(when: When, intent: Intent | None) -> bool:
    return not when.intents or intent in when.intents


def matches(when: When, facts: Facts, zone: ZoneInfo) -> bool:
    """Whether the facts meet every condition given in ``when``."""
    if when.kinds and not (facts.kinds & set(when.kinds)):
        return False
    if when.intents and not any(EventKind.GSW_ARRIVAL in facts.kinds and _arrival_matches(when, i) for _, i in facts.arrivals):
        return False
    if when.fatal is not None and facts.fatal != when.fatal:
        return False
    if when.victims_at_least is not None and facts.victims < when.victims_at_least:
        return False
    if when.victim_age_under is not None and not any(a < when.victim_age_under for a in facts.ages):
        return False
    if when.has_location is not None and (facts.location is not None) != when.has_location:
        return False
    if when.school_within_m is not None and not (facts.placement and any(s.distance_m <= when.school_within_m for s in facts.placement.schools)):
        return False
    local = facts.opened_at.astimezone(zone)
    if when.days and local.strftime("%a").lower() not in when.days:
        return False
    if when.between is not None:
        start, end, now = minute_of_day(when.between[0]), minute_of_day(when.between[1]), local.hour * 60 + local.minute
        if not (start <= now < end if start < end else now >= start or now < end):
            return False
    if when.repeat is not None and not _repeats(when.repeat, facts):
        return False
    return not when.any_of or any(matches(alternative, facts, zone) for alternative in when.any_of)


def _audience(notify: Notify, protocol: Protocol, facts: Facts, coverage: CoverageMap) -> tuple[str, ...]:
    if notify.team is not None:
        return (notify.team,)
    placement = facts.placement
    if notify.audience == "street_on_shift":
        return placement.street_on_shift if placement else ()
    if notify.audience == "street_on_shift_and_earlier":
        here = placement.street_on_shift if placement else ()
        earlier = [t for e in _repeats(protocol.when.repeat, facts) for t in e.street_teams if coverage.on_shift(t, facts.opened_at)] if protocol.when.repeat else []
        return tuple(dict.fromkeys([*here, *earlier]))
    if notify.audience == "hospital_team":
        hospitals = [h for h, intent in facts.arrivals if _arrival_matches(protocol.when, intent)]
        return tuple(dict.fromkeys(t for h in hospitals for t in coverage.hospital_teams.get(h, ())))
    nearby = placement.schools if placement else ()
    limit = protocol.when.school_within_m
    return tuple(dict.fromkeys(t for s in nearby if limit is None or s.distance_m <= limit for t in coverage.school_teams.get(s.id, ())))


def evaluate(facts: Facts, protocols: ProtocolSet, coverage: CoverageMap) -> Decision:
    """Apply every protocol to the facts."""
    routed: dict[str, Routing] = {}
    flags: list[str] = []
    matched: list[str] = []
    zone = protocols.zone
    for protocol in protocols.spec.protocols:
        if not matches(protocol.when, facts, zone):
            continue
        matched.append(protocol.id)
        flags += [f for f in protocol.flags if f not in flags]
        for notify in protocol.notify:
            teams = _audience(notify, protocol, facts, coverage)
            if not teams and notify.otherwise is not None:
                if notify.otherwise.flag and notify.otherwise.flag not in flags:
                    flags.append(notify.otherwise.flag)
                for team in notify.otherwise.teams:
                    routed.setdefault(team, Routing(team, protocol.id, None, ()))
            for team in teams:
                escalate = tuple(s for s in notify.escalate if s.team != team)  # never escalated to itself
                routed.setdefault(team, Routing(team, protocol.id, notify.ack_within_minutes, escalate))
    return Decision(tuple(routed.values()), tuple(flags), tuple(matched))
