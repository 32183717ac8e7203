"""Follow-up tasks as the review pages show them (issue 18): the timeline's task records (stream/core/tasks.py makes
them) turned into one view per task: its team, kind and due time, and whether it is open, overdue or closed (with the
outcome and referrals of its latest closing, and who closed it when). Pure: records in, views out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from stream.model.events import Referral
from stream.model.timeline import TaskClosed, TaskCreated, TaskOverdue, TimelineRecord

OPEN, OVERDUE, CLOSED = "open", "overdue", "closed"
KIND_LABELS = {"bedside": "bedside visit", "family_contact": "family contact", "retaliation_checkin": "retaliation check-in",
               "school_followup": "school follow-up"}
OUTCOME_LABELS = {"done": "done", "attempted": "attempted", "declined": "declined", "not_reachable": "not reachable"}
SERVICE_LABELS = {"housing": "housing", "employment": "employment", "mental_health": "mental health", "relocation": "relocation",
                  "legal": "legal", "other": "other"}


@dataclass(frozen=True)
class Task:
    """One follow-up task of an activation, as its records leave it at ``now``."""

    task_id: str
    activation_id: str
    team: str
    kind: str
    rule: str
    due: datetime
    created_at: datetime
    overdue_told_at: datetime | None = None
    closed: TaskClosed | None = None

    def state(self, now: datetime) -> str:
        """closed once a closing is recorded; overdue when DNS was told or its due time has passed; open otherwise."""
        if self.closed is not None:
            return CLOSED
        return OVERDUE if self.overdue_told_at is not None or now >= self.due else OPEN

    @property
    def referrals(self) -> tuple[Referral, ...]:
        """The referrals of its latest closing (none while open)."""
        return self.closed.referrals if self.closed is not None else ()


def tasks_of(records: Iterable[TimelineRecord]) -> list[Task]:
    """An activation's tasks in due order (then team, kind); a later closing of a task corrects an earlier one, and a
    closing or overdue record of a task never created (a replayed or foreign id) is left out."""
    made: dict[str, TaskCreated] = {}
    overdue: dict[str, datetime] = {}
    closed: dict[str, TaskClosed] = {}
    for record in sorted(records, key=lambda r: r.at):
        if isinstance(record, TaskCreated):
            made.setdefault(record.task_id, record)
        elif isinstance(record, TaskOverdue):
            overdue.setdefault(record.task_id, record.at)
        elif isinstance(record, TaskClosed):
            closed[record.task_id] = record
    tasks = [Task(t.task_id, t.activation_id, t.team, t.task_kind, t.rule, t.due, t.at, overdue.get(t.task_id), closed.get(t.task_id))
             for t in made.values()]
    return sorted(tasks, key=lambda t: (t.due, t.team, t.kind))


def open_tasks(records_by_activation: Mapping[str, Iterable[TimelineRecord]], team: str | None) -> list[Task]:
    """The tasks not yet closed across these activations, soonest due first; only ``team``'s when it is given."""
    found = [t for records in records_by_activation.values() for t in tasks_of(records)
             if t.closed is None and (team is None or t.team == team)]
    return sorted(found, key=lambda t: (t.due, t.team, t.kind, t.activation_id))


def find_task(records: Iterable[TimelineRecord], task_id: str) -> Task | None:
    """The task ``task_id`` among an activation's records, None when it has none by that id."""
    return next((t for t in tasks_of(records) if t.task_id == task_id), None)


def referral_text(referral: Referral) -> str:
    """A referral as a person reads it: "housing (consent: yes)"."""
    return f"{SERVICE_LABELS.get(referral.service, referral.service)} (consent: {'yes' if referral.consent else 'no'})"


@dataclass(frozen=True)
class TaskCompletion:
    """One team's tasks of one kind in a summary: how many were made, closed, closed by their due time, and open now
    past it (overdue)."""

    team: str
    kind: str
    tasks: int
    closed: int
    closed_in_time: int
    overdue: int

    @property
    def percent_in_time(self) -> float | None:
        """The share of its tasks closed by their due time, in percent (None when there are none)."""
        return 100 * self.closed_in_time / self.tasks if self.tasks else None


@dataclass(frozen=True)
class TaskSummary:
    """Completion by team and kind, and the referrals made by service (with and without the person's consent)."""

    completion: list[TaskCompletion]
    referrals: dict[str, tuple[int, int]]  # service → (consent yes, consent no), every service listed

    @property
    def total_referrals(self) -> int:
        """Every referral made, consented or not."""
        return sum(yes + no for yes, no in self.referrals.values())


def summarise_tasks(tasks: Iterable[Task], now: datetime) -> TaskSummary:
    """The tasks' completion by team and kind (closed in time: its latest closing at or before its due time) and the
    referrals of their latest closings counted by service."""
    rows: dict[tuple[str, str], list[int]] = {}
    referrals = {service: [0, 0] for service in SERVICE_LABELS}
    for task in tasks:
        row = rows.setdefault((task.team, task.kind), [0, 0, 0, 0])
        row[0] += 1
        if task.closed is not None:
            row[1] += 1
            row[2] += task.closed.at <= task.due
        elif task.state(now) == OVERDUE:
            row[3] += 1
        for referral in task.referrals:
            referrals[referral.service][0 if referral.consent else 1] += 1
    completion = [TaskCompletion(team, kind, *counts) for (team, kind), counts in sorted(rows.items())]
    return TaskSummary(completion, {service: (yes, no) for service, (yes, no) in referrals.items()})


def summarise_activation_tasks(records_by_activation: Mapping[str, Iterable[TimelineRecord]], now: datetime) -> TaskSummary:
    """The summary of every task of these activations at ``now``: what the summary page shows and the tasks CSV exports."""
    return summarise_tasks([t for records in records_by_activation.values() for t in tasks_of(records)], now)


# the tasks CSV: the summary's two tables in one file, told apart by "section" ("completion": one row per team and kind;
# "referrals": one row per service, every service listed); a row leaves the other section's columns empty
TASK_CSV_COLUMNS = ("from", "to", "section", "team", "kind", "tasks", "closed", "closed_in_time", "closed_in_time_percent", "overdue",
                    "service", "consent_yes", "consent_no")


def task_csv_rows(summary: TaskSummary, first: str, last: str) -> list[dict[str, str]]:
    """The summary's rows as the tasks CSV has them, for the range ``first`` to ``last`` (its days, as written), with the
    kinds and services labelled as the summary page labels them."""
    blank = dict.fromkeys(TASK_CSV_COLUMNS, "")
    rows = [{**blank, "from": first, "to": last, "section": "completion", "team": c.team, "kind": KIND_LABELS.get(c.kind, c.kind),
             "tasks": str(c.tasks), "closed": str(c.closed), "closed_in_time": str(c.closed_in_time),
             "closed_in_time_percent": "" if c.percent_in_time is None else f"{c.percent_in_time:.0f}", "overdue": str(c.overdue)}
            for c in summary.completion]
    rows += [{**blank, "from": first, "to": last, "section": "referrals", "service": SERVICE_LABELS.get(service, service),
              "consent_yes": str(yes), "consent_no": str(no)} for service, (yes, no) in summary.referrals.items()]
    return rows
