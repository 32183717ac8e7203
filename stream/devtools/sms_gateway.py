"""The SMS gateway's inbound side, played by the demo: a phone's reply posted to ``vigil web``'s
``/sms/inbound`` exactly as Twilio posts one (its form fields, signed with ``X-Twilio-Signature``), and the
TwiML ``<Message>`` it answers taken back to the phone as Twilio would text it.

The phone inbox (notifiers/inbox.py) hands each reply here (``PhoneInbox.sms_gateway``); the webhook is
on this machine, so the signature is over its own loopback URL (reviews/web/sms.py allows plain http there).
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass, field

import aiohttp

from notifiers.inbox import InboxMessage
from reviews.sms_replies import twilio_signature

# The demo gateway's own number, the one the alerts come from and replies go to: 555-01xx is reserved for fiction.
GATEWAY_NUMBER = "+16125550199"
DEMO_ACCOUNT_SID = "AC" + "0" * 32  # Twilio's form carries the account; the webhook does not check it
_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


@dataclass
class TwilioReplies:
    """Posts replies to ``webhook_url`` signed with ``auth_token``; ``answered`` keeps (status, text the phone
    got) per reply, so the demo can show and check them."""

    webhook_url: str
    auth_token: str = field(repr=False)
    number: str = GATEWAY_NUMBER
    answered: list[tuple[int, str]] = field(default_factory=list)

    def form(self, phone: str, body: str) -> list[tuple[str, str]]:
        """Twilio's inbound message form for a reply from ``phone``: each reply a new ``MessageSid``."""
        return [("From", phone), ("To", self.number), ("Body", body), ("MessageSid", "SM" + secrets.token_hex(16)),
                ("AccountSid", DEMO_ACCOUNT_SID), ("NumMedia", "0")]

    async def __call__(self, message: InboxMessage, body: str) -> str:
        """Post the reply to ``message`` and return what the phone is texted back: the TwiML message, or the
        webhook's status when it sent none (the gateway would text nothing; the demo says why)."""
        if message.phone is None:
            raise ValueError(f"the message to {message.recipient} is not an SMS")
        form = self.form(message.phone, body)
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, self.webhook_url, form)}
        async with aiohttp.ClientSession() as session, session.post(self.webhook_url, data=form, headers=headers) as response:
            status, text = response.status, await response.text()
        said = _MESSAGE.search(text)
        answer = html.unescape(said.group(1)) if said else f"(not delivered: the webhook answered {status} {text.strip()[:80]})"
        self.answered.append((status, answer))
        return answer
