"""Follow-up tasks as the review pages read them (reviews/tasks.py), from records the core made (F1-F4 loaded)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from reviews.tasks import CLOSED, OPEN, OVERDUE, find_task, open_tasks, referral_text, summarise_tasks, tasks_of
from stream.model.events import Referral, TaskClose
from stream.model.timeline import TaskClosed
from tests.reviews.tasks_fixture import CHICAGO, SOUTH, STREET, T0, weekend_run
from tests.rules.followups_fixture import with_followups

MONDAY_NOON = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)


@pytest.fixture
def run(deployment, tmp_path):
    return weekend_run(deployment, with_followups(deployment, tmp_path))


def by_activation(records):
    found: dict[str, list] = {}
    for r in records:
        found.setdefault(r.activation_id, []).append(r)
    return found


def local(moment: datetime) -> str:
    return f"{moment.astimezone(CHICAGO):%a %H:%M}"


def test_an_activations_tasks_are_in_due_order_with_their_state_at_now(run) -> None:
    retaliation = run.records[-1].activation_id  # the last activation with records: the watch's check-ins
    tasks = tasks_of(by_activation(run.records)[retaliation])
    assert [(t.team, t.kind, local(t.due), t.state(MONDAY_NOON)) for t in tasks] == [
        (STREET, "retaliation_checkin", "Sun 23:25", OVERDUE),  # DNS was told Sunday night
        (STREET, "family_contact", "Mon 23:25", OPEN),
        (STREET, "retaliation_checkin", "Mon 23:25", OPEN),
        (STREET, "retaliation_checkin", "Tue 23:25", OPEN),
    ]
    assert tasks[0].overdue_told_at is not None and tasks[1].overdue_told_at is None
    # past its due time a task reads overdue even before the worker's overdue record is stored
    assert tasks[1].state(datetime(2026, 7, 6, 23, 30, tzinfo=CHICAGO)) == OVERDUE


def test_a_team_sees_its_own_open_tasks_soonest_first_and_dns_every_teams(run) -> None:
    grouped = by_activation(run.records)
    mine = open_tasks(grouped, STREET)
    assert {t.team for t in mine} == {STREET} and len(mine) == 5
    assert [t.due for t in mine] == sorted(t.due for t in mine)
    assert [t.team for t in open_tasks(grouped, SOUTH)] == [SOUTH]
    assert len(open_tasks(grouped, None)) == 6


def test_a_closing_the_core_recorded_closes_the_task_with_its_outcome_and_referrals(run) -> None:
    task = open_tasks(by_activation(run.records), STREET)[1]
    closing = TaskClose(task_id=task.task_id, ref=task.activation_id, outcome="attempted",
                        referrals=(Referral(service="housing", consent=True), Referral(service="legal", consent=False)), by="lee")
    written = run.close(closing, MONDAY_NOON + timedelta(minutes=5))
    assert [type(r) for r in written] == [TaskClosed]
    closed = find_task(by_activation(run.records)[task.activation_id], task.task_id)
    assert closed is not None and closed.state(MONDAY_NOON) == CLOSED
    assert (closed.closed.outcome, closed.closed.by) == ("attempted", "lee")
    assert [referral_text(r) for r in closed.referrals] == ["housing (consent: yes)", "legal (consent: no)"]
    assert task.task_id not in {t.task_id for t in open_tasks(by_activation(run.records), STREET)}
    # a later closing corrects the earlier one
    run.close(closing.model_copy(update={"outcome": "done", "referrals": ()}), MONDAY_NOON + timedelta(minutes=9))
    again = find_task(by_activation(run.records)[task.activation_id], task.task_id)
    assert again is not None and again.closed.outcome == "done" and again.referrals == ()


def test_records_without_a_created_task_make_no_task(run) -> None:
    first = run.tasks()[0]
    stray = TaskClosed(entry_id="x", activation_id=first.activation_id, at=T0, task_id="task-unknown", team=STREET, outcome="done")
    assert find_task([*run.records, stray], "task-unknown") is None
    assert tasks_of([]) == []


def test_the_summary_counts_completion_in_time_by_team_and_kind_and_referrals_by_service(run) -> None:
    grouped = by_activation(run.records)
    mine = open_tasks(grouped, STREET)
    contact = mine[1]  # the family contact due Monday 22:15
    checkin = next(t for t in mine if t.kind == "retaliation_checkin" and t.due.astimezone(CHICAGO).day == 6)
    run.close(TaskClose(task_id=contact.task_id, ref=contact.activation_id, outcome="done", by="lee",
                        referrals=(Referral(service="housing", consent=True), Referral(service="mental_health", consent=False))),
              MONDAY_NOON)  # before its due time (Monday 22:15)
    run.close(TaskClose(task_id=checkin.task_id, ref=checkin.activation_id, outcome="not_reachable", by="lee",
                        referrals=(Referral(service="housing", consent=True),)), checkin.due + timedelta(minutes=1))  # late
    tasks = [t for records in by_activation(run.records).values() for t in tasks_of(records)]
    summary = summarise_tasks(tasks, checkin.due + timedelta(minutes=2))
    assert [(c.team, c.kind, c.tasks, c.closed, c.closed_in_time, c.overdue) for c in summary.completion] == [
        (STREET, "family_contact", 2, 1, 1, 1),  # the other family contact (Mon 23:25) is past due by then
        (STREET, "retaliation_checkin", 3, 1, 0, 1),
        (SOUTH, "family_contact", 1, 0, 0, 1),
    ]
    assert summary.referrals["housing"] == (2, 0) and summary.referrals["mental_health"] == (0, 1)
    assert summary.referrals["legal"] == (0, 0) and summary.total_referrals == 3
