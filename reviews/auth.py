"""Access to the review pages: signed session cookies, CSRF tokens, safe redirects, and who may see what.

A session is a small JSON payload (username, CSRF token, when it was issued, how the user signed in, the
user's session generation) signed with HMAC-SHA256 and carried in an HttpOnly, SameSite=Lax cookie; it lives
8 hours from sign-in and is not extended by use, so a phone left signed in on a desk stops working by the
next shift. The cookie holds no role or team: those are read from the store on every request, so disabling
a user or moving them to another team takes effect at once. Signing out, a new password and disabling bump
the user's session generation in the store, so every cookie issued before is dead at once, copies included.

Sign-in throttling (``SignInThrottle``) counts failed sign-ins in the store's audit log, not in memory, so
the limits hold across every ``vigil web`` replica sharing the store and survive a restart. Each attempt
is reserved (a ``sign_in_pending`` row) in a serialized transaction before its password is checked, so
attempts fired at once are counted one by one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from reviews.store import audit_entry, audit_log

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
    generation: int = 0  # the user's session generation when it was issued; dead once the store's moved on

    def expires_at(self, lifetime: timedelta = SESSION_LIFETIME) -> datetime:
        """When the session stops being accepted."""
        return self.issued_at + lifetime

    def csrf_ok(self, submitted: str | None) -> bool:
        """Whether a form's CSRF field matches this session's token (compared in constant time)."""
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), str(submitted).encode())


def new_session(username: str | None, via: str, now: datetime, generation: int = 0) -> Session:
    """A fresh session with a new random CSRF token; a sign-in always gets a new one, so a token seen before
    sign-in (or a fixed cookie planted by someone else) is worth nothing after it. ``generation`` is the
    user's session generation in the store (see ``User.session_generation``)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return Session(username=username, csrf=secrets.token_urlsafe(32), issued_at=now.astimezone(UTC).replace(microsecond=0), via=via,
                   generation=generation)


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
        fields = {"u": session.username, "c": session.csrf, "i": int(session.issued_at.timestamp()), "v": session.via,
                  "g": session.generation}
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
            # cookies issued before generations existed are of generation 0, every user's first
            generation = fields.get("g", 0)
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, AttributeError):
            return None
        if not (isinstance(csrf, str) and csrf and isinstance(issued, int) and isinstance(via, str)
                and (username is None or isinstance(username, str))
                and isinstance(generation, int) and not isinstance(generation, bool)):
            return None
        issued_at = datetime.fromtimestamp(issued, UTC)
        if not issued_at - _CLOCK_SKEW <= now <= issued_at + self.lifetime:
            return None
        return Session(username=username, csrf=csrf, issued_at=issued_at, via=via, generation=generation)


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

# Keyed on the username AND the client address first: one address guessing at a username slows down only
# itself, and the owner elsewhere (or on an address they signed in from before) still gets in.
FREE_FAILURES_PER_PAIR = 5
FIRST_DELAY = timedelta(minutes=1)  # after the 5th failure; doubled by each failure after it
MAX_DELAY = timedelta(minutes=15)
PAIR_MEMORY = timedelta(hours=1)  # how long a failure counts for its username and address
# Guessing from many addresses at once: the username is locked for addresses it never signed in from.
MAX_FAILURES_PER_USERNAME = 20
# Higher than per pair: a city office behind one NAT address has many staff mistyping.
MAX_FAILURES_PER_CLIENT = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
KNOWN_ADDRESS_MEMORY = timedelta(days=90)  # an address a username signed in from within this long is known
# audit actions; the failures are counted from them, so their spelling is part of the contract
SIGN_IN_PENDING = "sign_in_pending"  # an attempt reserved, its password being checked; then one of the two below
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN = "sign_in"
USERNAME_LOCKED = "sign_in_locked"
CLIENT_LOCKED = "sign_in_client_locked"
THROTTLED = "sign_in_throttled"
# a pending attempt counts as failed until its password is found right: a burst cannot outrun its own count
_FAILURES = (SIGN_IN_PENDING, SIGN_IN_FAILED)
_LOGIN = "/login"

Scope = Literal["pair", "username", "client"]
_MESSAGES: dict[str, str] = {
    "pair": "Too many failed sign-ins for this username from your network address: try again in {wait}",
    "username": "Too many failed sign-ins for this username from addresses it has not signed in from: try again in {wait}, "
                "or sign in from a computer or phone you have signed in from before",
    "client": "Too many failed sign-ins from your network address: try again in {wait}",
}


