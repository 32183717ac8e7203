"""The one adapter around Apprise.

Recipients come from a contacts file in Apprise's YAML format, one tag per team id, and ``person-<id>`` for a
roster person's contact methods (a person's page reaches only theirs, on the intent's channel). Apprise throttles
each plugin object by ``request_rate_per_sec`` (5.5 s for many plugins): Vigil sets it to 0 on every
object it builds, so a second alert to the same phone does not wait; provider limits are ours to
enforce (notifiers.rate_limit). Only masked URLs (``masked_url``) are ever logged or recorded.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from apprise import Apprise, AppriseAsset, AppriseConfig
from apprise.plugins.base import NotifyBase

from notifiers.contacts import PERSON_TAG
from notifiers.rate_limit import RecipientRateLimiter
from notifiers.sms_codes import reply_line, task_reply_line
from stream.model.events import NotificationIntent, stable_id
from stream.model.timeline import RecipientResult

if TYPE_CHECKING:
    from notifiers.ack_links import AckSigner

log = structlog.get_logger(__name__)

CHANNEL_TAG = "via-"
SMS_CHANNEL = "sms"  # the `via-sms` channel: its alerts say how to answer by reply
DEFAULT_CHANNEL_ORDER = ("push", "sms", "email", "default")


@dataclass(frozen=True)
class Delivery:
    """The outcome of one intent's send across the team's recipients; ``reached_at`` is the unix time the
    first recipient was reached (None when nobody was)."""

    status: str
    recipients: tuple[RecipientResult, ...]
    reached_at: float | None = None


class DeliveryObserver(Protocol):
    """What the notifier reports as it sends (the worker's metrics implement it)."""

    def delivered(self, channel: str, outcome: str) -> None:
        """One recipient's final result: delivered, failed or timed_out."""

    def retried(self, channel: str) -> None:
        """One more attempt at a recipient."""

    def held_back(self, channel: str) -> None:
        """A send waits for its recipient's rate limit."""

    def no_recipients(self) -> None:
        """An intent's team has nobody to send to."""


class ContactsError(ValueError):
    """A contacts file that cannot be read: names the file and the problem."""


@dataclass(frozen=True)
class Recipient:
    """One phone, inbox or address of a team or a person, the channel it belongs to (its `via-*` tag), a short
    id for ack links and the review (from the masked URL, never from its secrets), and the roster person whose
    contact method it is (its one ``person-<id>`` tag; None for a team's shared phone)."""

    server: NotifyBase
    channel: str
    id: str = ""
    person: str | None = None


def _read_contacts(contacts: Path) -> tuple[dict[str, list[Recipient]], dict[str, list[Recipient]]]:
    """The contacts file's recipients by team tag and by person (``person-<id>`` tags), Apprise's wait off."""
    if not contacts.is_file():
        raise ContactsError(f"contacts file {contacts} does not exist")
    config = AppriseConfig(asset=AppriseAsset(async_mode=True))
    if not config.add(str(contacts)):
        raise ContactsError(f"contacts file {contacts} is not a readable Apprise configuration")
    teams: dict[str, list[Recipient]] = {}
    people: dict[str, list[Recipient]] = {}
    masked_seen: dict[str, int] = {}
    for server in config.services():
        server.request_rate_per_sec = 0
        names = sorted(str(tag) for tag in server.tags)  # Apprise 2 tags are AppriseTag objects
        channels = [n.removeprefix(CHANNEL_TAG) for n in names if n.startswith(CHANNEL_TAG)]
        persons = [n.removeprefix(PERSON_TAG) for n in names if n.startswith(PERSON_TAG)]
        masked = masked_url(server)
        masked_seen[masked] = masked_seen.get(masked, -1) + 1  # two URLs may mask alike
        # a URL shared by two people answers for neither of them by SMS: whose answer it was is unknown
        recipient = Recipient(server, channels[0] if channels else "default", stable_id("rcpt", masked, masked_seen[masked]),
                              persons[0] if len(persons) == 1 else None)
        for person in persons:
            people.setdefault(person, []).append(recipient)
        for name in names:
            # a `person-<id>` tag names a roster person's contact method (notifiers/contacts.py), not a team
            if not name.startswith((CHANNEL_TAG, PERSON_TAG)):
                teams.setdefault(name, []).append(recipient)
    if not teams and not people:
        raise ContactsError(f"contacts file {contacts} defines no tagged recipient")
    return teams, people


def load_recipients(contacts: Path) -> dict[str, tuple[Recipient, ...]]:
    """Read an Apprise YAML contacts file into team id → recipients, with Apprise's wait turned off.

    Each URL is tagged with its team id(s), and optionally ``via-push``, ``via-sms``, ``via-email``...
    for the channel it is (default: ``default``). URLs tagged only ``person-<id>`` are people's
    (``load_people``): a file of people only has no team recipients."""
    teams, _ = _read_contacts(contacts)
    return {team: tuple(servers) for team, servers in teams.items()}


def load_people(contacts: Path) -> dict[str, tuple[Recipient, ...]]:
    """Read the same contacts file into roster person id → their recipients (the URLs tagged ``person-<id>``),
    each on its ``via-*`` channel."""
    _, people = _read_contacts(contacts)
    return {person: tuple(servers) for person, servers in people.items()}


E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def sms_phones(*groups: Mapping[str, tuple[Recipient, ...]]) -> dict[str, frozenset[str]]:
    """Phone number (E.164) → ids of the recipients that text it, over teams' and people's recipients: the
    targets of the contacts file's SMS gateways (Apprise's Twilio plugin lists them as ``('T', '+1612...')``), and
    the ``to`` payload field of a JSON webhook (``json://host/path?:to=%2B1612...``: the local phone inbox's SMS
    phones, notifiers/inbox.py, or a gateway of one's own taking JSON), so that an SMS reply from a number finds
    the alerts sent to it."""
    phones: dict[str, set[str]] = {}
    for recipients in groups:
        for group in recipients.values():
            for recipient in group:
                for target in _phone_targets(recipient.server):
                    number = str(target[-1] if isinstance(target, tuple) and target else target)
                    if E164.fullmatch(number):
                        phones.setdefault(number, set()).add(recipient.id)
    return {number: frozenset(ids) for number, ids in phones.items()}


def _phone_targets(server: Any) -> list[Any]:
    """What a recipient texts: its plugin's targets, and a JSON webhook's ``to`` payload field."""
    extra = (getattr(server, "payload_extras", None) or {}).get("to")
    return [*(getattr(server, "targets", None) or ()), *([extra] if isinstance(extra, str) else [])]


def recipient_people(people: Mapping[str, tuple[Recipient, ...]]) -> dict[str, str]:
    """Recipient id → the roster person whose contact method it is (an SMS reply names who answered)."""
    return {r.id: r.person for group in people.values() for r in group if r.person is not None}


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per recipient, and the backoff between them (exponential, with jitter so that many
    failed sends do not all retry at the same instant)."""

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    jitter: float = 0.5

    def delay(self, attempt: int, rnd: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return base * (1 + self.jitter * (2 * rnd.random() - 1))

    async def run(self, attempt_once: Callable[[], Awaitable[str]], rnd: random.Random,
                  on_retry: Callable[[], None] | None = None) -> tuple[str, int]:
        """The retry stage of one recipient: ``attempt_once`` until it says ``delivered`` or the attempts are
        spent, with the backoff between; the last status and the number of attempts made."""
        status, attempt = "failed", 0
        for attempt in range(1, self.attempts + 1):
            if attempt > 1 and on_retry is not None:
                on_retry()
            status = await attempt_once()
            if status == "delivered":
                break
            if attempt < self.attempts:
                await asyncio.sleep(self.delay(attempt, rnd))
        return status, attempt


class AppriseNotifier:
    """Delivery as small stages for one intent: send to the team's recipients (or, for a person's page, that
    person's: ``people``, from ``load_people``; only the intent's channel when it names one) on one channel at a time
    (push, then SMS, then e-mail by default), all of a channel's recipients at once, each after its rate
    limit and with retries; the next channel only when nobody on this one was reached; every recipient's
    outcome recorded. Each recipient's message carries its own signed ack link. Dedup by intent id is the
    dispatch agent's (its table), before this. An ``observer`` (the worker's metrics) hears each
    recipient's result, each retry, each rate-limit wait and each team with nobody to send to."""

    def __init__(
        self,
        recipients: dict[str, tuple[Recipient, ...]],
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        channel_order: tuple[str, ...] = DEFAULT_CHANNEL_ORDER,
        seed: int | None = None,
        ack_links: AckSigner | None = None,
        limiter: RecipientRateLimiter | None = None,
        observer: DeliveryObserver | None = None,
        people: dict[str, tuple[Recipient, ...]] | None = None,
    ):
        self._recipients = recipients
        self._people = people or {}
        self.observer = observer
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._order = channel_order
        self._rnd = random.Random(seed)
        self._ack_links = ack_links
        self._limiter = limiter or RecipientRateLimiter()
        self._unposted: set[str] = set()  # intents being sent, none of whose posts has begun (waiting on rate limits)
        for group in (*recipients.values(), *self._people.values()):
            for recipient in group:
                # Apprise gives up reading a plugin's answer after 4 s and reports a failure, while the
                # gateway may still deliver: a retry then sends the alert twice. Our timeout is the one.
                recipient.server.socket_read_timeout = timeout
                recipient.server.socket_connect_timeout = min(timeout, recipient.server.socket_connect_timeout or timeout)

    def waiting(self, intent_id: str) -> bool:
        """Whether this intent is being sent but still waits on rate limits, no post to a phone begun: it can
        be abandoned unsent."""
        return intent_id in self._unposted

    def teams(self) -> set[str]:
        """Team ids that have at least one recipient."""
        return set(self._recipients)

    def channels(self, team: str) -> list[tuple[str, list[Recipient]]]:
        """The team's recipients grouped by channel, in the order channels are tried."""
        return self._by_channel(self._recipients.get(team, ()))

    def channels_for(self, intent: NotificationIntent) -> list[tuple[str, list[Recipient]]]:
        """Whom the intent reaches, grouped by channel in the order tried: the person's recipients when it pages
        a person, else the team's; only the intent's channel when it names one (the core cycles a person's
        channels by time: this adapter never falls through to a channel it was not given)."""
        recipients = self._people.get(intent.person, ()) if intent.person is not None else self._recipients.get(intent.team, ())
        if intent.channel is not None:
            recipients = tuple(r for r in recipients if r.channel == intent.channel)
        return self._by_channel(recipients)

    def _by_channel(self, recipients: tuple[Recipient, ...]) -> list[tuple[str, list[Recipient]]]:
        groups: dict[str, list[Recipient]] = {}
        for recipient in recipients:
            groups.setdefault(recipient.channel, []).append(recipient)
        rank = {name: n for n, name in enumerate(self._order)}
        return sorted(groups.items(), key=lambda item: rank.get(item[0], len(rank)))

    def body_for(self, recipient: Recipient, intent: NotificationIntent) -> str:
        """The intent's message for one recipient: with that recipient's own ack link, when links are on (a notice,
        such as a standdown's end, asks for no answer and has none); a task's reminder or overdue notice (its
        ``task_id`` set) with its task link instead, which closes the task (an SMS reminder: and how to close it by
        reply), never an answer link."""
        if self._ack_links is None:
            return intent.body
        if intent.task_id is not None:
            return _task_body(self._ack_links, recipient, intent)
        if intent.purpose == "notice":
            return intent.body
        # links expire on the real clock, whatever clock the worker runs on (drills run on scenario time)
        link = self._ack_links.link(intent, recipient.id, datetime.now(UTC))
        if recipient.channel == SMS_CHANNEL:  # a phone may hold several open alerts: its reply names this one
            return f"{intent.body}\n{reply_line(intent.intent_id, intent.language)}\nAnswer: {link}"
        return f"{intent.body}\nAnswer: {link}"

    async def _send_once(self, server: NotifyBase, title: str, body: str) -> str:
        single = Apprise()
        single.add(server)
        try:
            result = await asyncio.wait_for(single.async_notify(body=body, title=title), timeout=self._timeout)
        except TimeoutError:
            return "timed_out"
        return "delivered" if bool(result) else "failed"

    async def _send_with_retry(self, recipient: Recipient, intent: NotificationIntent) -> RecipientResult:
        masked = masked_url(recipient.server)
        started = time.perf_counter()
        wait = self._limiter.reserve(recipient.id, recipient.channel, intent.activation_id)
        if wait > 0:
            if self.observer is not None:
                self.observer.held_back(recipient.channel)
            log.info("notify.rate_limited", intent_id=intent.intent_id, activation_id=intent.activation_id, recipient=masked, wait_s=round(wait, 2))
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                self._limiter.refund(recipient.id)  # abandoned before it was sent: the reservation goes back
                raise
        self._unposted.discard(intent.intent_id)  # a post begins: the delivery can no longer be abandoned unsent
        body = self.body_for(recipient, intent)
        observer = self.observer
        status, attempt = await self._retry.run(lambda: self._send_once(recipient.server, intent.title, body), self._rnd,
                                                (lambda: observer.retried(recipient.channel)) if observer is not None else None)
        elapsed = (time.perf_counter() - started) * 1000
        if self.observer is not None:
            self.observer.delivered(recipient.channel, status)
        log.info("notify.sent", intent_id=intent.intent_id, activation_id=intent.activation_id, team=intent.team, recipient=masked,
                 channel=recipient.channel, status=status, attempts=attempt)
        return RecipientResult(recipient=masked, status=status, elapsed_ms=round(elapsed, 2), channel=recipient.channel, attempts=attempt,
                               recipient_id=recipient.id, waited_ms=round(wait * 1000, 2))

    async def send(self, intent: NotificationIntent) -> Delivery:
        """Send on the first channel that reaches somebody; delivered (all of that channel's recipients),
        partial (some), failed (no channel reached anyone) or no_recipients; with the moment the first
        recipient was reached."""
        self._unposted.add(intent.intent_id)
        try:
            return await self._send_on_channels(intent)
        finally:
            self._unposted.discard(intent.intent_id)

    async def _send_on_channels(self, intent: NotificationIntent) -> Delivery:
        channels = self.channels_for(intent)
        if not channels:
            if self.observer is not None:
                self.observer.no_recipients()
            log.warning("notify.no_recipients", intent_id=intent.intent_id, team=intent.team, person=intent.person, channel=intent.channel)
            return Delivery("no_recipients", ())
        results: list[RecipientResult] = []
        first_reached: list[float] = []

        async def send_one(recipient: Recipient) -> RecipientResult:
            result = await self._send_with_retry(recipient, intent)
            if result.status == "delivered" and not first_reached:
                # taken as the send returns, not after the channel's slowest recipient: the alert latency
                first_reached.append(time.time())
            return result

        for _, group in channels:
            outcome = await asyncio.gather(*(send_one(r) for r in group))
            results += outcome
            reached = sum(r.status == "delivered" for r in outcome)
            if reached:
                return Delivery("delivered" if reached == len(outcome) else "partial", tuple(results), first_reached[0])
        return Delivery("failed", tuple(results))


