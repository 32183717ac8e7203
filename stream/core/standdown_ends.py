"""The on-call team hears when a standdown window ends: a stood-down team is back on alerts, and nobody has
to remember it (Alertmanager's users asked for years for a notice when a silence ends).

``tell_ended`` runs on each clock tick (stream/core/step.py): every window that ended since the last tick
(``CoreState.standdowns_checked_at``) becomes a notice to the on-call teams, paged to whoever of them is on
call now (their primary's first channel; a team without a roster: its shared recipients). The notice's id is
(standdown, window end, team, person, channel): a tick re-read after a worker's death makes the same ids, and
dispatch sends none twice. A worker that was down longer than ``LOOK_BACK`` does not announce older ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from stream.core import paging
from stream.core.phrases import phrase
from stream.core.standdowns import Standdown, ended_between
from stream.core.state import Config, CoreState, Outcome
from stream.model.events import NotificationIntent, stable_id
from stream.model.timeline import IntentCreated

LOOK_BACK = timedelta(hours=1)
PROTOCOL = "standdown"  # the notices' protocol: no planner protocol decided them


def tell_ended(state: CoreState, now: datetime, config: Config) -> Outcome:
    """Notices of the standdown windows that ended in (the last check, ``now``]; moves the check to ``now``."""
    outcome = Outcome()
    checked = state.standdowns_checked_at
    if checked is not None and now <= checked:
        return outcome
    state.standdowns_checked_at = now
    if checked is None or not config.standdowns:
        return outcome  # a fresh state starts from now: ends before it are not news
    for standdown, end in ended_between(config.standdowns, max(checked, now - LOOK_BACK), now, config.protocols.zone):
        for team in config.on_call_teams:
            notices = _notices(standdown, end, team, now, config)
            outcome.intents += notices
            outcome.timeline += [_record(n) for n in notices]
    return outcome


def _notices(standdown: Standdown, end: datetime, team: str, now: datetime, config: Config) -> list[NotificationIntent]:
    """One notice to the on-call team: its primary on call now (first channel), else its shared recipients."""
    roster = paging.paged(team, config)
    targets: list[tuple[str | None, str | None, str]] = [(None, None, "en")]
    if roster is not None:
        plan = paging.plan_pages(roster, "-", team, "initial", now, None, config)
        first = plan.attempts[0] if plan.attempts else None
        if first is not None:
            targets = [(first.person, first.channel, paging.language_of(config, team, first.person))]
    local = end.astimezone(config.protocols.zone)
    return [
        NotificationIntent(
            intent_id=stable_id("int", standdown.id, "ended", end.isoformat(), team, person or "-", channel or "-"),
            activation_id=standdown.id, team=team, protocol=PROTOCOL, step="initial",
            title=phrase("standdown.ended.title", language, subject=standdown.subject),
            body=phrase("standdown.ended.body", language, subject=standdown.subject, reason=standdown.reason, at=f"{local:%H:%M}"),
            created_at=now, person=person, channel=channel, language=language, purpose="notice",
        )
        for person, channel, language in targets
    ]


def _record(intent: NotificationIntent) -> IntentCreated:
    return IntentCreated(
        entry_id=stable_id("tl", intent.activation_id, "intent", intent.intent_id), activation_id=intent.activation_id, at=intent.created_at,
        intent_id=intent.intent_id, team=intent.team, protocol=intent.protocol, step=intent.step, ack_deadline=None, escalates_to=(),
        person=intent.person, channel=intent.channel, language=intent.language, purpose=intent.purpose,
    )
