"""Scenario tests for protocols (`vigil rules test`), like amtool's route tests: inputs in a planner's
shorthand, run through the same core as `vigil replay`, and the notifications expected.

    name: P2 person shot in Jordan
    steps:
      - at: "2026-07-04T22:15:00-05:00"
        cad: {incident: S-1, type: "Shooting (PFE)", lat: 45.0003, lon: -93.3001, victims: [24]}
      - at: "2026-07-04T22:40:00-05:00"
        hl7: {control_id: H-1, hospital: hcmc, intent: assault, age: 16}
      - at: "2026-07-04T22:20:00-05:00"
        ack: {ref: S-1, team: vi-north-nearnorth}
    expect:
      - {at: "2026-07-04T22:15:00-05:00", team: vi-north-nearnorth, rule: P2, step: initial}
      - {team: gvi-outreach, rule: P2}

A CAD step may give the scene's civic address, in RFC 5139 element names, as CAD sends it in the PIDF-LO:
``address: {HNO: "2418", RD: James, STS: Ave, POD: N}`` (street alerts then name its hundred-block).
A step may also carry a raw report: ``eido: {EIDO object}``, ``hl7_text: "MSH|..."``, ``csv: {column: value}``.
Expectations match notifications one to one on the fields they give (at, team, rule, step, flags,
activation_of: the ref of a report in the activation, message_contains); order does not matter.
``expect_tasks`` (when given) matches the follow-up tasks made the same way (team, kind, rule, due,
activation_of): ``- {team: vi-north-nearnorth, kind: family_contact, due: "2026-07-06T22:15:00-05:00"}``.

The notifications also hold each follow-up task's reminder (``purpose: task``, to the team's person on call, 2 hours
before it is due) and overdue notice (``purpose: notice``, to dns-oncall at its due time) that comes up before
``until``; ``purpose`` (alert, task, notice) and ``person`` (a roster person's id) tell them apart. A step may close a
task, named by the ref of a report in its activation, its team and kind (and due time, when it has several):
``close_task: {ref: FR-1, team: vi-north-nearnorth, kind: family_contact, outcome: done}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from geofences.problems import ERROR, Problem, load_yaml, validation_problems
from rules.followups import REFERRAL_SERVICES, TaskKind
from stream.core.replay import Hl7Refs, Replay, ScenarioLine, hl7_key, people_config
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage, Patient
from stream.model.events import CoreInput, NotificationIntent, Referral, TaskClose
from stream.model.timeline import TaskCreated

INTENT_CODES = {
    "assault": ("X95.XXXA", "Assault by unspecified firearm discharge"),
    "unintentional": ("W34.00XA", "Accidental discharge from unspecified firearms"),
    "undetermined": ("Y24.9XXA", "Unspecified firearm discharge, undetermined intent"),
    "self_harm": ("X74.9XXA", "Intentional self-harm by unspecified firearm discharge"),
    "legal_intervention": ("Y35.001A", "Legal intervention involving unspecified firearm discharge"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CadStep(_Frozen):
    """A CAD incident in shorthand: built into an EIDO document."""

    incident: str
    type: str | None = None  # the local call-type text, e.g. "Shooting (PFE)"
    apco: str = "OTHER"
    lat: float | None = None
    lon: float | None = None
    victims: list[int | None] = []
    updated: AwareDatetime | None = None
    address: dict[str, str] | None = None  # the civic address (RFC 5139 elements: HNO, RD, STS, POD, ...)


class Hl7Step(_Frozen):
    """An emergency-department registration in shorthand: built into an ADT message."""

    control_id: str
    hospital: str
    intent: str | None = "assault"
    code: str | None = None
    age: int | None = 25
    visit: str | None = None
    trigger: str = "A04"
    patient_class: str = "E"

    @model_validator(mode="after")
    def _known_intent(self) -> Hl7Step:
        if self.code is None and self.intent not in INTENT_CODES:
            raise ValueError(f"intent must be one of {', '.join(INTENT_CODES)} (or give a code)")
        return self


class AckStep(_Frozen):
    """A team's answer, by the ref of any report in the activation: ack (default), on_my_way or unable."""

    ref: str
    team: str
    response: Literal["ack", "on_my_way", "unable"] = "ack"


class ReferralStep(_Frozen):
    """A referral made when a task is closed: the service and whether the person consented."""

    service: Literal[REFERRAL_SERVICES]  # type: ignore[valid-type]
    consent: bool