def client_detail(address: str) -> str:
    """How a client address is written in the audit log's ``detail`` (the per-address counts match on it)."""
    return f"client {address}"[:200]


@dataclass(frozen=True)
class Lockout:
    """A sign-in refused until ``until``: for this username from this address (``pair``: the progressive
    delay), for this username from addresses it never signed in from (``username``), or for this address
    whatever the username (``client``). ``started``: this refusal starts the lock (its row is written)."""

    scope: Scope
    until: datetime
    started: bool = field(default=False, compare=False)

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the lockout ends (at least 1), for the ``Retry-After`` header."""
        return max(1, math.ceil((self.until - now).total_seconds()))

    def message(self, now: datetime) -> str:
        """What the sign-in page says; the same for a username that exists and one that does not."""
        minutes = math.ceil(self.retry_after(now) / 60)
        return _MESSAGES[self.scope].format(wait=f"{minutes} minute" if minutes == 1 else f"{minutes} minutes")


@dataclass(frozen=True)
class Reservation:
    """An attempt let through to the password check: its ``sign_in_pending`` row in the audit log."""

    entry_id: int


def pair_delay(failures: int, first: timedelta = FIRST_DELAY, cap: timedelta = MAX_DELAY, free: int = FREE_FAILURES_PER_PAIR) -> timedelta:
    """How long a username must wait on one address after its ``failures``-th failure there: nothing for the
    first ``free``, then ``first``, doubling with each failure, never more than ``cap``."""
    if failures < free:
        return timedelta(0)
    return min(first * 2 ** min(failures - free, 20), cap)


class SignInThrottle:
    """Refuses sign-ins that come too fast after failures: for a username from one address (progressive
    delays), for a username from addresses it never signed in from (a lock), and from one address (a lock).

    - Pair: the first ``free_per_pair`` failures of a username from an address within ``pair_memory`` cost
      nothing; then each failure makes that username wait ``pair_delay`` on that address before its next
      attempt (1, 2, 4, 8, then 15 minutes). A success from the address resets it.
    - Username: ``max_per_username`` failures from every address together within ``window`` lock the
      username for ``lockout``, but only for addresses it has not signed in from within
      ``known_address_memory``: its owner at their usual desk still gets in. A success resets the count.
    - Client: ``max_per_client`` failures from one address within ``window`` lock the address for
      ``lockout`` (a success does not reset it: a valid account must not buy more guesses at others).

    Any typed username counts, existing or not, so a refusal says nothing about which usernames exist.
    Refused attempts are audited (``sign_in_throttled``) but not counted, so a delay or lock ends on time
    however long someone keeps trying. ``reserve`` decides and records an attempt in one serialized
    transaction (``ReviewStore.serialized``, keyed on the username and the address) before the password is
    checked, so concurrent attempts on any replica are counted one by one, not all checked at once.
    """

    def __init__(self, store: ReviewStore, *, free_per_pair: int = FREE_FAILURES_PER_PAIR, pair_memory: timedelta = PAIR_MEMORY,
                 max_per_username: int = MAX_FAILURES_PER_USERNAME, max_per_client: int = MAX_FAILURES_PER_CLIENT,
                 window: timedelta = FAILURE_WINDOW, lockout: timedelta = LOCKOUT, known_address_memory: timedelta = KNOWN_ADDRESS_MEMORY):
        self.store = store
        self.free_per_pair = free_per_pair
        self.pair_memory = pair_memory
        self.max_per_username = max_per_username
        self.max_per_client = max_per_client
        self.window = window
        self.lockout = lockout
        self.known_address_memory = known_address_memory

    def reserve(self, username: str | None, client: str, now: datetime) -> Reservation | Lockout:
        """Record an attempt about to have its password checked, or refuse it (audited) with the lockout in force."""
        now, detail = now.astimezone(UTC), client_detail(client)
        keys = [f"client {client}", *([f"username {username}"] if username else [])]
        with self.store.serialized(*keys) as conn:
            lockouts = self._lockouts(conn, username, detail, now)
            if not lockouts:
                return Reservation(self._record(conn, username, SIGN_IN_PENDING, now, detail))
            for lockout in lockouts:
                if lockout.started:
                    # the detail is exactly the client's, like the failures': the lookups match on it
                    self._record(conn, username, USERNAME_LOCKED if lockout.scope == "username" else CLIENT_LOCKED, now, detail)
            refusal = max(lockouts, key=lambda lockout: lockout.until)
            self._record(conn, username, THROTTLED, now, f"{detail}; {refusal.scope} locked")  # not matched on
            return refusal

    def failed(self, attempt: Reservation) -> None:
        """The attempt's password was wrong (or the user unknown or disabled): it stays counted."""
        self._resolve(attempt, SIGN_IN_FAILED)

    def succeeded(self, attempt: Reservation) -> None:
        """The attempt signed in: audited as ``sign_in``; it resets its username's counts and makes its address known."""
        self._resolve(attempt, SIGN_IN)

    def _resolve(self, attempt: Reservation, action: str) -> None:
        # the one change ever made to an audit row: a pending attempt gets its outcome
        with self.store.engine.begin() as conn:
            conn.execute(audit_log.update().where(audit_log.c.id == attempt.entry_id, audit_log.c.action == SIGN_IN_PENDING)
                         .values(action=action))

    @staticmethod
    def _record(conn: Connection, username: str | None, action: str, now: datetime, detail: str) -> int:
        entry = audit_entry(username, action, _LOGIN, now, detail)
        return int(conn.execute(audit_log.insert().values(entry).returning(audit_log.c.id)).scalar_one())

    def _lockouts(self, conn: Connection, username: str | None, detail: str, now: datetime) -> list[Lockout]:
        """Every lockout in force for this attempt (those it starts marked ``started``)."""
        found = [self._client_lockout(conn, detail, now)]
        if username:
            found += [self._username_lockout(conn, username, detail, now), self._pair_delay(conn, username, detail, now)]
        return [lockout for lockout in found if lockout is not None]

    def _client_lockout(self, conn: Connection, detail: str, now: datetime) -> Lockout | None:
        locked = _latest(conn, (CLIENT_LOCKED,), now - max(self.window, self.lockout), detail=detail)
        if locked is not None and locked + self.lockout > now:
            return Lockout("client", locked + self.lockout)
        # failures before the last lock have had their consequence already
        count, _ = _failures(conn, max(now - self.window, locked or now - self.window), detail=detail)
        return Lockout("client", now + self.lockout, started=True) if count >= self.max_per_client else None

    def _username_lockout(self, conn: Connection, username: str, detail: str, now: datetime) -> Lockout | None:
        if _latest(conn, (SIGN_IN,), now - self.known_address_memory, username=username, detail=detail) is not None:
            return None  # an address this username signed in from: only its own pair delay applies
        locked = _latest(conn, (USERNAME_LOCKED,), now - max(self.window, self.lockout), username=username)
        if locked is not None and locked + self.lockout > now:
            return Lockout("username", locked + self.lockout)
        # failures before a success or before the last lock have had their consequence already
        since = _latest(conn, (SIGN_IN, USERNAME_LOCKED), now - self.window, username=username) or now - self.window
        count, _ = _failures(conn, since, username=username)
        return Lockout("username", now + self.lockout, started=True) if count >= self.max_per_username else None

    def _pair_delay(self, conn: Connection, username: str, detail: str, now: datetime) -> Lockout | None:
        since = _latest(conn, (SIGN_IN,), now - self.pair_memory, username=username, detail=detail) or now - self.pair_memory
        count, last = _failures(conn, since, username=username, detail=detail)
        if last is None:
            return None
        until = last + pair_delay(count, free=self.free_per_pair)
        return Lockout("pair", until) if until > now else None


def _matching(query, username: str | None, detail: str | None):
    if username is not None:
        query = query.where(audit_log.c.username == username)
    if detail is not None:
        query = query.where(audit_log.c.detail == detail)
    return query


def _as_utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were stored as UTC
    return None if moment is None else moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _latest(conn: Connection, actions: tuple[str, ...], since: datetime, username: str | None = None, detail: str | None = None) -> datetime | None:
    """When the latest audit entry of ``actions`` after ``since`` (for this username, this client) was written."""
    query = select(func.max(audit_log.c.at)).where(audit_log.c.action.in_(actions), audit_log.c.at > since)
    return _as_utc(conn.execute(_matching(query, username, detail)).scalar())


def _failures(conn: Connection, since: datetime, username: str | None = None, detail: str | None = None) -> tuple[int, datetime | None]:
    """How many failed (or still pending) attempts after ``since``, and when the latest was."""
    query = select(func.count(), func.max(audit_log.c.at)).select_from(audit_log).where(
        audit_log.c.action.in_(_FAILURES), audit_log.c.at > since)
    count, latest = conn.execute(_matching(query, username, detail)).one()
    return int(count or 0), _as_utc(latest)
