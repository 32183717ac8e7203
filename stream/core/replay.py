"""`vigil replay`: the stream's core on a simulated clock, deterministically.

Scenario lines (``at`` is when Vigil receives the message):
``{"at", "source": "eido", "payload": {EIDO}}``, ``{"at", "source": "hl7", "payload": "MSH|..."}``,
``{"at", "source": "csv", "payload": {column: value}}``, ``{"at", "source": "ack", "ref", "team"}`` (and
optionally ``"response"``: ack, on_my_way or unable). An ack may name an HL7 message by its MSH-10: the
core knows the message only by its keyed hash (``msg-…``, stream/feeds/hl7.py), to which the replay
translates the control ids of the messages it sent.
Output, one line per team notified, in time order: ``{"at", "activation", "refs", "team", "rule",
"step", "flags", "message"}``. Each input is one step of the core (stream/core/step.py: the escalations
due strictly before it fire first, so an ack at the very deadline is in time); after the last input the
clock runs to ``until``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TextIO

from pydantic import ValidationError

from stream.core.deployment import Deployment
from stream.core.standdowns import Standdown
from stream.core.state import Activation, Config, CoreState
from stream.core.step import Step, finish, step
from stream.feeds.eido import parse_timestamp
from stream.feeds.hl7 import ingest_hl7, split_message
from stream.feeds.ingest import ingest_cad
from stream.model.errors import Rejected
from stream.model.events import AckMessage, CoreInput, DeadLetter, NotificationIntent, ShootingEvent
from stream.model.timeline import TaskCreated

DEFAULT_TAIL = timedelta(hours=2)
REPLAY_HL7_KEY = b"vigil-replay-visit-key"  # offline replays need stable ids, not a secret key
ACK_RESPONSES = ("ack", "on_my_way", "unable")


@dataclass(frozen=True)
class ScenarioLine:
    """One input of a scenario."""

    number: int
    at: datetime
    source: str
    data: dict[str, Any]


PEOPLE_CHANNELS = ("push", "sms", "email")


def parse_line(number: int, text: str) -> ScenarioLine:
    """A scenario line; raises ``Rejected`` naming what is wrong with it."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"not JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise Rejected("not_an_object", "a scenario line is a JSON object")
    at = parse_timestamp(obj.get("at"), "at")
    source = obj.get("source")
    if source not in ("eido", "hl7", "csv", "ack"):
        raise Rejected("bad_source", f"source {source!r} is not one of eido, hl7, csv, ack")
    if source == "ack":
        if not isinstance(obj.get("ref"), str) or not isinstance(obj.get("team"), str):
            raise Rejected("bad_ack", "an ack line needs string fields ref and team")
        if obj.get("response", "ack") not in ACK_RESPONSES:
            raise Rejected("bad_ack", f"an ack line's response is one of {', '.join(ACK_RESPONSES)}, not {obj.get('response')!r}")
    elif "payload" not in obj:
        raise Rejected("missing_payload", f"a {source} line needs a payload")
    return ScenarioLine(number, at, source, obj)


def read_scenario(lines: Iterable[str], err: TextIO | None = None) -> list[ScenarioLine]:
    """Every good line, in time order (stable); bad ones are reported on ``err`` with their number."""
    good = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            good.append(parse_line(number, text))
        except Rejected as exc:
            if err is not None:
                err.write(f"line {number}: {exc.reason}: {exc.detail}\n")
    return sorted(good, key=lambda line: line.at)


def hl7_key() -> bytes:
    """The HL7 visit key for replays: the deployment's when set, else a fixed one."""
    value = os.environ.get("VIGIL_HL7_SECRET")
    return value.encode() if value else REPLAY_HL7_KEY


