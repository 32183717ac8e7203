"""`vigil backtest`: what a protocol or coverage change would have done to a history.

    vigil backtest --events HISTORY --base CONFIG --head CONFIG [--out REPORT.md] [--examples 5]

HISTORY is a replay scenario (JSON Lines with ``at`` and ``source``, see ``stream.core.replay``) or a history of
shootings (the synthetic-year JSON Lines of ``load_tests.history``, or `vigil parse` output lines
``{"event": {...}}``). CONFIG is a folder laid out like this repository, or a git revision of the
repository the command runs in (its three deployment folders are extracted to a temporary folder).

Both configs replay the same inputs through the activation core on a simulated clock; the notifications
are compared by (activation, team, rule, step) and the difference is written as Markdown a planner can
paste into a pull request. Same inputs, same report, byte for byte.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from stream.core.deployment import Deployment
from stream.core.replay import DEFAULT_TAIL, Replay, ScenarioLine, hl7_key, read_scenario
from stream.core.state import Activation, Config, CoreState
from stream.model.events import CoreInput, EventKind, Intent, Location, NotificationIntent, ShootingEvent, stable_id
from stream.model.timeline import TaskCreated

DEPLOYMENT = "minneapolis"
DEPLOYMENT_FOLDERS = (f"stream/{DEPLOYMENT}", f"geofences/{DEPLOYMENT}", f"rules/{DEPLOYMENT}")
HISTORY_SOURCE = "history"
FLAGS = ("coverage_gap", "retaliation_watch")


class BacktestError(Exception):
    """A backtest that cannot run; ``code`` is the exit status (2: bad option, 1: unreadable input or config)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---- the history -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRecord:
    """One shooting of a history file (synthetic history or `vigil parse` output)."""

    line: int
    ref: str
    incident: str
    kind: EventKind
    reported_at: datetime
    location: Location | None
    victims: int = 0
    ages: tuple[int | None, ...] = ()
    fatal: bool = False
    hospital: str | None = None
    intent: Intent | None = None


@dataclass(frozen=True)
class History:
    """The inputs of a backtest: scenario lines, or history records; both in time order."""

    path: Path
    scenario: tuple[ScenarioLine, ...] | None
    records: tuple[HistoryRecord, ...] = ()
    ignored: int = 0  # `vigil parse` lines that are not events (skipped, rejected)

    @property
    def size(self) -> int:
        """How many inputs each run replays."""
        return len(self.scenario) if self.scenario is not None else len(self.records)

    @property
    def moments(self) -> list[datetime]:
        """When each input happens, in order."""
        if self.scenario is not None:
            return [line.at for line in self.scenario]
        return [r.reported_at for r in self.records]

    @property
    def kind(self) -> str:
        """What the file holds, for the report."""
        return "scenario lines" if self.scenario is not None else "events"