def _task_body(signer: AckSigner, recipient: Recipient, intent: NotificationIntent) -> str:
    """A task's reminder or overdue notice with its task link; an SMS reminder also says how to close it by reply."""
    link = signer.task_link(intent, recipient.id, datetime.now(UTC))  # the real clock, as an ack link's
    if recipient.channel == SMS_CHANNEL and intent.purpose == "task":  # the reminder: "DONE K7" closes it by reply
        return f"{intent.body}\n{task_reply_line(intent.intent_id, intent.language)}\nClose it: {link}"
    return f"{intent.body}\nClose it: {link}"


# Apprise's URL arguments that reach the gateway as given: +headers, -query arguments, :payload fields.
_CUSTOM_ARGUMENT = re.compile(r"([?&](?:\+|-|:|%2B|%2D|%3A)[^=&]*=)[^&]*", re.IGNORECASE)


def masked_url(server: Any) -> str:
    """``server.url(privacy=True)`` with the values of custom headers, query arguments and payload fields
    masked too: Apprise masks passwords and its plugins' tokens but keeps those as given, and gateways put
    API keys there (``json://host/path?+X-Api-Key=...``; found by load_tests/leak_scan.py)."""
    return _CUSTOM_ARGUMENT.sub(r"\1****", server.url(privacy=True))


def write_contacts(path: Path, team_urls: dict[str, list[str]], channels: dict[str, str] | None = None,
                   people: Mapping[str, list[tuple[str, str]]] | None = None) -> None:
    """Write an Apprise YAML contacts file: each URL tagged with its team id (and ``via-<channel>`` when
    ``channels`` names the URL's channel); ``people`` (person id → their (URL, channel) contact methods) adds
    each method tagged ``person-<id>, via-<channel>`` (notifiers/contacts.py)."""
    import yaml

    channels = channels or {}

    def tags(team: str, url: str) -> str:
        return f"{team}, {CHANNEL_TAG}{channels[url]}" if url in channels else team

    urls = [{url: [{"tag": tags(team, url)}]} for team, team_urls_ in team_urls.items() for url in team_urls_]
    urls += [{url: [{"tag": f"{PERSON_TAG}{person}, {CHANNEL_TAG}{channel}"}]}
             for person, methods in (people or {}).items() for url, channel in methods]
    path.write_text(yaml.safe_dump({"version": 1, "urls": urls}, sort_keys=False), encoding="utf-8")