class CloseTaskStep(_Frozen):
    """A follow-up task closed (as from its link, an SMS reply or the review pages): the task of ``team`` and ``kind``
    in the activation of the report ``ref``; ``due`` picks one when the activation has several (F3's check-ins)."""

    ref: str
    team: str
    kind: TaskKind
    due: AwareDatetime | None = None
    outcome: Literal["done", "attempted", "declined", "not_reachable"] = "done"
    referrals: list[ReferralStep] = []


STEP_KINDS = ("cad", "hl7", "ack", "eido", "hl7_text", "csv", "close_task")


class Step(_Frozen):
    """One input at a moment: exactly one of the report kinds, an ack or a task's closing."""

    at: AwareDatetime
    cad: CadStep | None = None
    hl7: Hl7Step | None = None
    ack: AckStep | None = None
    eido: dict[str, Any] | None = None
    hl7_text: str | None = None
    csv: dict[str, str] | None = None
    close_task: CloseTaskStep | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step has exactly one of {', '.join(STEP_KINDS)} (this one has {', '.join(given) or 'none'})")
        return self


class Expected(_Frozen):
    """A notification expected: only the fields given are compared."""

    at: AwareDatetime | None = None
    team: str | None = None
    rule: str | None = None
    step: str | None = None
    flags: list[str] | None = None
    activation_of: str | None = None
    message_contains: str | None = None
    purpose: Literal["alert", "task", "notice"] | None = None  # task: a task's reminder; notice: its overdue notice
    person: str | None = None  # the roster person paged (a reminder goes to the team's person on call)


class ExpectedTask(_Frozen):
    """A follow-up task expected (rules/followups.py): only the fields given are compared."""

    team: str | None = None
    kind: str | None = None
    rule: str | None = None
    due: AwareDatetime | None = None
    activation_of: str | None = None


class Scenario(_Frozen):
    """A scenario file. ``expect_tasks``, when given, must match the follow-up tasks made one to one (left out:
    tasks are not checked)."""

    name: str
    steps: list[Step] = Field(min_length=1)
    expect: list[Expected] = []
    expect_tasks: list[ExpectedTask] | None = None
    until: AwareDatetime | None = None


def _birth_date(at: datetime, age: int) -> str:
    born = date(at.year - age, at.month, min(at.day, 28)) - timedelta(days=1)
    return born.strftime("%Y%m%d")


def scenario_line(number: int, step: Step) -> ScenarioLine:
    """A step as a replay input line."""
    at = step.at
    if step.ack is not None:
        return ScenarioLine(number, at, "ack", {"ref": step.ack.ref, "team": step.ack.team, "response": step.ack.response})
    if step.close_task is not None:
        return ScenarioLine(number, at, "close_task", {"close": step.close_task})
    if step.cad is not None:
        cad = step.cad
        doc = build_eido(cad.incident, (cad.updated or at).isoformat(), internal_text=cad.type, apco=cad.apco, lat=cad.lat, lon=cad.lon, victim_ages=cad.victims or None,
                         address=cad.address)
        return ScenarioLine(number, at, "eido", {"payload": doc})
    if step.hl7 is not None:
        h = step.hl7
        code, text = (h.code, "Firearm injury") if h.code else INTENT_CODES[h.intent or "assault"]
        patient = Patient(birth_date=_birth_date(at, h.age) if h.age is not None else "")
        message = AdtMessage(h.control_id, h.hospital, at, trigger=h.trigger, patient_class=h.patient_class,
                             visit_number=h.visit or f"V-{h.control_id}", diagnoses=[(code, text, "I10")], patient=patient)
        return ScenarioLine(number, at, "hl7", {"payload": message.render()})
    if step.eido is not None:
        return ScenarioLine(number, at, "eido", {"payload": step.eido})
    if step.hl7_text is not None:
        return ScenarioLine(number, at, "hl7", {"payload": step.hl7_text})
    return ScenarioLine(number, at, "csv", {"payload": step.csv})


