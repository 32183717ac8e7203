"""Notices: a message to whoever of a team is on call now, asking for no answer on the alert's terms (a standdown
ended, a follow-up task's reminder, an overdue task). The team's primary on call gets it on their first channel (a
team without a roster: its shared recipients), in their language; its id is deterministic from ``key``, so a step
run again by a worker that took over makes the same notice, and dispatch sends none twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from stream.core import paging
from stream.core.state import Config
from stream.model.events import NotificationIntent, stable_id
from stream.model.timeline import IntentCreated

Texts = Callable[[str], tuple[str, str]]  # language → (title, body)


def on_call_notices(team: str, key: str, activation_id: str, protocol: str, purpose: str, now: datetime, config: Config,
                    texts: Texts) -> list[NotificationIntent]:
    """The notice to ``team``'s person on call now (one intent), or to its shared recipients."""
    roster = paging.paged(team, config)
    targets: list[tuple[str | None, str | None, str]] = [(None, None, "en")]
    if roster is not None:
        plan = paging.plan_pages(roster, "-", team, "initial", now, None, config)
        first = plan.attempts[0] if plan.attempts else None
        if first is not None:
            targets = [(first.person, first.channel, paging.language_of(config, team, first.person))]
    notices = []
    for person, channel, language in targets:
        title, body = texts(language)
        notices.append(NotificationIntent(
            intent_id=stable_id("int", key, team, person or "-", channel or "-"), activation_id=activation_id, team=team,
            protocol=protocol, step="initial", title=title, body=body, created_at=now, person=person, channel=channel,
            language=language, purpose=purpose,  # type: ignore[arg-type]
        ))
    return notices


def intent_record(intent: NotificationIntent) -> IntentCreated:
    """Any intent's timeline record (an alert, a page, an update, a notice): what the review reads of it."""
    return IntentCreated(
        entry_id=stable_id("tl", intent.activation_id, "intent", intent.intent_id), activation_id=intent.activation_id, at=intent.created_at,
        intent_id=intent.intent_id, team=intent.team, protocol=intent.protocol, step=intent.step, escalated_team=intent.escalated_team,
        ack_deadline=intent.ack_deadline, escalates_to=intent.escalates_to, person=intent.person, channel=intent.channel,
        language=intent.language, purpose=intent.purpose, on_call=intent.on_call, drill=intent.drill,
        stood_down_team=intent.stood_down_team, repaged_by=intent.repaged_by, task_id=intent.task_id,
    )
