"""Follow-up tasks in the days after a shooting (issue 18): made by the core when teams are told, from the protocol
file's ``followups`` rules (rules/followups.py); reminded to the team's person on call before they are due; told to
the on-call team once when overdue; closed with an outcome and referrals.

- ``create`` runs after each decision (stream/core/activations.py ``handle_event``): for each team told (not an
  escalation target) and each rule that matches it, a task per due time. Its id is (activation, team, kind, due):
  the same decision again, a re-delivered report or a worker that took over makes the same ids, so a task never
  duplicates. A ``TaskCreated`` record goes on the timeline.
- Its timers share the page timers' heap (key ``task:<id>``; cursor 0: the reminder, 1: overdue), so a stale timer
  (the task closed meanwhile) is dropped when it comes up, like every other.
- ``close`` records a ``TaskClosed``; a task closed does not remind or go overdue; a later closing corrects it.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rules.followups import FollowupRule, due_times
from stream.core.messages import place_name
from stream.core.notices import intent_record, on_call_notices
from stream.core.phrases import drilled, phrase
from stream.core.state import Activation, Config, CoreState, Notice, Outcome, Task
from stream.model.events import TaskClose, stable_id
from stream.model.timeline import TaskClosed, TaskCreated, TaskOverdue

PREFIX = "task:"
REMIND, OVERDUE = 0, 1


def _matches(rule: FollowupRule, activation: Activation, notice: Notice, config: Config) -> bool:
    team = config.coverage.teams.get(notice.team)
    audience = team.audience.value if team else "oncall"
    intents = {intent for _, intent in activation.arrivals.values() if intent is not None}
    return ((not rule.notified_under or notice.protocol in rule.notified_under)
            and (rule.audience is None or audience == rule.audience)
            and (not rule.teams or notice.team in rule.teams)
            and (not rule.intents or bool(intents & set(rule.intents)))
            and (rule.flag is None or rule.flag in activation.flags))


def _moments(activation: Activation, notice: Notice, rule: FollowupRule, config: Config) -> dict[str, datetime]:
    moments = {"notified": notice.at}
    team = config.coverage.teams.get(notice.team)
    arrivals = [at for hospital, at in activation.arrived_at.items() if team is not None and hospital in team.covers.hospitals]
    if arrivals:
        moments["arrival"] = min(arrivals)
    if rule.flag is not None and rule.flag in activation.flagged_at:
        moments["flag"] = activation.flagged_at[rule.flag]
    return moments


def create(state: CoreState, activation: Activation, now: datetime, config: Config, outcome: Outcome) -> None:
    """The tasks the follow-up rules give the teams told in ``activation`` that it does not have yet."""
    followups = config.protocols.spec.followups
    zone = config.protocols.zone
    for notice in list(activation.notices.values()):
        if notice.step == "escalation":
            continue  # a team told because another did not answer: its follow-ups are that team's
        for rule in followups.tasks:
            if not _matches(rule, activation, notice, config):
                continue
            for due in due_times(rule, _moments(activation, notice, rule, config), zone):
                task_id = stable_id("task", activation.id, notice.team, rule.kind, due.isoformat())
                if task_id in activation.tasks:
                    continue
                task = Task(task_id, notice.team, rule.kind, rule.id, due, now)
                activation.tasks[task_id] = task
                outcome.timeline.append(TaskCreated(
                    entry_id=stable_id("tl", activation.id, "task", task_id), activation_id=activation.id, at=now, task_id=task_id,
                    team=task.team, task_kind=task.kind, rule=task.rule, due=due,
                ))
                _schedule(state, activation, task, now, timedelta(minutes=followups.remind_before_minutes))


def _schedule(state: CoreState, activation: Activation, task: Task, now: datetime, remind_before: timedelta) -> None:
    # in real time: a due time in the local zone minus a timedelta is wall-clock arithmetic, which across a clock change
    # would remind an hour early or late (Sunday 02:30 CST less 2 h would be 00:30 CDT, 3 real hours before)
    remind = (task.due.astimezone(UTC) - remind_before).astimezone(task.due.tzinfo)
    if remind > now:  # a task due sooner than its reminder time needs no reminder: the team has just been told
        heapq.heappush(state.page_timers, (remind, activation.id, PREFIX + task.id, REMIND))
    heapq.heappush(state.page_timers, (max(task.due, now), activation.id, PREFIX + task.id, OVERDUE))


def _texts(key: str, activation: Activation, task: Task, config: Config):
    zone = config.protocols.zone
    values = {"team": task.team, "place": place_name(activation), "ref": activation.id,
              "due": f"{task.due.astimezone(zone):%a %d %b %H:%M}", "opened": f"{activation.opened_at.astimezone(zone):%a %d %b %H:%M}"}

    def texts(language: str) -> tuple[str, str]:
        named = {**values, "task": phrase(f"task.{task.kind}", language)}
        title, body = phrase(f"{key}.title", language, **named), phrase(f"{key}.body", language, **named)
        if activation.drill:
            title, body = drilled(title, body, language)
        return title, body

    return texts


def fire(state: CoreState, activation_id: str, task_id: str, which: int, due: datetime, config: Config, outcome: Outcome) -> None:
    """A task's timer came up: its reminder to the team's person on call, or, overdue, its notice to the on-call
    teams (each once). A closed task, or a timer already fired, does nothing."""
    activation = state.activations.get(activation_id)
    task = activation.tasks.get(task_id) if activation else None
    if activation is None or task is None or task.closed_at is not None or (task.reminded if which == REMIND else task.overdue_told):
        return
    activation = state.writable(activation_id)
    if which == REMIND:
        activation.tasks[task_id] = replace(task, reminded=True)
        notices = on_call_notices(task.team, f"{task_id}\x1freminder", activation.id, task.rule, "task", due, config,
                                  _texts("task.reminder", activation, task, config))
    else:
        activation.tasks[task_id] = replace(task, overdue_told=True)
        told = tuple(t for t in config.on_call_teams if t != task.team) or config.on_call_teams
        notices = [n for team in told for n in on_call_notices(team, f"{task_id}\x1foverdue", activation.id, task.rule, "notice", due, config,
                                                               _texts("task.overdue", activation, task, config))]
        outcome.timeline.append(TaskOverdue(entry_id=stable_id("tl", activation.id, "task_overdue", task_id), activation_id=activation.id,
                                            at=due, task_id=task_id, team=task.team, told=told))
    notices = [n.model_copy(update={"drill": activation.drill, "task_id": task_id}) for n in notices]
    outcome.intents += notices
    outcome.timeline += [intent_record(n) for n in notices]


def close(state: CoreState, close: TaskClose, now: datetime) -> Outcome:
    """Close a task with its outcome and referrals (a later closing corrects the earlier one; both are kept)."""
    activation_id = state.by_ref.get(close.ref) or (close.ref if close.ref in state.activations else None)
    activation = state.activations.get(activation_id) if activation_id else None
    if activation is None or close.task_id not in activation.tasks:
        return Outcome(activation_id=activation_id, problem=f"no task {close.task_id!r} in the activation of {close.ref!r}")
    activation = state.writable(activation.id)
    task = activation.tasks[close.task_id]
    activation.tasks[close.task_id] = replace(task, closed_at=task.closed_at or now, outcome=close.outcome)
    record = TaskClosed(
        entry_id=stable_id("tl", activation.id, "task_closed", close.task_id, now.isoformat()), activation_id=activation.id, at=now,
        task_id=close.task_id, team=task.team, outcome=close.outcome, referrals=close.referrals, by=close.by, person=close.person,
    )
    return Outcome(timeline=[record], activation_id=activation.id)


def pending(activation: Activation) -> bool:
    """Whether a task of the activation still has a timer to fire (the activation must be kept for it)."""
    return any(t.closed_at is None and not t.overdue_told for t in activation.tasks.values())