def to_event(line: ScenarioLine, deployment: Deployment, secret: bytes) -> ShootingEvent | DeadLetter | None:
    """The shooting event of a report line (None for a well-formed non-shooting)."""
    payload = line.data["payload"]
    rules = deployment.classification
    if line.source == "eido":
        outcome = ingest_cad(payload, rules, line.at)
    elif line.source == "hl7":
        outcome = ingest_hl7(str(payload), rules, secret, line.at)
    else:
        from stream.feeds.opendata import ingest_csv_row

        if not isinstance(payload, dict):
            return DeadLetter(source="csv", reason="bad_payload", detail="a csv payload is an object of column: value", excerpt=str(payload)[:200], received_at=line.at)
        outcome = ingest_csv_row(payload, rules, line.at)
    return outcome if isinstance(outcome, ShootingEvent | DeadLetter) else None


@dataclass
class Hl7Refs:
    """The keyed ref of each HL7 arrival a replay or drill sent, by its MSH-10. A planner's ack or expectation
    names a message by the control id they wrote; downstream of the adapter the message is only its keyed
    hash (MSH-10 may hold anything a sender typed, a record number too)."""

    by_control_id: dict[str, str] = field(default_factory=dict)

    def remember(self, line: ScenarioLine, event: ShootingEvent | DeadLetter | None) -> None:
        """Note the ref of an HL7 line's arrival under the line's control id."""
        if line.source == "hl7" and isinstance(event, ShootingEvent):
            control_id = split_message(str(line.data["payload"])).field("MSH", 10).strip()
            self.by_control_id[control_id] = event.ref

    def ref(self, named: str) -> str:
        """The ref the core knows for ``named``: an arrival's keyed ref for its control id, else ``named``."""
        return self.by_control_id.get(named, named)


