"""Follow-up tasks in the core (issue 18): F1-F4 made when teams are told, due on the local wall clock (DST-correct),
reminded to the person on call, told to DNS once when overdue, never duplicated (also after a restart), closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.followups import next_weekday_at, wall_clock_after
from stream.core.phrases import phrase
from stream.core.state import CoreState
from stream.core.state_codec import dump_state, load_state
from stream.core.step import step
from stream.feeds.ingest import ingest_cad
from stream.model.events import CoreInput, EventKind, Intent, ShootingEvent, TaskClose, stable_id
from stream.model.timeline import TaskClosed, TaskCreated, TaskOverdue
from tests.helpers import JORDAN, shooting
from tests.rules.followups_fixture import with_followups

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)  # Saturday 22:04 in Minneapolis
STREET = "vi-north-nearnorth"


@pytest.fixture
def config(deployment, tmp_path):
    return with_followups(deployment, tmp_path)


class Run:
    def __init__(self, config) -> None:
        self.config, self.state, self.sent, self.timeline = config, CoreState(), [], []

    def __call__(self, item: CoreInput, at: datetime) -> None:
        self.state, done = step(self.state, item, at, self.config)
        self.sent += done.outcome.intents
        self.timeline += done.outcome.timeline

    def until(self, end: datetime, every: timedelta = timedelta(minutes=10)) -> None:
        at = max(r.at for r in self.timeline)
        while at < end:
            at = min(end, at + every)
            self(CoreInput(type="tick"), at)

    def tasks(self) -> list[TaskCreated]:
        return [r for r in self.timeline if isinstance(r, TaskCreated)]


def shot(deployment, incident: str = "S-1", at: datetime = T0, where=JORDAN, **kw) -> CoreInput:
    event = ingest_cad(shooting(incident, where, updated_at=at.isoformat(), **kw), deployment.classification, at)
    assert isinstance(event, ShootingEvent)
    return CoreInput(type="event", event=event)


def local(moment: datetime) -> str:
    return f"{moment.astimezone(CHICAGO):%a %Y-%m-%d %H:%M %Z}"


def test_f2_a_street_team_told_of_a_person_shot_gets_a_family_contact_due_48_hours_later(deployment, config) -> None:
    run = Run(config)
    run(shot(deployment), T0)
    run(shot(deployment), T0 + timedelta(minutes=1))  # the same report again
    run(shot(deployment, at=T0 + timedelta(minutes=5)), T0 + timedelta(minutes=5))  # an update of the incident: a new decision
    assert len(run.state.activations) == 1
    assert [(t.team, t.task_kind, t.rule, local(t.due)) for t in run.tasks()] == [
        (STREET, "family_contact", "F2", "Mon 2026-07-06 22:04 CDT")]
    task = run.tasks()[0]
    assert task.task_id == stable_id("task", task.activation_id, STREET, "family_contact", task.due.isoformat())


def test_f2_hours_are_wall_clock_hours_across_the_spring_change(deployment, config) -> None:
    saturday = datetime(2026, 3, 7, 22, 0, tzinfo=CHICAGO)  # CST; Sunday 8 March 02:00 the clocks go forward
    run = Run(config)
    run(shot(deployment, at=saturday.astimezone(UTC)), saturday.astimezone(UTC))
    [task] = [t for t in run.tasks() if t.team == STREET]
    assert local(task.due) == "Mon 2026-03-09 22:00 CDT"  # 48 hours on the wall clock, 47 real ones
    assert wall_clock_after(datetime(2026, 3, 7, 2, 30, tzinfo=CHICAGO), 24, CHICAGO) == datetime(2026, 3, 8, 3, 30, tzinfo=CHICAGO)


def test_f1_a_hospital_team_gets_a_bedside_visit_24_hours_after_the_arrival(deployment, config) -> None:
    arrival = ShootingEvent(event_id="evt-h1", jurisdiction="minneapolis", source="hl7", incident_id="visit-1", ref="H-1",
                            kind=EventKind.GSW_ARRIVAL, reported_at=T0, received_at=T0, hospital="hcmc", intent=Intent.ASSAULT,
                            victim_count=1, victim_ages=(30,))
    run = Run(config)
    run(CoreInput(type="event", event=arrival), T0 + timedelta(minutes=2))
    assert [(t.team, t.task_kind, local(t.due)) for t in run.tasks()] == [("nextstep-hcmc", "bedside", "Sun 2026-07-05 22:04 CDT")]


def test_f3_a_retaliation_watch_gives_each_street_team_check_ins_at_24_48_and_72_hours_over_a_weekend(deployment, config) -> None:
    friday = datetime(2026, 7, 3, 23, 0, tzinfo=CHICAGO)
    run = Run(config)
    run(shot(deployment, "S-1", friday.astimezone(UTC)), friday.astimezone(UTC))
    flagged = (friday + timedelta(hours=20)).astimezone(UTC)  # Saturday 19:00: a second shooting nearby
    run(shot(deployment, "S-2", flagged), flagged)
    checkins = [(t.team, local(t.due)) for t in run.tasks() if t.task_kind == "retaliation_checkin"]
    assert checkins == [(STREET, "Sun 2026-07-05 19:00 CDT"), (STREET, "Mon 2026-07-06 19:00 CDT"), (STREET, "Tue 2026-07-07 19:00 CDT")]


def test_f4_the_school_team_follows_up_at_9_on_the_next_weekday(deployment, config) -> None:
    friday = datetime(2026, 7, 3, 22, 0, tzinfo=CHICAGO)
    run = Run(config)
    run(shot(deployment, at=friday.astimezone(UTC), victim_ages=[15]), friday.astimezone(UTC))  # P5: a juvenile victim
    assert [(t.team, local(t.due)) for t in run.tasks() if t.task_kind == "school_followup"] == [("mps-safety", "Mon 2026-07-06 09:00 CDT")]
    assert next_weekday_at(datetime(2026, 7, 6, 8, 0, tzinfo=CHICAGO), "09:00", CHICAGO) == datetime(2026, 7, 7, 9, 0, tzinfo=CHICAGO)


def test_a_reminder_2_hours_before_to_the_person_on_call_then_dns_once_when_overdue(deployment, config) -> None:
    run = Run(config)
    run(shot(deployment), T0)
    [task] = run.tasks()
    run.until(task.due + timedelta(hours=1))
    reminders = [i for i in run.sent if i.purpose == "task"]
    assert [(i.team, i.created_at) for i in reminders] == [(STREET, task.due - timedelta(hours=2))]
    reminder = reminders[0]  # in the language of the person on call
    assert reminder.task_id == task.task_id  # its link and "DONE K7" close this task
    assert reminder.person is not None and "Mon 06 Jul 22:04" in reminder.body and phrase("task.family_contact", reminder.language) in reminder.body
    overdue = [r for r in run.timeline if isinstance(r, TaskOverdue)]
    assert [(r.task_id, r.at, r.told) for r in overdue] == [(task.task_id, task.due, ("dns-oncall",))]
    told = [i for i in run.sent if i.purpose == "notice" and i.team == "dns-oncall"]
    assert len(told) == 1 and "family contact after the shooting in Jordan" in told[0].body


def test_a_worker_that_takes_over_sends_no_reminder_twice_and_makes_no_task_twice(deployment, config) -> None:
    run = Run(config)
    run(shot(deployment), T0)
    [task] = run.tasks()
    run.until(task.due - timedelta(hours=1))
    saved = load_state(dump_state(run.state))
    again = Run(config)
    again.state, again.timeline = saved, list(run.timeline)
    again(shot(deployment, at=T0 + timedelta(minutes=3)), task.due - timedelta(minutes=50))  # a CAD update read after the takeover
    again.until(task.due - timedelta(minutes=30))
    assert [i for i in again.sent if i.purpose == "task"] == [] and len(again.tasks()) == 1


def test_a_closed_task_is_recorded_and_neither_reminds_nor_goes_overdue(deployment, config) -> None:
    run = Run(config)
    run(shot(deployment), T0)
    [task] = run.tasks()
    close = TaskClose(task_id=task.task_id, ref="S-1", outcome="done", by="lead-nearnorth",
                      referrals=({"service": "housing", "consent": True},))
    run(CoreInput(type="task_close", task_close=close), T0 + timedelta(hours=20))
    run.until(task.due + timedelta(hours=1))
    assert not [i for i in run.sent if i.purpose in ("task", "notice")]
    [closed] = [r for r in run.timeline if isinstance(r, TaskClosed)]
    assert (closed.outcome, closed.by, [(r.service, r.consent) for r in closed.referrals]) == ("done", "lead-nearnorth", [("housing", True)])
