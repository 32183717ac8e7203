"""Drills: scenario files run through a live deployment (real broker, real workers) on stream time.

`vigil rules test` runs the scenarios through the core alone; a drill sends the same inputs through the
topics to workers started with ``--stream-time``, whose clock is the records' timestamps, so a
scenario's evening takes milliseconds and its deadlines fall exactly where the replay puts them.

One deployment's state is shared by every scenario sent to it, so the drill lays the scenarios out one
after another in time: each is moved by whole weeks of local wall-clock time (same weekday, same hour,
so shifts and school hours still apply) to start after the previous one's end plus the longest
look-back of any rule; a scenario whose core makes follow-up tasks runs on until the last is due (its reminders
and overdue notices are what a worker sends too). A shift is taken only where the replay of the moved scenario notifies the same
teams, with the same rules and steps at the same offsets as the original: a daylight-saving scenario
therefore lands on the same transition a year or more later.

The driver feeds lines in time order and waits until each input that reaches the activation agent is
on the ``events`` topic before sending the next, as a real feed, seconds apart, would be; inputs from
different topics can then not overtake each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream.core.deployment import Deployment
from stream.core.replay import Hl7Refs, ScenarioLine, hl7_key, to_event
from stream.core.scenarios import Scenario, run_scenario, scenario_line
from stream.core.state import MIN_RETENTION
from stream.model.events import AckMessage, CoreInput, NotificationIntent, ShootingEvent
from stream.ops.kafka import Topics

GAP = MIN_RETENTION + timedelta(hours=1)  # between one scenario's end and the next one's start
MAX_WEEKS = 53 * 12  # how far a scenario may be moved looking for an equivalent week


def shift_time(at: datetime, weeks: int, zone: ZoneInfo) -> datetime:
    """``at`` moved by whole weeks of local wall-clock time (an ambiguous hour keeps its fold)."""
    local = at.astimezone(zone)
    moved = (local.replace(tzinfo=None) + timedelta(weeks=weeks)).replace(tzinfo=zone, fold=local.fold)
    return moved.astimezone(at.tzinfo)


def shift_scenario(scenario: Scenario, weeks: int, zone: ZoneInfo) -> Scenario:
    """The scenario with every moment in it moved by ``weeks`` (see ``shift_time``)."""

    def move(at: datetime | None) -> datetime | None:
        return shift_time(at, weeks, zone) if at is not None else None

    steps = []
    for step in scenario.steps:
        update: dict = {"at": move(step.at)}
        if step.cad is not None and step.cad.updated is not None:
            update["cad"] = step.cad.model_copy(update={"updated": move(step.cad.updated)})
        if step.close_task is not None and step.close_task.due is not None:  # the task it names moves with it
            update["close_task"] = step.close_task.model_copy(update={"due": move(step.close_task.due)})
        steps.append(step.model_copy(update=update))
    expect = [e.model_copy(update={"at": move(e.at)}) for e in scenario.expect]
    return scenario.model_copy(update={"steps": steps, "expect": expect, "until": move(scenario.until)})


def start_of(scenario: Scenario) -> datetime:
    """The scenario's first moment."""
    return min(step.at for step in scenario.steps)


def end_of(scenario: Scenario) -> datetime:
    """The scenario's last moment: ``until``, else two hours after its last input (as the replay)."""
    return scenario.until or max(step.at for step in scenario.steps) + timedelta(hours=2)


def signature(scenario: Scenario, intents: Iterable[NotificationIntent], zone: ZoneInfo) -> tuple[list, list]:
    """What a scenario does, independent of when it runs: each notification's offset from the start,
    team, rule, step, flags and local UTC offset, and the local UTC offset of each input (so that a
    daylight-saving scenario only matches on the same side of the same kind of transition)."""
    start = start_of(scenario)
    notices = sorted((i.created_at - start, i.team, i.protocol, i.step, tuple(sorted(i.flags)), i.created_at.astimezone(zone).utcoffset())
                     for i in intents)
    inputs = [step.at.astimezone(zone).utcoffset() for step in scenario.steps]
    return notices, inputs


@dataclass(frozen=True)
class PlacedScenario:
    """A scenario moved to its slot in the drill, with what the replay predicts for it there."""

    name: str
    weeks: int
    scenario: Scenario
    predicted: tuple[NotificationIntent, ...]