def notification_line(intent: NotificationIntent, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The replay output of one notification: a team's alert, or (``--people``) one person's page."""
    if intent.person is not None:
        return {
            "at": intent.created_at.isoformat(), "activation": intent.activation_id, "team": intent.team,
            "person": intent.person, "name": (names or {}).get(intent.person, intent.person), "channel": intent.channel,
            "language": intent.language, "step": intent.step,
        }
    return {
        "at": intent.created_at.isoformat(),
        "activation": intent.activation_id,
        "refs": list(intent.refs),
        "team": intent.team,
        "rule": intent.protocol,
        "step": intent.step,
        "flags": list(intent.flags),
        "message": f"{intent.title}\n{intent.body}",
        **({"stood_down": intent.stood_down_team} if intent.stood_down_team else {}),
    }


@dataclass
class Replay:
    """A replay in progress: the core's state and the config, fed line by line, one step per input."""

    deployment: Deployment
    state: CoreState
    secret: bytes
    config: Config | None = None  # the deployment's, unless given
    people: bool = False  # also the pages of each person (the deployment's rosters; see ``people_config``)
    sent: bool = False  # exactly what a worker would send (pages and answers updates; no team alert of a paged team)
    forgotten: dict[str, Activation] | None = None  # when a dict, every activation the steps forgot goes there
    tasks: list[TaskCreated] = field(default_factory=list)  # every follow-up task the steps made (`vigil replay --tasks`)
    task_notices: bool = False  # also each follow-up task's reminder and overdue notice (`vigil rules test`)
    hl7_refs: Hl7Refs = field(default_factory=Hl7Refs)

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = people_config(self.deployment) if self.people else Config(self.deployment.coverage, self.deployment.protocols)

    def feed(self, line: ScenarioLine, err: TextIO | None = None) -> list[NotificationIntent]:
        """What the line causes, after the escalations due before it (nothing for a non-shooting)."""
        item = self.input_of(line, err)
        return self.apply(item, line.at, err, line.number) if item is not None else []

    def input_of(self, line: ScenarioLine, err: TextIO | None = None) -> CoreInput | None:
        """The core input of a scenario line; None (and a line on ``err``) for one the core never sees."""
        if line.source == "ack":
            data = line.data
            try:
                ack = AckMessage(ref=self.hl7_refs.ref(data["ref"]), team=data["team"], response=data.get("response", "ack"),
                                 person=data.get("person"))
            except ValidationError as exc:
                _report(err, line.number, f"bad_ack: {exc.errors()[0]['msg']}")
                return None
            return CoreInput(type="ack", ack=ack)
        event = to_event(line, self.deployment, self.secret)
        self.hl7_refs.remember(line, event)
        if isinstance(event, DeadLetter):
            _report(err, line.number, f"{event.reason}: {event.detail}")
            return None
        return CoreInput(type="event", event=event) if event is not None else None

    def apply(self, item: CoreInput, at: datetime, err: TextIO | None = None, number: int | None = None) -> list[NotificationIntent]:
        """One step of the core at ``at``; the notifications it decided."""
        assert self.config is not None
        self.state, done = step(self.state, item, at, self.config)
        return self._kept(done, err, number)

    def finish(self, until: datetime) -> list[NotificationIntent]:
        """Run the clock to ``until``: the escalations still due fire."""
        assert self.config is not None
        self.state, done = finish(self.state, until, self.config)
        return self._kept(done)

    def _kept(self, done: Step, err: TextIO | None = None, number: int | None = None) -> list[NotificationIntent]:
        if self.forgotten is not None:
            self.forgotten.update((a.id, a) for a in done.forgotten)
        self.tasks += [r for r in done.outcome.timeline if isinstance(r, TaskCreated)]
        if done.outcome.problem and number is not None:
            _report(err, number, done.outcome.problem)
        if self.sent:
            return done.outcome.intents
        # the teams' alerts (sent, or recorded for a team whose people are paged), then each page with --people
        alerts = [i for i in done.outcome.told + done.outcome.intents if i.purpose == "alert" and (i.person is None or self.people)]
        if self.task_notices:
            alerts += [i for i in done.outcome.intents if i.task_id is not None]
        return sorted(alerts, key=lambda i: (i.created_at, i.person is not None))


def _report(err: TextIO | None, number: int, problem: str) -> None:
    if err is not None:
        err.write(f"line {number}: {problem}\n")


def people_config(deployment: Deployment, channels: dict[str, tuple[str, ...]] | None = None) -> Config:
    """The core's config with the deployment's rosters: every roster person paged on ``channels`` (the
    contacts file's), or, without a contacts file, as if each had push, SMS and e-mail."""
    everyone = {p.id: PEOPLE_CHANNELS for roster in deployment.rosters.values() for p in roster.people}
    return Config(deployment.coverage, deployment.protocols, rosters=deployment.rosters,
                  channels=channels if channels is not None else everyone)


def person_names(deployment: Deployment) -> dict[str, str]:
    """Person id → display name, across the deployment's rosters."""
    return {p.id: p.name or p.id for roster in deployment.rosters.values() for p in roster.people}


def replay(lines: Iterable[str], deployment: Deployment, until: datetime | None = None, err: TextIO | None = None,
           people: bool = False, standdowns: tuple[Standdown, ...] = (), tasks: list[TaskCreated] | None = None,
           task_notices: bool = False) -> list[NotificationIntent]:
    """Replay a scenario; the notifications in time order (with ``people``, each person's pages too; with
    ``task_notices``, the follow-up tasks' reminders and overdue notices too). ``standdowns``: the standdowns in force
    during it (`vigil replay --standdowns`), as the workers would have had them."""
    scenario = read_scenario(lines, err)
    run = Replay(deployment, CoreState(), hl7_key(), people=people, task_notices=task_notices)
    if standdowns:
        assert run.config is not None
        run.config = replace(run.config, standdowns=standdowns)
    out: list[NotificationIntent] = []
    for line in scenario:
        out += run.feed(line, err)
    end = until or ((scenario[-1].at + DEFAULT_TAIL) if scenario else None)
    if end is not None:
        out += run.finish(end)
    if tasks is not None:
        tasks += run.tasks
    return out


def task_line(task: TaskCreated) -> dict[str, Any]:
    """The `vigil replay --tasks` line of a task made: when, the activation, team, kind, due time and the task's id."""
    return {"at": task.at.isoformat(), "activation": task.activation_id, "team": task.team, "kind": task.task_kind,
            "rule": task.rule, "due": task.due.isoformat(), "task": task.task_id}