def _record(obj: dict[str, Any], number: int, where: str) -> HistoryRecord | None:
    if "skipped" in obj or "rejected" in obj:
        return None
    data = obj.get("event", obj)
    try:
        if not isinstance(data, dict):
            raise TypeError("an event is a JSON object")
        moment = datetime.fromisoformat(str(data["reported_at"]).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError(f"reported_at {data['reported_at']!r} has no UTC offset")
        ref = str(data["ref"])
        lat, lon = data.get("lat"), data.get("lon")
        return HistoryRecord(
            line=number,
            ref=ref,
            # parse output names the incident (a hospital visit's key differs from its message's keyed ref)
            incident=str(data.get("incident") or ref),
            kind=EventKind(data["kind"]),
            reported_at=moment,
            location=None if lat is None or lon is None else Location(lat=float(lat), lon=float(lon)),
            victims=int(data.get("victims") or 0),
            ages=tuple(None if a is None else int(a) for a in data.get("ages") or ()),
            fatal=bool(data.get("fatal", False)),
            hospital=data.get("hospital"),
            intent=Intent(data["intent"]) if data.get("intent") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise BacktestError(f"{where}: not a history event with ref, kind, reported_at (ISO 8601 with offset) ({detail})") from None


def _is_scenario(obj: Any) -> bool:
    return isinstance(obj, dict) and "at" in obj and "source" in obj and "event" not in obj


def read_history(path: Path, err: TextIO | None = None) -> History:
    """Read a scenario or a history file; a scenario's bad lines are reported on ``err`` and dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BacktestError(f"vigil backtest: cannot read {path}: {exc.strerror or exc}") from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    try:
        first_obj = json.loads(first) if first is not None else None
    except json.JSONDecodeError as exc:
        raise BacktestError(f"{path}: the first line is not JSON ({exc.msg})") from None
    if _is_scenario(first_obj):
        return History(path, tuple(read_scenario(lines, err)))
    records, ignored = [], 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BacktestError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise BacktestError(f"{where}: a history line is a JSON object")
        record = _record(obj, number, where)
        if record is None:
            ignored += 1
        else:
            records.append(record)
    # the UTC instant, not the wall time: a fall-back night has two 01:xx hours
    records.sort(key=lambda r: (r.reported_at.astimezone(UTC), r.line))
    return History(path, None, tuple(records), ignored)


def shooting_event(record: HistoryRecord, jurisdiction: str) -> ShootingEvent:
    """The shooting event a history record stands for: received the moment it was reported."""
    return ShootingEvent(
        # the kind and time are part of the id so that a CAD incident's upgrade is a new report, not a re-send
        event_id=stable_id("evt", HISTORY_SOURCE, record.ref, record.kind.value, record.reported_at.isoformat()),
        jurisdiction=jurisdiction,
        source=HISTORY_SOURCE,
        incident_id=record.incident,
        ref=record.ref,
        kind=record.kind,
        fatal=record.fatal,
        reported_at=record.reported_at,
        received_at=record.reported_at,
        location=record.location,
        victim_count=record.victims,
        victim_ages=record.ages,
        hospital=record.hospital,
        intent=record.intent,
    )


# ---- the configs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigSource:
    """Where one side's config came from, and the folder holding it now."""

    spec: str
    root: Path
    commit: str | None = None

    @property
    def label(self) -> str:
        """How the report names the side."""
        return f"{self.spec} ({self.commit[:12]})" if self.commit else self.spec


# ---- running ---------------------------------------------------------------------------------------


class Progress:
    """Progress on stderr: a line redrawn at each whole percent on a terminal, else one line at start and end.

    CI logs are not terminals, and a redrawn line there becomes thousands of lines.
    """

    def __init__(self, total: int, err: TextIO | None, start: str = "") -> None:
        self.total, self.err, self.done, self.shown = total, err, 0, -1
        self.label = ""
        self.started = time.monotonic()
        self.tty = bool(err is not None and err.isatty())
        if err is not None and not self.tty:
            err.write(f"vigil backtest: {start or f'{total} inputs'}\n")
            err.flush()

    def step(self, label: str) -> None:
        """One input done."""
        self.done += 1
        if not self.tty or self.err is None:
            return
        percent = self.done * 100 // max(self.total, 1)
        if percent != self.shown or label != self.label:
            self.shown, self.label = percent, label
            self.err.write(f"\rvigil backtest: {label} {percent:3d}% ({self.done}/{self.total})")
            self.err.flush()

    def finish(self, summary: str) -> None:
        """The closing line."""
        if self.err is None:
            return
        seconds = time.monotonic() - self.started
        self.err.write(("\n" if self.tty else "") + f"vigil backtest: done in {seconds:.1f} s: {summary}\n")
        self.err.flush()


@dataclass(frozen=True)
class Sent:
    """One notification of a run, as the backtest compares them."""

    activation: str
    team: str
    rule: str
    step: str
    escalated_team: str | None
    occurrence: int  # the n-th notification with this key in the run (0 almost always)
    at: datetime

    @property
    def key(self) -> tuple[str, str, str, str, str, int]:
        """(activation, team, rule, step): an escalation's step includes the team that did not ack."""
        return (self.activation, self.team, self.rule, self.step, self.escalated_team or "", self.occurrence)

    @property
    def step_label(self) -> str:
        """The step as the report shows it."""
        return f"escalation from {self.escalated_team}" if self.escalated_team else self.step


@dataclass
class RunResult:
    """What one config did with the history."""

    source: ConfigSource
    deployment: Deployment
    sent: list[Sent]
    activations: dict[str, Activation]
    problems: list[str] = field(default_factory=list)
    tasks: list[TaskCreated] = field(default_factory=list)  # the follow-up tasks made (rules/followups.py)

    def flagged(self, flag: str) -> set[str]:
        """The activations that carry ``flag``."""
        return {a.id for a in self.activations.values() if flag in a.flags}


@dataclass
class BacktestReplay(Replay):
    """A replay that also takes ready-made shooting events, and keeps every activation for the report
    (the steps forget old ones as the stream does: without that, every report would be checked against
    every earlier activation of the year, which makes a year quadratic)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.forgotten is None:
            self.forgotten = {}

    def feed_event(self, event: ShootingEvent) -> list[NotificationIntent]:
        """``Replay.feed`` for a ready-made event."""
        return self.apply(CoreInput(type="event", event=event), event.received_at)

    def activations(self) -> dict[str, Activation]:
        """Every activation of the run, forgotten or not."""
        assert self.forgotten is not None
        return {**self.forgotten, **self.state.activations}


def _sent(intents: Iterable[NotificationIntent]) -> list[Sent]:
    counts: Counter[tuple[str, ...]] = Counter()
    out = []
    for intent in intents:
        key = (intent.activation_id, intent.team, intent.protocol, intent.step, intent.escalated_team or "")
        out.append(Sent(intent.activation_id, intent.team, intent.protocol, intent.step, intent.escalated_team, counts[key], intent.created_at))
        counts[key] += 1
    return out


def run(history: History, source: ConfigSource, deployment: Deployment, progress: Progress | None = None,
        label: str = "run", prune_activations: bool = True) -> RunResult:
    """Replay the history through one config on a simulated clock, to two hours after the last input."""
    config = Config(deployment.coverage, deployment.protocols, keep=None if prune_activations else timedelta.max)
    replay = BacktestReplay(deployment, CoreState(), hl7_key(), config)
    problems = io.StringIO()
    intents: list[NotificationIntent] = []
    if history.scenario is not None:
        for line in history.scenario:
            intents += replay.feed(line, problems)
            if progress:
                progress.step(label)
    else:
        jurisdiction = deployment.jurisdiction
        for record in history.records:
            intents += replay.feed_event(shooting_event(record, jurisdiction))
            if progress:
                progress.step(label)
    moments = history.moments
    if moments:
        intents += replay.finish(max(moments) + DEFAULT_TAIL)
    return RunResult(source, deployment, _sent(intents), replay.activations(), problems.getvalue().splitlines(), list(replay.tasks))


# ---- comparing -------------------------------------------------------------------------------------


def _order(sent: Sent) -> tuple:
    return (sent.at.astimezone(UTC), sent.key)


@dataclass
class Comparison:
    """The difference between the base run and the head run."""

    history: History
    base: RunResult
    head: RunResult
    added: list[Sent]
    removed: list[Sent]
    retimed: list[tuple[Sent, Sent]]  # (base, head): the same notification at another moment
    tasks_added: list[TaskCreated] = field(default_factory=list)  # follow-up tasks head makes and base does not
    tasks_removed: list[TaskCreated] = field(default_factory=list)  # and the other way round

    @property
    def zone(self) -> ZoneInfo:
        """The time zone the report shows times in (the head's)."""
        return self.head.deployment.coverage.zone

    def flag_changes(self, flag: str) -> tuple[list[Activation], list[Activation]]:
        """Activations newly flagged in head, and those flagged in base only; in time order."""
        base, head = self.base.flagged(flag), self.head.flagged(flag)
        newly = [self.head.activations[a] for a in head - base]
        cleared = [self.base.activations[a] for a in base - head]
        return (sorted(newly, key=lambda a: (a.opened_at.astimezone(UTC), a.id)),
                sorted(cleared, key=lambda a: (a.opened_at.astimezone(UTC), a.id)))

    @property
    def identical(self) -> bool:
        """Whether head does exactly what base does."""
        return not (self.added or self.removed or self.retimed or self.tasks_added or self.tasks_removed
                    or any(any(self.flag_changes(f)) for f in FLAGS))


def compare(history: History, base: RunResult, head: RunResult) -> Comparison:
    """Match the two runs' notifications by key."""
    base_by_key = {s.key: s for s in base.sent}
    head_by_key = {s.key: s for s in head.sent}
    added = sorted((s for k, s in head_by_key.items() if k not in base_by_key), key=_order)
    removed = sorted((s for k, s in base_by_key.items() if k not in head_by_key), key=_order)
    retimed = sorted(((base_by_key[k], s) for k, s in head_by_key.items() if k in base_by_key and base_by_key[k].at != s.at),
                     key=lambda pair: _order(pair[0]))
    base_tasks = {_task_key(t): t for t in base.tasks}
    head_tasks = {_task_key(t): t for t in head.tasks}
    return Comparison(history, base, head, added, removed, retimed,
                      sorted((t for k, t in head_tasks.items() if k not in base_tasks), key=_task_key),
                      sorted((t for k, t in base_tasks.items() if k not in head_tasks), key=_task_key))


def _task_key(task: TaskCreated) -> tuple[str, str, str, datetime]:
    # the task id is this already (activation, team, kind, due); comparing the parts keeps the report readable
    return (task.activation_id, task.team, task.task_kind, task.due.astimezone(UTC))


def _task_section(comparison: Comparison) -> list[str]:
    """Follow-up tasks added and removed by the change, by team and kind."""
    if not (comparison.tasks_added or comparison.tasks_removed):
        return []
    added = Counter((t.team, t.task_kind) for t in comparison.tasks_added)
    removed = Counter((t.team, t.task_kind) for t in comparison.tasks_removed)
    lines = ["## Follow-up tasks", "", _row("team", "kind", "added", "removed"), "|---|---|---:|---:|"]
    lines += [_row(team, kind, added[(team, kind)], removed[(team, kind)]) for team, kind in sorted(set(added) | set(removed))]
    return [*lines, ""]


# ---- the report ------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(*values: object) -> str:
    return "| " + " | ".join(_cell(v) for v in values) + " |"


def _diff(base: int, head: int) -> str:
    return f"{head - base:+d}" if head != base else "0"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _spread(items: Sequence, n: int) -> list:
    """``n`` items spread evenly over the list (all of them if there are fewer): a year's examples are not all in January."""
    if n <= 0:
        return []
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def _place(activation: Activation | None) -> str:
    placement = activation.placement if activation else None
    return placement.neighborhood if placement and placement.neighborhood else "-"


def _refs(activation: Activation | None) -> str:
    return ", ".join(activation.refs) if activation else "-"


def _grouped(title: str, column: str, attr: str, comparison: Comparison) -> list[str]:
    base = Counter(getattr(s, attr) for s in comparison.base.sent)
    head = Counter(getattr(s, attr) for s in comparison.head.sent)
    added = Counter(getattr(s, attr) for s in comparison.added)
    removed = Counter(getattr(s, attr) for s in comparison.removed)
    retimed = Counter(getattr(h, attr) for _, h in comparison.retimed)
    names = sorted(set(base) | set(head))
    lines = [f"## {title}", "", _row(column, "base", "head", "added", "removed", "retimed"), "|---|---:|---:|---:|---:|---:|"]
    lines += [_row(f"`{n}`", base[n], head[n], f"+{added[n]}" if added[n] else 0, f"-{removed[n]}" if removed[n] else 0, retimed[n])
              for n in names]
    if not names:
        lines.append(_row("(none)", 0, 0, 0, 0, 0))
    return lines + [""]


def _examples(title: str, sent: list[Sent], run_result: RunResult, n: int, zone: ZoneInfo) -> list[str]:
    if not sent or n <= 0:
        return []
    shown = _spread(sent, n)
    lines = [f"### {title} ({len(shown)} of {len(sent)})", "", _row("time", "team", "rule", "step", "refs", "place"),
             "|---|---|---|---|---|---|"]
    for s in shown:
        activation = run_result.activations.get(s.activation)
        lines.append(_row(_local(s.at, zone), f"`{s.team}`", s.rule, s.step_label, _refs(activation), _place(activation)))
    return lines + [""]


def _retimed_examples(comparison: Comparison, n: int) -> list[str]:
    if not comparison.retimed or n <= 0:
        return []
    shown = _spread(comparison.retimed, n)
    zone = comparison.zone
    lines = [f"### Retimed ({len(shown)} of {len(comparison.retimed)})", "",
             _row("base time", "head time", "team", "rule", "step", "refs", "place"), "|---|---|---|---|---|---|---|"]
    for b, h in shown:
        activation = comparison.head.activations.get(h.activation)
        lines.append(_row(_local(b.at, zone), _local(h.at, zone), f"`{h.team}`", h.rule, h.step_label, _refs(activation), _place(activation)))
    return lines + [""]


def _flag_sections(comparison: Comparison) -> list[str]:
    zone = comparison.zone
    lines = ["## Flags", "", _row("flag", "base", "head", "newly flagged", "no longer flagged"), "|---|---:|---:|---:|---:|"]
    for flag in FLAGS:
        newly, cleared = comparison.flag_changes(flag)
        lines.append(_row(f"`{flag}`", len(comparison.base.flagged(flag)), len(comparison.head.flagged(flag)), len(newly), len(cleared)))
    lines.append("")
    newly, cleared = comparison.flag_changes("coverage_gap")
    if newly or cleared:
        by_hour_new = Counter(a.opened_at.astimezone(zone).hour for a in newly)
        by_hour_old = Counter(a.opened_at.astimezone(zone).hour for a in cleared)
        lines += ["### Coverage-gap changes by local hour", "", _row("hour", "newly flagged", "no longer flagged"), "|---|---:|---:|"]
        lines += [_row(f"{h:02d}:00", by_hour_new[h], by_hour_old[h]) for h in sorted(set(by_hour_new) | set(by_hour_old))]
        lines.append("")
        by_place_new = Counter(_place(a) for a in newly)
        by_place_old = Counter(_place(a) for a in cleared)
        lines += ["### Coverage-gap changes by neighborhood", "", _row("neighborhood", "newly flagged", "no longer flagged"), "|---|---:|---:|"]
        lines += [_row(p, by_place_new[p], by_place_old[p]) for p in sorted(set(by_place_new) | set(by_place_old))]
        lines.append("")
    return lines


def render_markdown(comparison: Comparison, examples: int = 5) -> str:
    """The report, as Markdown for a pull request."""
    base, head, history, zone = comparison.base, comparison.head, comparison.history, comparison.zone
    moments = history.moments
    period = f", {min(moments).astimezone(zone).date()} to {max(moments).astimezone(zone).date()} ({zone.key})" if moments else ""
    ignored = f"; {history.ignored} lines that are not events ignored" if history.ignored else ""
    lines = [
        f"# Backtest: `{base.source.label}` vs `{head.source.label}`",
        "",
        f"History `{history.path.name}`: {history.size} {history.kind}{period}{ignored}.",
        "",
        _row("", "base", "head"),
        "|---|---|---|",
        _row("config", f"`{base.source.label}`", f"`{head.source.label}`"),
        _row("coverage", f"`{base.deployment.coverage.version}`", f"`{head.deployment.coverage.version}`"),
        _row("protocols", f"`{base.deployment.protocols.version}`", f"`{head.deployment.protocols.version}`"),
        "",
        "## Summary",
        "",
    ]
    if comparison.identical:
        lines += ["**No differences**: head sends the same notifications at the same moments as base, and flags the same activations.", ""]
    else:
        lines += [f"Head adds **{len(comparison.added)}** notifications, removes **{len(comparison.removed)}** "
                  f"and sends **{len(comparison.retimed)}** at another moment.", ""]
    steps = (("- initial", "initial"), ("- updates", "update"), ("- escalations", "escalation"))
    base_steps, head_steps = Counter(s.step for s in base.sent), Counter(s.step for s in head.sent)
    rows: list[tuple[str, int, int]] = [
        ("activations", len(base.activations), len(head.activations)),
        ("notifications", len(base.sent), len(head.sent)),
        *((name, base_steps[step], head_steps[step]) for name, step in steps),
        *((f"activations flagged `{flag}`", len(base.flagged(flag)), len(head.flagged(flag))) for flag in FLAGS),
        ("follow-up tasks", len(base.tasks), len(head.tasks)),
    ]
    lines += [_row("", "base", "head", "difference"), "|---|---:|---:|---:|"]
    lines += [_row(name, b, h, _diff(b, h)) for name, b, h in rows]
    lines.append("")
    lines += _grouped("Notifications by team", "team", "team", comparison)
    lines += _grouped("Notifications by rule", "rule", "rule", comparison)
    lines += _flag_sections(comparison)
    lines += _task_section(comparison)
    if not comparison.identical and examples > 0 and (comparison.added or comparison.removed or comparison.retimed):
        lines += ["## Examples", ""]
        lines += _examples("Added", comparison.added, head, examples, zone)
        lines += _examples("Removed", comparison.removed, base, examples, zone)
        lines += _retimed_examples(comparison, examples)
    problems = [f"{side}: {p}" for side, result in (("base", base), ("head", head)) for p in result.problems]
    if problems:
        lines += ["## Inputs the core refused", "", *(f"- {_cell(p)}" for p in problems[:20])]
        if len(problems) > 20:
            lines.append(f"- ... and {len(problems) - 20} more")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
