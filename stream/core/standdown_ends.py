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

from stream.core.notices import intent_record, on_call_notices
from stream.core.phrases import phrase
from stream.core.standdowns import Standdown, ended_between
from stream.core.state import Config, CoreState, Outcome
from stream.model.events import NotificationIntent

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
            outcome.timeline += [intent_record(n) for n in notices]
    return outcome


def _notices(standdown: Standdown, end: datetime, team: str, now: datetime, config: Config) -> list[NotificationIntent]:
    """One notice to the on-call team: its primary on call now (first channel), else its shared recipients."""
    local = end.astimezone(config.protocols.zone)

    def texts(language: str) -> tuple[str, str]:
        return (phrase("standdown.ended.title", language, subject=standdown.subject),
                phrase("standdown.ended.body", language, subject=standdown.subject, reason=standdown.reason, at=f"{local:%H:%M}"))

    return on_call_notices(team, f"{standdown.id}\x1fended\x1f{end.isoformat()}", standdown.id, PROTOCOL, "notice", now, config, texts)
