"""Shared by the paging and answers tests: a shooting in Jordan at T0 on the bundled deployment, stepped minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stream.core.oncall import who_is_on_call
from stream.core.replay import people_config
from stream.core.state import Config, CoreState
from stream.core.step import step
from stream.feeds.ingest import ingest_cad
from stream.model.events import AckMessage, CoreInput, NotificationIntent, ShootingEvent
from tests.helpers import JORDAN, shooting

T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)  # Saturday 22:04 in Minneapolis
TEAM = "vi-north-nearnorth"  # Jordan's street team: person shot → ack within 10 minutes, then dns-oncall


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def paged(deployment) -> Config:
    """The bundled deployment's config with its rosters, every person on push, SMS and e-mail."""
    return people_config(deployment)


@pytest.fixture
def on_call(deployment) -> tuple[str, str]:
    """The primary and secondary of the street team on call at T0."""
    now = who_is_on_call(deployment.rosters[TEAM], T0, deployment.protocols.zone)
    primary, secondary = now.holder("primary"), now.holder("secondary")
    assert primary and secondary and primary != secondary
    return primary, secondary


def shot(deployment, at: datetime = T0) -> CoreInput:
    event = ingest_cad(shooting("S-1", JORDAN, updated_at=at.isoformat()), deployment.classification, at)
    assert isinstance(event, ShootingEvent)
    return CoreInput(type="event", event=event)


def answer(response: str, person: str | None, team: str = TEAM) -> CoreInput:
    return CoreInput(type="ack", ack=AckMessage(ref="S-1", team=team, response=response, person=person))


class Run:
    """The core stepped minute by minute, every intent kept."""

    def __init__(self, config: Config):
        self.config, self.state, self.sent, self.told, self.timeline = config, CoreState(), [], [], []

    def __call__(self, item: CoreInput, at: datetime) -> list[NotificationIntent]:
        self.state, done = step(self.state, item, at, self.config)
        self.sent += done.outcome.intents
        self.told += done.outcome.told
        self.timeline += done.outcome.timeline
        return done.outcome.intents

    def until(self, end: datetime, every: timedelta = timedelta(seconds=30)) -> None:
        at = self.sent[-1].created_at if self.sent else T0
        while at < end:
            at = min(end, at + every)
            self(CoreInput(type="tick"), at)


def pages(intents: list[NotificationIntent], team: str = TEAM) -> list[tuple[float, str | None, str | None]]:
    return [((i.created_at - T0).total_seconds() / 60, i.person, i.channel) for i in intents
            if i.team == team and i.purpose == "alert"]
