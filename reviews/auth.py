"""Access to the review pages: signed session cookies, CSRF tokens, safe redirects, and who may see what.

A session is a small JSON payload (username, CSRF token, when it was issued, how the user signed in)
signed with HMAC-SHA256 and carried in an HttpOnly, SameSite=Lax cookie; it lives 8 hours from sign-in
and is not extended by use, so a phone left signed in on a desk stops working by the next shift. The
cookie holds no role or team: those are read from the store on every request, so disabling a user or
moving them to another team takes effect at once. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from reviews.model import ActivationReview
    from reviews.users import User

SESSION_COOKIE = "vigil_session"
SESSION_LIFETIME = timedelta(hours=8)
# a cookie issued this far in the future is forged or from a badly wrong clock: either way, not trusted
_CLOCK_SKEW = timedelta(minutes=5)
_KEY_LABEL = b"vigil review session cookie v1"


def session_key(secret: bytes) -> bytes:
    """A key for session cookies derived from a deployment secret, so the ack-link key is never used twice."""
    if len(secret) < 16:
        raise ValueError(f"the session secret must be at least 16 bytes, got {len(secret)}")
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A browser's session: signed in as ``username`` (None before sign-in) with its CSRF token."""

    username: str | None
    csrf: str
    issued_at: datetime
    via: str = "password"  # password, sso, or anonymous (a login form's session, before sign-in)

    def expires_at(self, lifetime: timedelta = SESSION_LIFETIME) -> datetime:
        """When the session stops being accepted."""
        return self.issued_at + lifetime

    def csrf_ok(self, submitted: str | None) -> bool:
        """Whether a form's CSRF field matches this session's token (compared in constant time)."""
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), str(submitted).encode())


def new_session(username: str | None, via: str, now: datetime) -> Session:
    """A fresh session with a new random CSRF token; a sign-in always gets a new one, so a token seen before
    sign-in (or a fixed cookie planted by someone else) is worth nothing after it."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return Session(username=username, csrf=secrets.token_urlsafe(32), issued_at=now.astimezone(UTC).replace(microsecond=0), via=via)


class SessionCodec:
    """Signs sessions into cookie values and checks them back."""

    def __init__(self, key: bytes, lifetime: timedelta = SESSION_LIFETIME):
        if len(key) < 16:
            raise ValueError("the session key must be at least 16 bytes")
        self._key = key
        self.lifetime = lifetime

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        """The cookie value for a session."""
        fields = {"u": session.username, "c": session.csrf, "i": int(session.issued_at.timestamp()), "v": session.via}
        payload = _b64(json.dumps(fields, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def decode(self, cookie: str | None, now: datetime) -> Session | None:
        """The session in a cookie value, or None when it is missing, forged, malformed or expired."""
        if not cookie or len(cookie) > 4096 or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        try:
            if not hmac.compare_digest(self._mac(payload), mac):
                return None
            fields = json.loads(_unb64(payload))
            username, csrf, issued, via = fields["u"], fields["c"], fields["i"], fields["v"]
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            return None
        if not (isinstance(csrf, str) and csrf and isinstance(issued, int) and isinstance(via, str)
                and (username is None or isinstance(username, str))):
            return None
        issued_at = datetime.fromtimestamp(issued, UTC)
        if not issued_at - _CLOCK_SKEW <= now <= issued_at + self.lifetime:
            return None
        return Session(username=username, csrf=csrf, issued_at=issued_at, via=via)


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (``/review/2026-07-04``), else ``default``.

    Refuses anything a browser could take to another site: a scheme, a host, ``//host`` and ``/\\host``
    (which browsers read as ``//host``), and control characters.
    """
    if not value or len(value) > 1000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x20 or ch == "\x7f" or ch == "\\" for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def may_see(user: User, review: ActivationReview) -> bool:
    """DNS staff see every activation; a team lead sees those their team was alerted about; anyone else nothing."""
    if user.disabled:
        return False
    if user.role == "dns":
        return True
    if user.role == "lead" and user.team:
        return review.visible_to(user.team)
    return False


def may_record_for(user: User, team: str) -> bool:
    """DNS staff record outcomes for any team; a lead only for their own."""
    return not user.disabled and (user.role == "dns" or (user.role == "lead" and user.team == team))
