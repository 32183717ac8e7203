"""The local phone inbox: an HTTP endpoint that stands in for the teams' phones.

Apprise's ``json://host:port/phone/<recipient>`` posts ``{"version","title","message","attachments",
"type"}`` here; the inbox stores each message with the moment it arrived and lists them as JSON
(``GET /messages``) and as a page (``GET /``).

SMS phones: ``sms_url(recipient, phone)`` is the same webhook with the phone's number (E.164) as an extra
payload field ``to`` (Apprise's ``?:to=``), so each message it gets knows its number, and the reply webhook
finds the number in the contacts file (``apprise_adapter.sms_phones``). The inbox then plays the SMS gateway
both ways: ``reply(message, body)`` (or ``POST /phone/<recipient>/reply``) hands a reply to ``sms_gateway``,
set by whoever plays the gateway's inbound side (the demo posts it, signed like Twilio's, to ``vigil web``'s
``/sms/inbound``: stream/devtools/sms_gateway.py), and stores the reply and the confirmation it brings back
as the phone shows them.

Drills stand in for a bad gateway: ``failures_left`` answers the next posts with 503, ``fail_until`` answers
every post with 503 until a moment (an outage of the whole gateway, also started over HTTP with ``POST
/drill/outage?seconds=N`` for a `vigil inbox` process; ``seconds=0`` ends it), ``slow`` holds a recipient's
posts for a while before storing and answering them.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from stream.ops.http import start_site

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class InboxMessage:
    """One alert as a phone received it."""

    recipient: str
    title: str
    body: str
    type: str  # Apprise's notify type; "sent" for a reply the phone sent (SMS)
    received_at: float
    phone: str | None = None  # an SMS phone's number (E.164): the payload's ``to``


# An SMS reply handed to the gateway: the message it answers and the text typed; the text the gateway sends back.
SmsGateway = Callable[[InboxMessage, str], Awaitable[str]]
MAX_REPLY_CHARS = 1600  # Twilio's longest message


_LINK = re.compile(r"https?://[^\s<>\"']+")


def _linked(body: str) -> str:
    """A message body as HTML, its links (the alerts' answer links) made clickable, as a phone shows them."""
    escaped = html.escape(body)
    return _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)


