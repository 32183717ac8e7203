"""The rest of the activation hears who is going: answers shared as one coalesced update.

When someone answers (acknowledged, on the way, can't respond), the answer waits as ``News`` on the
activation; the first one starts a window of ``answers_coalesce_seconds`` (protocol file), and when it ends
every answer of the window goes out as one short update ("Ana R., vi-north-camden: on the way, 21:14"):

- to the other people paged for the answering team (a person does not hear their own answer);
- to the other teams told in the activation, when the protocol they were told under shares answers with
  their audience (``share_answers_with``): their paged people, or their shared recipients;
- a team escalated to because another did not answer hears, when that team answers after all, to stand
  down (whatever its protocol shares: it is the end of its call).

Each update is a ``NotificationIntent`` with ``purpose`` answers or stand_down and a deterministic id
(activation, team, update number, person).
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

from stream.core.messages import place_name
from stream.core.paging import language_of, paged, people_paged
from stream.core.phrases import drilled, phrase
from stream.core.state import Activation, Config, CoreState, News
from stream.model.events import NotificationIntent, stable_id

NEWS = "news"  # the page-timer key of an activation's coalesced update


def note(state: CoreState, activation: Activation, news: News, config: Config) -> None:
    """Keep an answer for the next update; the first of a window schedules the update."""
    if not activation.news:
        due = news.at + timedelta(seconds=config.protocols.spec.answers_coalesce_seconds)
        heapq.heappush(state.page_timers, (due, activation.id, NEWS, activation.news_sent))
    activation.news = (*activation.news, news)


def _line(news: News, language: str, config: Config) -> str:
    at = news.at.astimezone(config.protocols.zone).strftime("%H:%M")
    answer = phrase(f"answer.{news.response}", language)
    if news.person is None:
        return phrase("answers.team_line", language, team=news.team, answer=answer, at=at)
    return phrase("answers.line", language, name=news.name, team=news.team, answer=answer, at=at)


def _update(activation: Activation, team: str, person: str | None, batch: tuple[News, ...], number: int, at: datetime,
            config: Config) -> NotificationIntent | None:
    """One recipient's update: the answers not their own; stand down when their team was escalated to."""
    told = [n for n in batch if person is None or n.person != person]
    if not told:
        return None
    language = language_of(config, team, person) if person else "en"
    stand_down = [n for n in told if team in n.stand_down]
    lines = [phrase("stand_down.body", language, team=n.team) for n in stand_down]
    lines += [_line(n, language, config) for n in told]
    lines.append(phrase("answers.ref", language, ref=activation.id))
    key = "stand_down.title" if stand_down else "answers.title"
    notice = activation.notices[team]
    title, body = phrase(key, language, place=place_name(activation)), "\n".join(lines)
    if activation.drill:  # every message of a drill says so, the updates too
        title, body = drilled(title, body, language)
    return NotificationIntent(
        intent_id=stable_id("int", activation.id, team, "answers", number, person or "-"), activation_id=activation.id, team=team,
        protocol=notice.protocol, step="update", refs=tuple(activation.refs), flags=tuple(activation.flags),
        title=title, body=body, created_at=at,
        person=person, channel=(config.channels.get(person) or (None,))[0] if person else None, language=language,
        purpose="stand_down" if stand_down else "answers", drill=activation.drill,
    )


def _hears(activation: Activation, team: str, batch: tuple[News, ...], config: Config) -> bool:
    if any(team in n.stand_down for n in batch):
        return True
    protocol = config.protocols.by_id.get(activation.notices[team].protocol)
    audience = config.coverage.teams[team].audience.value if team in config.coverage.teams else "oncall"
    return protocol is not None and audience in protocol.share_answers_with


def fire(activation: Activation, number: int, at: datetime, config: Config) -> list[NotificationIntent]:
    """The update of the answers waiting on the activation (a stale tick, an update already sent: none)."""
    if number != activation.news_sent or not activation.news:
        return []
    batch, activation.news, activation.news_sent = activation.news, (), activation.news_sent + 1
    updates: list[NotificationIntent] = []
    for team in activation.notices:
        if not _hears(activation, team, batch, config):
            continue
        recipients: list[str | None] = list(people_paged(activation, team)) if paged(team, config) else [None]
        for person in recipients:
            update = _update(activation, team, person, batch, number, at, config)
            if update is not None:
                updates.append(update)
    return updates