def run_scenario(scenario: Scenario, deployment, hl7_refs: Hl7Refs | None = None, sent: bool = False,
                 tasks: list[TaskCreated] | None = None, followups: list[tuple[int, str]] | None = None) -> list[NotificationIntent]:
    """The notifications the core makes for a scenario: the teams' alerts, or with ``sent`` everything a worker
    would send (answers updates too). ``hl7_refs``, when given, gets the keyed ref of each HL7 arrival by its
    control id; ``tasks``, the follow-up tasks made. With ``followups`` (a list), the core has the rosters, the
    notifications hold the tasks' reminders and overdue notices too, and the list gets (step number, problem) for each
    ``close_task`` step whose task is not found."""
    from stream.core.state import CoreState

    run = Replay(deployment, CoreState(), hl7_key(), hl7_refs=hl7_refs if hl7_refs is not None else Hl7Refs(), sent=sent,
                 config=people_config(deployment) if followups is not None else None, task_notices=followups is not None)
    lines = sorted((scenario_line(n, s) for n, s in enumerate(scenario.steps, start=1)), key=lambda line: line.at)
    out: list[NotificationIntent] = []
    for line in lines:
        if line.source != "close_task":
            out += run.feed(line)
            continue
        # the timers due before the closing fire first, as they would on a worker: then the task is looked up
        out += run.finish(line.at)
        closing = task_closing(run, line.data["close"])
        if isinstance(closing, str):
            if followups is not None:
                followups.append((line.number, closing))
            continue
        out += run.apply(CoreInput(type="task_close", task_close=closing), line.at)
    out += run.finish(scenario.until or lines[-1].at + timedelta(hours=2))
    if tasks is not None:
        tasks += run.tasks
    return out


def task_closing(run: Replay, step: CloseTaskStep) -> TaskClose | str:
    """The ``TaskClose`` of a ``close_task`` step: the task of its team and kind (and due time, when given) in the
    activation of its ref, by the id the core gave it (stream/core/tasks.py); what is wrong when there is not exactly one."""
    ref = run.hl7_refs.ref(step.ref)
    activation_id = run.state.by_ref.get(ref) or (ref if ref in run.state.activations else None)
    activation = run.state.activations.get(activation_id) if activation_id else None
    named = f"{step.kind} task of {step.team}" + (f" due {step.due.isoformat()}" if step.due else "")
    if activation is None:
        return f"close_task: no activation has the report {step.ref!r} (yet)"
    found = [t for t in activation.tasks.values() if t.team == step.team and t.kind == step.kind and (step.due is None or _same_moment(t.due, step.due))]
    if len(found) != 1:
        dues = ", ".join(sorted(t.due.isoformat() for t in found))
        return (f"close_task: no {named} in the activation of {step.ref!r}" if not found
                else f"close_task: {len(found)} {step.kind} tasks of {step.team} in the activation of {step.ref!r} (due {dues}): give its due")
    referrals = tuple(Referral(service=r.service, consent=r.consent) for r in step.referrals)
    return TaskClose(task_id=found[0].id, ref=activation.id, outcome=step.outcome, referrals=referrals, by="scenario")


def _same_moment(one: datetime, other: datetime) -> bool:
    """The same instant. Not ``==``: Python never finds a local time in the hour a clock change repeats (01:30 on the
    first Sunday of November, in the zone's own tzinfo) equal to a time of another zone, even at the same instant."""
    return one.astimezone(UTC) == other.astimezone(UTC)


def _matches(expected: Expected, intent: NotificationIntent, refs_of: dict[str, str]) -> bool:
    checks = [
        expected.at is None or _same_moment(expected.at, intent.created_at),
        expected.team is None or expected.team == intent.team,
        expected.rule is None or expected.rule == intent.protocol,
        expected.step is None or expected.step == intent.step,
        expected.flags is None or sorted(expected.flags) == sorted(intent.flags),
        expected.activation_of is None or refs_of.get(expected.activation_of) == intent.activation_id,
        expected.message_contains is None or expected.message_contains in f"{intent.title}\n{intent.body}",
        expected.purpose is None or expected.purpose == intent.purpose,
        expected.person is None or expected.person == intent.person,
    ]
    return all(checks)


@dataclass
class ScenarioResult:
    """The outcome of one scenario file."""

    path: Path
    name: str
    problems: list[str]
    notifications: list[NotificationIntent]

    @property
    def passed(self) -> bool:
        """True when every expectation met exactly one notification and nothing else was sent."""
        return not self.problems


