"""A known small case for the public site, made by the real core (tests.helpers.CoreRun: every alert delivered a second
after it is made), with follow-up tasks closed through the core as the web's closings are.

Two ISO weeks of July 2026 (W27: Mon 29 June to Sun 5 July; W28: 6 to 12 July), America/Chicago:
- W27: six person-shot reports in Near North on Saturday 4 July evening, half an hour apart at one place (six incidents:
  six activations); a person of the street team answers the first five in time, the sixth not at all;
- W27: one person shot in Longfellow (no street team: a coverage gap);
- W28: two person-shot reports in Phillips (Saturday 11 July evening), both answered in time.
The follow-up tasks (F2 family contact, F3 check-ins) are closed or left as the tests say.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from stream.core.activations import advance, handle_ack
from stream.core.replay import people_config
from stream.core.step import step
from stream.model.events import CoreInput, TaskClose
from stream.model.timeline import TaskCreated
from tests.helpers import CoreRun

CHICAGO = ZoneInfo("America/Chicago")


class PublishRun(CoreRun):
    """CoreRun with the deployment's rosters (every team's people paged, answers by a named person) that can close a
    follow-up task as the worker records a closing from the web."""

    def __init__(self, deployment):
        super().__init__(deployment)
        self.config = people_config(deployment)

    def answer_as(self, ref: str, team: str, person: str, at: datetime) -> None:
        """``person`` of ``team`` acknowledges the alert of report ``ref`` at ``at``."""
        self._keep(self.advance_to(at))
        self._keep(handle_ack(self.state, ref, team, at, self.config, "ack", person=person))

    def close(self, task: TaskCreated, at: datetime, outcome: str = "done") -> None:
        """Close ``task`` at ``at`` (its activation's id as the ref)."""
        self._keep(self.advance_to(at))
        closing = TaskClose(task_id=task.task_id, ref=task.activation_id, outcome=outcome, by="dns-demo")
        self.state, done = step(self.state, CoreInput(type="task_close", task_close=closing), at, self.config)
        self._keep(done.outcome)

    def advance_to(self, at: datetime):
        """What the clock brings about up to just before ``at``."""
        return advance(self.state, at - timedelta(microseconds=1), self.config)

    def tasks(self) -> list[TaskCreated]:
        """Every follow-up task made so far."""
        return [r for r in self.records if isinstance(r, TaskCreated)]


NEAR_NORTH = (45.0003, -93.3001)  # Jordan (tests.helpers.JORDAN)
LONGFELLOW = (44.9260, -93.2180)  # Hiawatha: no street team
PHILLIPS = (44.9530, -93.2600)  # Midtown Phillips
STREET = "vi-north-nearnorth"
SATURDAY_W27 = datetime(2026, 7, 4, 20, 0, tzinfo=CHICAGO)
SATURDAY_W28 = datetime(2026, 7, 11, 20, 0, tzinfo=CHICAGO)
NOW = datetime(2026, 7, 20, 12, 0, tzinfo=CHICAGO)  # every deadline and due time of the case has passed


def first_person(deployment, team: str) -> str:
    """The id of the first person of ``team``'s roster."""
    return deployment.rosters[team].people[0].id


def two_weeks(deployment) -> PublishRun:
    """The known small case (module docstring): W27 six Near North shootings (five answered in time by a named person,
    the sixth not at all) and one in Longfellow; W28 six in Near North and two in Phillips, all answered in time; the
    W28 Near North tasks closed an hour after they were made, every other task left open; run on to ``NOW``."""
    run = PublishRun(deployment)
    person = first_person(deployment, STREET)
    for week, start in ((27, SATURDAY_W27), (28, SATURDAY_W28)):
        for k in range(6):
            at = start + timedelta(minutes=30 * k)
            run.shooting(f"PUB-{week}-{k}", NEAR_NORTH, at)
            if week == 28 or k < 5:
                run.answer_as(f"PUB-{week}-{k}", STREET, person, at + timedelta(minutes=3))
    run.shooting("PUB-27-L", LONGFELLOW, SATURDAY_W27 + timedelta(hours=4))
    for k in range(2):
        at = SATURDAY_W28 + timedelta(hours=4, minutes=30 * k)
        run.shooting(f"PUB-28-P{k}", PHILLIPS, at)
        run.answer_as(f"PUB-28-P{k}", "vi-south-phillips", first_person(deployment, "vi-south-phillips"), at + timedelta(minutes=2))
    run.until(SATURDAY_W28 + timedelta(hours=6))
    for task in [t for t in run.tasks() if t.at >= SATURDAY_W28 and t.team == STREET]:
        run.close(task, task.at + timedelta(hours=1))
    run.until(NOW)
    return run
