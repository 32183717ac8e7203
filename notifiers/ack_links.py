"""Signed, expiring ack links: the link in an alert that lets the person who got it answer it.

A token is ``<payload>.<signature>``: the payload is compact JSON with one-letter keys, base64url
without padding; the signature is the HMAC-SHA256 of the payload's text, truncated to its first 16
bytes (128 bits, as RFC 4868's HMAC-SHA-256-128; the full 32 would add 21 characters to every link),
base64url. Nothing in the payload is read before it is authenticated. The token id is not carried: it is
``stable_id("ack", intent_id, recipient)``, recomputed on verify from fields the signature covers, so
a re-sent alert carries the same token id (and single use holds across re-sends).

Length, measured by the tests (tests/notifiers/test_ack_links.py) with a 30-character base URL,
the ids Vigil makes (``act-``/``int-`` + 20 hex), a 9-character ref and an 18-character team:
**253 characters** for the whole link with a 20-character recipient label; each further recipient
character adds 4/3 of one. A full masked Apprise URL (110-140 characters, mostly its query string of
options) makes it about 390: give the signer a short recipient label to stay under 260. A person's page
carries the roster person's id too (``p``, absent from team links and from links made before person pages,
which still verify): an 8-character id adds 20 characters.

A **task link** (``/task/<token>``, issue 18) is the same scheme for a follow-up task's reminder or overdue notice:
its payload carries the task's id (``k``) instead of a report ref (``r``), under the same signature. Each kind of
link is refused where the other is read: ``verify`` refuses a token with ``k`` (and one without ``r``),
``verify_task`` one without ``k`` (or with ``r``), so an answer link never closes a task nor a task link answers an
alert. Its token id is ``stable_id("task-link", intent_id, recipient)``. With the yardsticks above a task link is **275 characters**
(a task id, ``task-`` + 20 hex, where an ack link has a 9-character ref), 295 with an 8-character roster id: an SMS
reminder runs to more than one segment either way, which the gateways join.

This module does no I/O: single use is the review store's job, publishing the web service's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from stream.model.events import NotificationIntent, stable_id

MIN_SECRET_BYTES = 16
DEFAULT_TTL = timedelta(hours=12)
# A task link lives 7 days: the reminder goes 2 h before the task is due and the overdue notice at its due time, but
# people close follow-ups late (a family contact made on Friday is written up on Monday; the last retaliation check-in
# is 72 h after the flag). A week covers that with a margin while the link, a capability, still ends; a task closed
# later is closed on the review pages.
DEFAULT_TASK_TTL = timedelta(days=7)
# Far above any real token; bounds the work an arbitrary URL can cause.
MAX_TOKEN_CHARS = 2048
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_MAC_BYTES = 16
_SIGNATURE_CHARS = 22  # 16 bytes, base64url without padding

AckTokenReason = Literal["malformed", "forged", "expired"]

_MESSAGES: dict[str, str] = {
    "malformed": "this link is damaged or incomplete",
    "forged": "this link was not issued by Vigil",
    "expired": "this link has expired",
}


@dataclass(frozen=True)
class AckClaim:
    """What a valid ack link vouches for: this recipient was alerted about this activation for this team."""

    token_id: str
    activation_id: str
    ref: str
    team: str
    recipient: str
    intent_id: str
    expires_at: datetime
    person: str | None = None  # the roster person paged, when the alert was a person's page


@dataclass(frozen=True)
class TaskClaim:
    """What a valid task link vouches for: this recipient was sent this task's reminder (or overdue notice), intent
    ``intent_id`` of this activation, to ``team`` (the task's team for a reminder, the on-call team for a notice)."""

    token_id: str
    activation_id: str
    task_id: str
    team: str
    recipient: str
    intent_id: str
    expires_at: datetime
    person: str | None = None  # the roster person the reminder paged, when it paged one


class AckTokenError(ValueError):
    """An ack token that must be refused; ``reason`` is malformed, forged or expired.

    An expired token was genuine, so ``expires_at`` (and ``token_id``) are set for it, for the page
    and the log; they are None for the other reasons.
    """

    def __init__(self, reason: AckTokenReason, message: str | None = None, expires_at: datetime | None = None,
                 token_id: str | None = None):
        super().__init__(message or _MESSAGES[reason])
        self.reason: AckTokenReason = reason
        self.expires_at = expires_at
        self.token_id = token_id


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # validate=True: b64decode would otherwise skip characters outside the alphabet
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


class AckSigner:
    """Makes and checks ack tokens with one secret; tokens expire ``ttl`` after they are made."""

    def __init__(self, secret: bytes, base_url: str, ttl: timedelta = DEFAULT_TTL, task_ttl: timedelta = DEFAULT_TASK_TTL):
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the ack-link secret must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
        if ttl <= timedelta(0) or task_ttl <= timedelta(0):
            raise ValueError(f"the ack-link lifetimes must be positive, got {ttl} and {task_ttl}")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self.task_ttl = task_ttl

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest()[:_MAC_BYTES])

    def token(self, intent: NotificationIntent, recipient: str, now: datetime) -> str:
        """A token for ``recipient`` of ``intent``, valid until ``now + ttl`` (rounded down to the second)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not intent.refs:
            raise ValueError(f"intent {intent.intent_id} has no report ref to acknowledge")
        if not recipient:
            raise ValueError("the recipient must not be empty")
        expires = int((now + self.ttl).timestamp())
        fields: dict[str, str | int] = {"a": intent.activation_id, "r": intent.refs[0], "t": intent.team, "u": recipient,
                                        "i": intent.intent_id, "e": expires}
        if intent.person is not None:  # only a person's page carries "p": a team's link is as long as before
            fields["p"] = intent.person
        return self._signed(fields)

    def _signed(self, fields: dict[str, str | int]) -> str:
        payload = _b64encode(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{self._sign(payload)}"

    def task_token(self, intent: NotificationIntent, recipient: str, now: datetime) -> str:
        """A task link's token for ``recipient`` of a task's reminder or overdue notice ``intent`` (its ``task_id``
        set), valid until ``now + task_ttl`` (rounded down to the second)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not intent.task_id:
            raise ValueError(f"intent {intent.intent_id} is not a task's: it has no task id")
        if not recipient:
            raise ValueError("the recipient must not be empty")
        fields: dict[str, str | int] = {"a": intent.activation_id, "k": intent.task_id, "t": intent.team, "u": recipient,
                                        "i": intent.intent_id, "e": int((now + self.task_ttl).timestamp())}
        if intent.person is not None:
            fields["p"] = intent.person
        return self._signed(fields)

    def task_link(self, intent: NotificationIntent, recipient: str, now: datetime) -> str:
        """The task URL to put in a task's reminder or overdue notice sent to ``recipient``."""
        return f"{self.base_url}/task/{self.task_token(intent, recipient, now)}"

    def link(self, intent: NotificationIntent, recipient: str, now: datetime) -> str:
        """The ack URL to put in the alert sent to ``recipient``."""
        return f"{self.base_url}/ack/{self.token(intent, recipient, now)}"

    def verify(self, token: str, now: datetime) -> AckClaim:
        """The claim of an ack token made by this signer and not expired at ``now``; raises ``AckTokenError`` (a task
        link's token is malformed here)."""
        claim = _decode_claim(self._authentic_fields(token))
        _check_expiry(claim.expires_at, claim.token_id, now)
        return claim

    def verify_task(self, token: str, now: datetime) -> TaskClaim:
        """The claim of a task link's token made by this signer and not expired at ``now``; raises ``AckTokenError``
        (an ack token is malformed here)."""
        claim = _decode_task_claim(self._authentic_fields(token))
        _check_expiry(claim.expires_at, claim.token_id, now)
        return claim

    def _authentic_fields(self, token: str) -> dict:
        """The payload's fields of a well-formed token this signer signed (nothing read before the signature holds)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise AckTokenError("malformed")
        parts = token.split(".")
        if len(parts) != 2 or not all(_B64URL.fullmatch(p) for p in parts) or len(parts[1]) != _SIGNATURE_CHARS:
            raise AckTokenError("malformed")
        payload, signature = parts
        # Compare the canonical text: a signature re-encoded with different spare bits is not accepted.
        if not hmac.compare_digest(self._sign(payload), signature):
            raise AckTokenError("forged")
        try:
            fields = json.loads(_b64decode(payload).decode("utf-8"))
        except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise AckTokenError("malformed") from None
        if not isinstance(fields, dict):
            raise AckTokenError("malformed")
        return fields


def _check_expiry(expires_at: datetime, token_id: str, now: datetime) -> None:
    if now > expires_at:
        local = expires_at.astimezone(now.tzinfo)
        raise AckTokenError("expired", f"this link expired at {local:%H:%M}", expires_at, token_id)


def _common(fields: dict, keys: tuple[str, ...]) -> tuple[dict[str, str], datetime, str | None]:
    """The text fields ``keys`` (each a non-empty string), the expiry and the optional person of a decoded payload."""
    texts = {key: fields.get(key) for key in keys}
    expires, person = fields.get("e"), fields.get("p")
    if not all(isinstance(v, str) and v for v in texts.values()) or type(expires) is not int:
        raise AckTokenError("malformed")
    if "p" in fields and not (isinstance(person, str) and person):  # absent in links made before person pages
        raise AckTokenError("malformed")
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        raise AckTokenError("malformed") from None
    return texts, expires_at, person  # type: ignore[return-value]


def _decode_claim(fields: dict) -> AckClaim:
    if "k" in fields:  # a task link: it closes a task, it does not answer an alert
        raise AckTokenError("malformed", "this link closes a follow-up task: it does not answer an alert")
    texts, expires_at, person = _common(fields, ("a", "r", "t", "u", "i"))
    return AckClaim(
        token_id=stable_id("ack", texts["i"], texts["u"]),
        activation_id=texts["a"],
        ref=texts["r"],
        team=texts["t"],
        recipient=texts["u"],
        intent_id=texts["i"],
        expires_at=expires_at,
        person=person,
    )


def _decode_task_claim(fields: dict) -> TaskClaim:
    if "k" not in fields or "r" in fields:  # an ack link: it answers an alert, it does not close a task
        raise AckTokenError("malformed", "this link answers an alert: it does not close a follow-up task")
    texts, expires_at, person = _common(fields, ("a", "k", "t", "u", "i"))
    return TaskClaim(
        token_id=stable_id("task-link", texts["i"], texts["u"]),
        activation_id=texts["a"],
        task_id=texts["k"],
        team=texts["t"],
        recipient=texts["u"],
        intent_id=texts["i"],
        expires_at=expires_at,
        person=person,
    )
