"""The one adapter around Apprise.

Recipients come from a contacts file in Apprise's YAML format, one tag per team id. Apprise throttles
each plugin object by ``request_rate_per_sec`` (5.5 s for many plugins): Vigil sets it to 0 on every
object it builds, so a second alert to the same phone does not wait; any provider limit is ours to
enforce. Only masked URLs (``url(privacy=True)``) are ever logged or recorded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from apprise import Apprise, AppriseAsset, AppriseConfig
from apprise.plugins.base import NotifyBase

from stream.events import NotificationIntent
from stream.timeline import RecipientResult

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    """The outcome of one intent's send across the team's recipients."""

    status: str
    recipients: tuple[RecipientResult, ...]


class ContactsError(ValueError):
    """A contacts file that cannot be read: names the file and the problem."""


def load_recipients(contacts: Path) -> dict[str, tuple[NotifyBase, ...]]:
    """Read an Apprise YAML contacts file into team id → plugin objects, with Apprise's wait turned off."""
    if not contacts.is_file():
        raise ContactsError(f"contacts file {contacts} does not exist")
    config = AppriseConfig(asset=AppriseAsset(async_mode=True))
    if not config.add(str(contacts)):
        raise ContactsError(f"contacts file {contacts} is not a readable Apprise configuration")
    teams: dict[str, list[NotifyBase]] = {}
    for server in config.services():
        server.request_rate_per_sec = 0
        for tag in server.tags:
            teams.setdefault(tag, []).append(server)
    if not teams:
        raise ContactsError(f"contacts file {contacts} defines no tagged recipient")
    return {team: tuple(servers) for team, servers in teams.items()}


class AppriseNotifier:
    """Sends an intent's title and body to every recipient of its team, concurrently."""

    def __init__(self, recipients: dict[str, tuple[NotifyBase, ...]], timeout: float = 10.0):
        self._recipients = recipients
        self._timeout = timeout

    def teams(self) -> set[str]:
        """Team ids that have at least one recipient."""
        return set(self._recipients)

    async def _send_one(self, server: NotifyBase, intent: NotificationIntent) -> RecipientResult:
        masked = server.url(privacy=True)
        started = time.perf_counter()
        single = Apprise()
        single.add(server)
        try:
            result = await asyncio.wait_for(
                single.async_notify(body=intent.body, title=intent.title), timeout=self._timeout
            )
            status = "delivered" if bool(result) else "failed"
        except TimeoutError:
            status = "timed_out"
        elapsed = (time.perf_counter() - started) * 1000
        log.info("notify.sent", intent_id=intent.intent_id, team=intent.team, recipient=masked, status=status)
        return RecipientResult(recipient=masked, status=status, elapsed_ms=round(elapsed, 2))

    async def send(self, intent: NotificationIntent) -> Delivery:
        """Send to all of the team's recipients; the status is delivered, partial, failed or no_recipients."""
        servers = self._recipients.get(intent.team, ())
        if not servers:
            log.warning("notify.no_recipients", intent_id=intent.intent_id, team=intent.team)
            return Delivery("no_recipients", ())
        results = tuple(await asyncio.gather(*(self._send_one(s, intent) for s in servers)))
        ok = sum(r.status == "delivered" for r in results)
        status = "delivered" if ok == len(results) else "partial" if ok else "failed"
        return Delivery(status, results)


def write_contacts(path: Path, team_urls: dict[str, list[str]]) -> None:
    """Write an Apprise YAML contacts file: each URL tagged with its team id."""
    import yaml

    urls = [{url: [{"tag": team}]} for team, team_urls_ in team_urls.items() for url in team_urls_]
    path.write_text(yaml.safe_dump({"version": 1, "urls": urls}, sort_keys=False), encoding="utf-8")