class PhoneInbox:
    """An aiohttp server that stores the alerts it receives; optionally appends them to a JSONL file."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, journal: Path | None = None):
        self.host = host
        self.port = port
        self.journal = journal
        self.messages: list[InboxMessage] = []
        self.failures_left = 0  # drills and tests: answer this many posts with 503 before accepting again
        # drills and tests: a whole-gateway outage, every post answered 503 until this unix time (a count of
        # failures cannot say "down for a minute": how many posts a minute brings depends on the retries)
        self.fail_until = 0.0
        self.refused = 0  # posts answered 503 by a drill, so a chaos run can show the outage was real
        # drills and tests: recipient → seconds to hold a post before storing it and answering 200, like a slow
        # SMS gateway; the message is stored even if the sender gave up waiting, as a gateway would still deliver it
        self.slow: dict[str, float] = {}
        # the SMS gateway's inbound side: takes a phone's reply, returns the confirmation the phone gets back
        self.sms_gateway: SmsGateway | None = None
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The inbox's HTTP address."""
        return f"http://{self.host}:{self.port}"

    def apprise_url(self, recipient: str) -> str:
        """The Apprise URL that delivers to ``recipient``'s phone in this inbox."""
        return f"json://{self.host}:{self.port}/phone/{recipient}"

    def sms_url(self, recipient: str, phone: str) -> str:
        """The Apprise URL of an SMS phone in this inbox: ``recipient``'s, its number ``phone`` (E.164) sent as the
        payload's ``to`` with every message, as an SMS gateway is told the number it texts."""
        return f"{self.apprise_url(recipient)}?:to={quote(phone, safe='')}"

    async def _receive(self, request: web.Request) -> web.Response:
        received_at = time.time()
        if self.failures_left > 0 or received_at < self.fail_until:
            self.failures_left = max(0, self.failures_left - 1)
            self.refused += 1
            return web.json_response({"error": "inbox unavailable (drill)"}, status=503)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": f"body over {MAX_BODY_BYTES} bytes"}, status=413)
        try:
            payload = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
            return web.json_response({"error": "expected an object with a 'message' string"}, status=400)
        recipient = request.match_info["recipient"]
        hold = self.slow.get(recipient, 0.0)
        if hold > 0:
            await asyncio.sleep(hold)
            received_at = time.time()  # the phone has it only once the slow gateway hands it over
        phone = payload.get("to")
        message = InboxMessage(
            recipient=recipient,
            title=str(payload.get("title") or ""),
            body=payload["message"],
            type=str(payload.get("type") or "info"),
            received_at=received_at,
            phone=phone if isinstance(phone, str) else None,
        )
        await self._store(message)
        return web.json_response({"stored": len(self.messages)})

    async def _store(self, message: InboxMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        if self.journal is not None:
            with open(self.journal, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(message)) + "\n")

    async def reply(self, message: InboxMessage, body: str) -> str:
        """Reply ``body`` to an SMS ``message`` through the gateway, as its phone's owner would: the reply and the
        gateway's confirmation are stored as the phone shows them; returns the confirmation. ``ValueError`` when
        the message is not an SMS; ``LookupError`` when nobody plays the gateway."""
        if message.phone is None:
            raise ValueError(f"the message to {message.recipient} is not an SMS: it has no phone number to reply from")
        if self.sms_gateway is None:
            raise LookupError("no SMS gateway takes replies in this inbox")
        await self._store(InboxMessage(message.recipient, "", body, "sent", time.time(), message.phone))
        confirmation = await self.sms_gateway(message, body)
        await self._store(replace(message, title="", body=confirmation, type="info", received_at=time.time()))
        return confirmation

    async def _reply(self, request: web.Request) -> web.Response:
        recipient = request.match_info["recipient"]
        body = str((await request.post()).get("body", "")).strip()
        latest = next((m for m in reversed(self.messages) if m.recipient == recipient and m.phone and m.type != "sent"), None)
        if latest is None:
            return web.json_response({"error": f"{recipient} has received no SMS to reply to"}, status=404)
        if not 0 < len(body) <= MAX_REPLY_CHARS:
            return web.json_response({"error": f"a reply is 1 to {MAX_REPLY_CHARS} characters"}, status=400)
        try:
            confirmation = await self.reply(latest, body)
        except LookupError as exc:
            return web.json_response({"error": str(exc)}, status=503)
        if "text/html" in request.headers.get("Accept", ""):  # the page's reply box: back to the inbox, reply and answer in it
            raise web.HTTPSeeOther("/")
        return web.json_response({"confirmation": confirmation})

    def start_outage(self, seconds: float) -> float:
        """Answer every post with 503 for the next ``seconds`` (0 ends an outage now); returns its end (unix time)."""
        self.fail_until = time.time() + seconds if seconds > 0 else 0.0
        return self.fail_until

    async def _outage(self, request: web.Request) -> web.Response:
        try:
            seconds = float(request.query.get("seconds", ""))
        except ValueError:
            seconds = float("nan")
        if not 0 <= seconds <= 86_400:  # also refuses NaN
            return web.json_response({"error": "seconds must be a number from 0 to 86400"}, status=400)
        return web.json_response({"fail_until": self.start_outage(seconds), "refused": self.refused})

    async def _list(self, request: web.Request) -> web.Response:
        recipient = request.query.get("recipient")
        rows = [asdict(m) for m in self.messages if recipient in (None, m.recipient)]
        return web.json_response(rows)

    def _reply_form(self, message: InboxMessage) -> str:
        # an SMS phone answers by reply, like the link: the form posts to this inbox, which plays the gateway
        if message.phone is None or message.type == "sent" or self.sms_gateway is None:
            return ""
        action = f"/phone/{quote(message.recipient)}/reply"
        return (f'<form method="post" action="{html.escape(action)}"><input name="body" size="8" placeholder="2">'
                "<button>Reply by SMS</button></form>")

    async def _page(self, request: web.Request) -> web.Response:
        items = "".join(
            f"<li><b>{html.escape(m.recipient)}</b> {time.strftime('%H:%M:%S', time.localtime(m.received_at))}"
            f"{' (sent)' if m.type == 'sent' else ''}<h3>{html.escape(m.title)}</h3><pre>{_linked(m.body)}</pre>"
            f"{self._reply_form(m)}</li>"
            for m in reversed(self.messages)
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Vigil phone inbox</title></head><body><h1>Phone inbox ({len(self.messages)})</h1>"
            f"<ul>{items}</ul></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    def app(self) -> web.Application:
        """The aiohttp application."""
        application = web.Application(client_max_size=MAX_BODY_BYTES)
        application.router.add_post("/phone/{recipient}", self._receive)
        application.router.add_post("/phone/{recipient}/reply", self._reply)
        application.router.add_get("/messages", self._list)
        application.router.add_post("/drill/outage", self._outage)
        application.router.add_get("/", self._page)
        return application

    async def start(self) -> str:
        """Start serving; binds a free port when ``port`` is 0. Returns the base URL."""
        self._runner, self.port = await start_site(self.app(), self.host, self.port)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` messages arrived; False when ``timeout`` passes first."""
        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.messages) >= count), timeout)
            except TimeoutError:
                return False
        return True