def place(scenarios: Iterable[tuple[str, Scenario]], deployment: Deployment) -> list[PlacedScenario]:
    """Lay the scenarios out in time, in the order of their original start (see the module docstring)."""
    zone = deployment.coverage.zone
    placed: list[PlacedScenario] = []
    free_from: datetime | None = None
    for name, scenario in sorted(scenarios, key=lambda item: start_of(item[1])):
        wanted = signature(scenario, run_scenario(scenario, deployment), zone)
        weeks = 0
        if free_from is not None and start_of(scenario) < free_from:
            weeks = -(-(free_from - start_of(scenario)).days // 7)  # ceil; refined below
        for candidate in range(weeks, weeks + MAX_WEEKS):
            moved = shift_scenario(scenario, candidate, zone)
            if free_from is not None and start_of(moved) < free_from:
                continue
            predicted = run_scenario(moved, deployment)
            if signature(moved, predicted, zone) == wanted:
                break
        else:
            raise ValueError(f"scenario {name}: no week within {MAX_WEEKS} after {free_from} gives the same notifications")
        moved = settled(moved, deployment)
        # what the worker sends: the teams' alerts, the answers updates (stream/core/answers.py), and the reminders and
        # overdue notices of the follow-up tasks it made
        placed.append(PlacedScenario(name, candidate, moved, tuple(run_scenario(moved, deployment, sent=True))))
        free_from = end_of(moved) + GAP
    return placed


def settled(scenario: Scenario, deployment: Deployment) -> Scenario:
    """The scenario run on until its follow-up tasks are all due (their overdue notices fire at the due time): the
    worker sends their reminders and notices whatever the scenario's ``until``, and they must not fall in the next
    scenario's time."""
    tasks: list = []
    run_scenario(scenario, deployment, tasks=tasks)
    last_due = max((task.due for task in tasks), default=None)
    if last_due is None or last_due <= end_of(scenario):
        return scenario
    return scenario.model_copy(update={"until": last_due + timedelta(minutes=1)})


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class LiveDriver:
    """Sends scenario inputs to a live deployment's topics, stamped with their moments (stream time)."""

    def __init__(self, bootstrap: str, topics: Topics, deployment: Deployment, hl7_secret: bytes | None = None):
        self.bootstrap = bootstrap
        self.topics = topics
        self.deployment = deployment
        self.hl7_secret = hl7_secret or hl7_key()
        self.hl7_refs = Hl7Refs()  # an ack names an arrival by its MSH-10; the core knows its keyed hash
        self.sent_to_core = 0  # inputs that reach the activation agent
        self._seen = 0
        self._producer: AIOKafkaProducer | None = None
        self._watcher: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect the producer and the watcher of the events topic."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=0)
        await self._producer.start()
        self._watcher = AIOKafkaConsumer(self.topics.events, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
                                         enable_auto_commit=False, group_id=None, fetch_max_wait_ms=10)
        await self._watcher.start()

    async def stop(self) -> None:
        """Disconnect."""
        if self._producer is not None:
            await self._producer.stop()
        if self._watcher is not None:
            await self._watcher.stop()

    async def _send(self, topic: str, key: bytes, value: bytes, at: datetime) -> None:
        assert self._producer is not None, "start() first"
        await self._producer.send_and_wait(topic, value, key=key, timestamp_ms=_ms(at))

    async def _wait_for_core(self, timeout: float = 30.0) -> None:
        """Until the events topic holds every input sent to the core so far."""
        assert self._watcher is not None, "start() first"
        deadline = time.monotonic() + timeout
        while self._seen < self.sent_to_core:
            if time.monotonic() > deadline:
                raise TimeoutError(f"events topic has {self._seen} of {self.sent_to_core} inputs after {timeout:.0f} s")
            batches = await self._watcher.getmany(timeout_ms=100)
            self._seen += sum(len(records) for records in batches.values())

    async def feed(self, line: ScenarioLine) -> None:
        """Send one input as its source would: EIDO to the CAD topic, an HL7 arrival (parsed and stripped,
        as the MLLP listener does) to the arrivals topic, an answer to the acks topic."""
        if line.source == "ack":
            ack = AckMessage(ref=self.hl7_refs.ref(line.data["ref"]), team=line.data["team"], response=line.data.get("response", "ack"))
            await self._send(self.topics.acks, ack.ref.encode(), ack.model_dump_json().encode(), line.at)
            self.sent_to_core += 1
        elif line.source == "eido":
            payload = line.data["payload"]
            raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            await self._send(self.topics.cad, b"cad", raw, line.at)
            self.sent_to_core += isinstance(to_event(line, self.deployment, self.hl7_secret), ShootingEvent)
        elif line.source == "hl7":
            event = to_event(line, self.deployment, self.hl7_secret)
            self.hl7_refs.remember(line, event)
            if isinstance(event, ShootingEvent):  # the listener answers anything else itself
                await self._send(self.topics.hospital_arrivals, event.hospital.encode() if event.hospital else b"",
                                 event.model_dump_json().encode(), line.at)
                self.sent_to_core += 1
        else:
            raise ValueError(f"a live drill does not send {line.source} lines")
        await self._wait_for_core()

    async def tick(self, at: datetime) -> None:
        """Move the core's stream time to ``at``: escalations due by then fire."""
        await self._send(self.topics.events, self.deployment.jurisdiction.encode(), CoreInput(type="tick").model_dump_json().encode(), at)
        self.sent_to_core += 1
        await self._wait_for_core()

    async def run(self, placed: PlacedScenario) -> None:
        """Feed one placed scenario, then run its clock to its end."""
        lines = sorted((scenario_line(n, s) for n, s in enumerate(placed.scenario.steps, start=1)), key=lambda line: line.at)
        for line in lines:
            await self.feed(line)
        await self.tick(end_of(placed.scenario))


def load_scenarios(folder: Path) -> list[tuple[str, Scenario]]:
    """Every scenario file of a folder (already checked by `vigil rules lint`/`rules test`)."""
    from stream.core.scenarios import load_yaml

    out = []
    for path in sorted(folder.glob("*.yaml")):
        data, _, problems = load_yaml(path)
        if problems:
            raise ValueError(f"{path}: {problems[0]}")
        out.append((path.stem, Scenario.model_validate(data)))
    return out
