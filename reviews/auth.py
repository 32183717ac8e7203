"""Access to the review pages: signed session cookies, CSRF tokens, safe redirects, and who may see what.

A session is a small JSON payload (username, CSRF token, when it was issued, how the user signed in)
signed with HMAC-SHA256 and carried in an HttpOnly, SameSite=Lax cookie; it lives 8 hours from sign-in
and is not extended by use, so a phone left signed in on a desk stops working by the next shift. The
cookie holds no role or team: those are read from the store on every request, so disabling a user or
moving them to another team takes effect at once.

Sign-in throttling (``SignInThrottle``) counts failed sign-ins in the store's audit log, not in memory, so
the limits hold across every ``vigil web`` replica sharing the store and survive a restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from sqlalchemy import func, select

from reviews.store import audit_log

if TYPE_CHECKING:
    from reviews.model import ActivationReview
    from reviews.store import ReviewStore
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


# --- sign-in throttling

MAX_FAILURES_PER_USERNAME = 5
# Higher than per username: a city office behind one NAT address has many staff mistyping.
MAX_FAILURES_PER_CLIENT = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
# audit actions; the failures are counted from them, so their spelling is part of the contract
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN = "sign_in"
USERNAME_LOCKED = "sign_in_locked"
CLIENT_LOCKED = "sign_in_client_locked"
THROTTLED = "sign_in_throttled"


def client_detail(address: str) -> str:
    """How a client address is written in the audit log's ``detail`` (the per-address counts match on it)."""
    return f"client {address}"[:200]


@dataclass(frozen=True)
class Lockout:
    """A sign-in refused until ``until``: by ``scope`` username (too many failures for it) or client address."""

    scope: Literal["username", "client"]
    until: datetime

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the lockout ends (at least 1), for the ``Retry-After`` header."""
        return max(1, math.ceil((self.until - now).total_seconds()))

    def message(self, now: datetime) -> str:
        """What the sign-in page says; the same for a username that exists and one that does not."""
        minutes = math.ceil(self.retry_after(now) / 60)
        unit = "minute" if minutes == 1 else "minutes"
        if self.scope == "username":
            return f"Too many failed sign-ins for this username: try again in {minutes} {unit}"
        return f"Too many failed sign-ins from your network address: try again in {minutes} {unit}"


class SignInThrottle:
    """Refuses sign-ins for a username, or from a client address, after too many failures.

    ``max_per_username`` failures for one typed username within ``window`` lock that username for
    ``lockout``; ``max_per_client`` failures from one address lock the address. Any typed username
    counts, existing or not, so a lockout says nothing about which usernames exist. Attempts refused
    while locked are audited (``sign_in_throttled``) but not counted, so a lockout ends on time and the
    real user gets back in however long someone keeps guessing. A successful sign-in resets the
    username's count, not the address's (a valid account must not buy more guesses at others).

    Replicas check and record without a common lock: N simultaneous guesses for a username at its last
    allowed attempt may all be checked (bounded by the replicas' concurrency, each costing an scrypt).
    """

    def __init__(self, store: ReviewStore, *, max_per_username: int = MAX_FAILURES_PER_USERNAME,
                 max_per_client: int = MAX_FAILURES_PER_CLIENT, window: timedelta = FAILURE_WINDOW, lockout: timedelta = LOCKOUT):
        self.store = store
        self.max_per_username = max_per_username
        self.max_per_client = max_per_client
        self.window = window
        self.lockout = lockout

    def _latest(self, conn, action: str, since: datetime, username: str | None = None, detail: str | None = None) -> datetime | None:
        query = select(func.max(audit_log.c.at)).where(audit_log.c.action == action, audit_log.c.at > since)
        if username is not None:
            query = query.where(audit_log.c.username == username)
        if detail is not None:
            query = query.where(audit_log.c.detail == detail)
        latest = conn.execute(query).scalar()
        # SQLite hands back naive datetimes; they were stored as UTC
        return None if latest is None else latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest.astimezone(UTC)

    def _failures(self, conn, since: datetime, username: str | None = None, detail: str | None = None) -> int:
        query = select(func.count()).select_from(audit_log).where(audit_log.c.action == SIGN_IN_FAILED, audit_log.c.at > since)
        if username is not None:
            query = query.where(audit_log.c.username == username)
        if detail is not None:
            query = query.where(audit_log.c.detail == detail)
        return int(conn.execute(query).scalar() or 0)

    def current(self, username: str | None, client: str, now: datetime) -> Lockout | None:
        """The lockout in force for this username or this client address at ``now``, or None."""
        now = now.astimezone(UTC)
        found: list[Lockout] = []
        with self.store.engine.connect() as conn:
            if username:
                locked = self._latest(conn, USERNAME_LOCKED, now - self.lockout, username=username)
                if locked is not None:
                    found.append(Lockout("username", locked + self.lockout))
            locked = self._latest(conn, CLIENT_LOCKED, now - self.lockout, detail=client_detail(client))
            if locked is not None:
                found.append(Lockout("client", locked + self.lockout))
        return max(found, key=lambda lockout: lockout.until, default=None)

    def refused(self, username: str | None, client: str, lockout: Lockout, now: datetime) -> None:
        """Audit a sign-in refused because of ``lockout`` (not counted as a failure)."""
        self.store.audit(username, THROTTLED, "/login", now, f"{client_detail(client)}; {lockout.scope} locked")  # not matched on

    def failed(self, username: str | None, client: str, now: datetime) -> Lockout | None:
        """Audit a failed sign-in; when it is one too many, audit and return the lockout it starts."""
        detail = client_detail(client)
        self.store.audit(username, SIGN_IN_FAILED, "/login", now, detail)
        now = now.astimezone(UTC)
        since = now - self.window
        started: list[Lockout] = []
        with self.store.engine.connect() as conn:
            if username:
                # failures before a success or before the last lockout have had their consequence already
                resets = [self._latest(conn, action, since, username=username) for action in (SIGN_IN, USERNAME_LOCKED)]
                start = max([since, *(moment for moment in resets if moment is not None)])
                if self._failures(conn, start, username=username) >= self.max_per_username:
                    started.append(Lockout("username", now + self.lockout))
            last_lock = self._latest(conn, CLIENT_LOCKED, since, detail=detail)
            if self._failures(conn, max(since, last_lock) if last_lock else since, detail=detail) >= self.max_per_client:
                started.append(Lockout("client", now + self.lockout))
        for lockout in started:
            # the detail is exactly the client's, like the failures': the lookups match on it
            self.store.audit(username, USERNAME_LOCKED if lockout.scope == "username" else CLIENT_LOCKED, "/login", now, detail)
        return started[0] if started else None