def describe(intent: NotificationIntent) -> str:
    """One notification, as a failing scenario shows it."""
    described = {"at": intent.created_at.isoformat(), "team": intent.team, "rule": intent.protocol, "step": intent.step, "flags": list(intent.flags)}
    if intent.purpose != "alert":  # a task's reminder or overdue notice: to whom
        described |= {"purpose": intent.purpose, "person": intent.person}
    return json.dumps(described)


def check_scenario(path: Path, deployment) -> ScenarioResult:
    """Run one scenario file and compare with its expectations."""
    data, locator, problems = load_yaml(path)
    if problems or locator is None:
        return ScenarioResult(path, path.stem, [str(p) for p in problems], [])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        return ScenarioResult(path, path.stem, [str(p) for p in validation_problems(path, locator, exc)], [])
    unknown = _close_task_problems(path, locator, scenario, deployment)
    if unknown:
        return ScenarioResult(path, scenario.name, unknown, [])
    hl7_refs = Hl7Refs()
    made: list[TaskCreated] = []
    not_closed: list[tuple[int, str]] = []
    notifications = run_scenario(scenario, deployment, hl7_refs, tasks=made, followups=not_closed)
    refs_of = {ref: i.activation_id for i in notifications for ref in i.refs}
    # an expectation names an HL7 arrival by its control id; the core's refs are its keyed hash
    refs_of |= {control_id: refs_of[ref] for control_id, ref in hl7_refs.by_control_id.items() if ref in refs_of}
    unmatched = list(notifications)
    missing = []
    for n, expected in enumerate(scenario.expect):
        found = next((i for i in unmatched if _matches(expected, i, refs_of)), None)
        if found is None:
            missing.append(Problem(path, locator.line(("expect", n)), ERROR, f"expected but not sent: {expected.model_dump_json(exclude_none=True)}"))
        else:
            unmatched.remove(found)
    messages = [str(Problem(path, locator.line(("steps", number - 1, "close_task")), ERROR, problem)) for number, problem in not_closed]
    messages += [str(p) for p in missing] + [f"{path}: sent but not expected: {describe(i)}" for i in unmatched]
    if scenario.expect_tasks is not None:
        messages += _task_problems(path, locator, scenario.expect_tasks, made, refs_of)
    return ScenarioResult(path, scenario.name, messages, notifications)


def _close_task_problems(path: Path, locator, scenario: Scenario, deployment) -> list[str]:
    """A ``close_task`` step naming a team the deployment does not have, or a kind of task its protocol file never
    makes: found when the file is loaded, with the step's line."""
    kinds = {rule.kind for rule in deployment.protocols.spec.followups.tasks}
    problems = []
    for n, step in enumerate(scenario.steps):
        close = step.close_task
        if close is None:
            continue
        if close.team not in deployment.coverage.teams:
            problems.append(Problem(path, locator.line(("steps", n, "close_task", "team")), ERROR,
                                    f"close_task: {close.team!r} is not a team of the deployment"))
        if close.kind not in kinds:
            problems.append(Problem(path, locator.line(("steps", n, "close_task", "kind")), ERROR,
                                    f"close_task: the protocol file makes no {close.kind!r} tasks (it makes {', '.join(sorted(kinds)) or 'none'})"))
    return [str(p) for p in problems]


def _task_matches(expected: ExpectedTask, task: TaskCreated, refs_of: dict[str, str]) -> bool:
    return all((expected.team is None or expected.team == task.team, expected.kind is None or expected.kind == task.task_kind,
                expected.rule is None or expected.rule == task.rule, expected.due is None or _same_moment(expected.due, task.due),
                expected.activation_of is None or refs_of.get(expected.activation_of) == task.activation_id))


def _task_problems(path: Path, locator, expected: list[ExpectedTask], made: list[TaskCreated], refs_of: dict[str, str]) -> list[str]:
    """Expected tasks not made (with the line) and tasks made but not expected."""
    unmatched, problems = list(made), []
    for n, task in enumerate(expected):
        found = next((t for t in unmatched if _task_matches(task, t, refs_of)), None)
        if found is None:
            problems.append(str(Problem(path, locator.line(("expect_tasks", n)), ERROR,
                                        f"task expected but not made: {task.model_dump_json(exclude_none=True)}")))
        else:
            unmatched.remove(found)
    return problems + [f"{path}: task made but not expected: {json.dumps({'team': t.team, 'kind': t.task_kind, 'due': t.due.isoformat()})}"
                       for t in unmatched]
