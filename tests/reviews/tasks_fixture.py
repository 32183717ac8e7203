"""Timeline records with follow-up tasks, made by the core itself (``stream.core.step.step`` with F1-F4 loaded,
tests/rules/followups_fixture.py), for the tasks' review tests: a Saturday-night shooting by Jordan (the street team
vi-north-nearnorth gets a family contact, F2), and a second one nearby an hour later (a retaliation watch: check-ins
at 24, 48 and 72 hours, F3), and one in Midtown Phillips (vi-south-phillips: a family contact); the clock run on to Monday noon, so nothing is overdue yet but the first check-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stream.core.state import Config, CoreState
from stream.core.step import step
from stream.feeds.ingest import ingest_cad
from stream.model.events import CoreInput, ShootingEvent, TaskClose
from stream.model.timeline import TaskCreated, TimelineRecord
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, shooting

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)  # Saturday evening
NEAR_JORDAN = (JORDAN[0] + 0.002, JORDAN[1])
STREET = "vi-north-nearnorth"
SOUTH = "vi-south-phillips"


@dataclass
class TaskRun:
    """The core run over inputs, keeping its timeline."""

    config: Config
    state: CoreState = field(default_factory=CoreState)
    records: list[TimelineRecord] = field(default_factory=list)

    def __call__(self, item: CoreInput, at: datetime) -> list[TimelineRecord]:
        self.state, done = step(self.state, item, at.astimezone(UTC), self.config)
        self.records += done.outcome.timeline
        return list(done.outcome.timeline)

    def shot(self, deployment, incident: str, where, at: datetime) -> None:
        event = ingest_cad(shooting(incident, where, updated_at=at.astimezone(UTC).isoformat()), deployment.classification, at.astimezone(UTC))
        assert isinstance(event, ShootingEvent)
        self(CoreInput(type="event", event=event), at)

    def until(self, end: datetime, every: timedelta = timedelta(minutes=30)) -> None:
        at = max(r.at for r in self.records)
        while at < end:
            at = min(end, at + every)
            self(CoreInput(type="tick"), at)

    def close(self, closing: TaskClose, at: datetime) -> list[TimelineRecord]:
        """What the worker records for a closing sent from the web (the acks topic's TaskClose)."""
        return self(CoreInput(type="task_close", task_close=closing), at)

    def tasks(self) -> list[TaskCreated]:
        return [r for r in self.records if isinstance(r, TaskCreated)]


def weekend_run(deployment, config: Config, end: datetime = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)) -> TaskRun:
    """The two shootings and the clock run on to ``end`` (Monday noon by default)."""
    run = TaskRun(config)
    run.shot(deployment, "W-1", JORDAN, T0)
    run.shot(deployment, "W-2", MIDTOWN_PHILLIPS, T0 + timedelta(minutes=30))
    run.shot(deployment, "W-4", NEAR_JORDAN, T0 + timedelta(minutes=70))
    run.until(end)
    return run
