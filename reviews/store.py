"""The review store: append-only timeline records in SQLite (default) or PostgreSQL.

Appending is idempotent on the record's deterministic ``entry_id``: the sink re-reads the timeline
topic at least once after a restart, and a record already stored is left as it is.

It also keeps the uses of ack links (``ack_tokens``): (token id, answer) is the primary key, so a link's
answer can change while it is valid (ack, on my way, can't respond: each once), and of two taps of one
answer racing on one link (two web workers, or a double tap) exactly one insert wins.

The next-day activation review adds its users, the outcomes teams report (append-only: a correction is a
new row), notes and an audit log. The schema is Alembic's (``reviews/migrations``); the ``metadata``
tables below mirror the migrations for the queries, and a test holds the two equal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    cast,
    create_engine,
    false,
    func,
    inspect,
    make_url,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from reviews.users import User, check_new_password, check_new_user, hash_password, verify_password
from stream.core.standdowns import Standdown, Weekly
from stream.model.timeline import TimelineRecord, decode_timeline

if TYPE_CHECKING:
    from notifiers.ack_links import AckClaim

metadata = MetaData()

timeline = Table(
    "timeline",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("activation_id", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("record", Text, nullable=False),
)

ack_tokens = Table(
    "ack_tokens",
    metadata,
    Column("token_id", String(100), primary_key=True),
    Column("activation_id", String(64), nullable=False, index=True),
    Column("team", String(100), nullable=False),
    Column("recipient", String(300), nullable=False),
    Column("response", String(16), primary_key=True),  # revision 0004: one use per (token, answer)
    Column("used_at", DateTime(timezone=True), nullable=False),
)

# --- below: revision 0002, the activation review

Index("ix_timeline_kind_at", timeline.c.kind, timeline.c.at)

users = Table(
    "users",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("role", String(16), nullable=False),
    Column("team", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    # revision 0003: bumped on sign-out, a password change and disabling; a session issued under an older one is dead
    Column("session_generation", Integer, nullable=False, server_default=text("0")),
)

review_outcomes = Table(
    "review_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("activation_id", String(64), nullable=False, index=True),
    Column("team", String(100), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("reason", Text, nullable=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

review_notes = Table(
    "review_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("activation_id", String(64), nullable=False, index=True),
    Column("author", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(100), nullable=True),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=True),
    Column("detail", Text, nullable=True),
)

# --- below: revision 0003, sign-in and sessions (issue 15)

# the sign-in throttle's lookups by username (failures, successes, known addresses) over days of page views
Index("ix_audit_log_username_action_at", audit_log.c.username, audit_log.c.action, audit_log.c.at)

# --- below: revision 0005, standdowns (issue 17)

standdowns = Table(
    "standdowns",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("team", String(100), nullable=True),
    Column("area", String(100), nullable=True),
    Column("reason", String(300), nullable=False),
    Column("added_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("starts", DateTime(timezone=True), nullable=False, index=True),
    Column("ends", DateTime(timezone=True), nullable=True),
    Column("weekly_days", String(27), nullable=True),  # "mon,wed": the days of a weekly window
    Column("weekly_start", String(5), nullable=True),
    Column("weekly_end", String(5), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("ended_by", String(100), nullable=True),
    # when the topic acknowledged the current version; None: stored but not yet sent to the workers
    Column("published_at", DateTime(timezone=True), nullable=True),
)

# --- below: revision 0006, provider API tokens (issue 19)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 of the token: it is 32 random bytes, so a fast hash cannot be searched (no slow hash needed)
    Column("token_hash", String(64), nullable=False),
    Column("team", String(100), nullable=False),
    Column("all_teams", Boolean, nullable=False, server_default=false()),  # DNS's (the on-call team's): every team's rows
    Column("label", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_api_tokens_token_hash", api_tokens.c.token_hash, unique=True)

OUTCOMES: tuple[str, ...] = ("went_to_scene", "bedside_contact", "mediation", "family_support", "unable")
NOTE_MAX_CHARS = 4000
# any constant unlikely to clash with another application's advisory locks on a shared server
_MIGRATION_LOCK_KEY = 0x56_49_47_49_4C  # "VIGIL"
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit
# the class of the two-key advisory locks ``serialized`` takes (a space apart from the migration's one-key lock)
_SERIALIZED_LOCK_CLASS = 0x5647  # "VG"


@dataclass(frozen=True)
class AckUse:
    """How an ack link was used: the answer given and when (UTC)."""

    response: str
    used_at: datetime


@dataclass(frozen=True)
class OutcomeRow:
    """What a team reported doing about an activation, who recorded it and when (UTC)."""

    activation_id: str
    team: str
    outcome: str
    reason: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class NoteRow:
    """A reviewer's note on an activation (``at`` in UTC)."""

    activation_id: str
    author: str
    text: str
    at: datetime


@dataclass(frozen=True)
class AuditRow:
    """One entry of the audit log (``at`` in UTC; ``username`` None for the system or the command line)."""

    at: datetime
    username: str | None
    action: str
    target: str | None
    detail: str | None


@dataclass(frozen=True)
class StoredStanddown:
    """A standdown as the store keeps it, with when its current version reached the topic (None: not yet)."""

    standdown: Standdown
    published_at: datetime | None

    @property
    def sent(self) -> bool:
        """Whether the workers were sent this version."""
        return self.published_at is not None


@dataclass(frozen=True)
class ApiToken:
    """A provider's API token as the store keeps it: never the token itself, only what it is for and its use."""

    id: int
    team: str
    all_teams: bool  # reads every team's rows (DNS's token)
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class TimelineRow:
    """One timeline record as the provider API pages through them: its (at, entry_id) is its place in the order."""

    entry_id: str
    activation_id: str
    at: datetime
    record: TimelineRecord


API_TOKEN_PREFIX = "vgl_"  # says what a string is when one turns up in a log or a repository (secret scanners key on it)


def api_token_hash(token: str) -> str:
    """The SHA-256 of a token's text, hex: what the store keeps and looks a presented token up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone=True columns; they were stored as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _aware(moment: datetime, name: str = "now") -> datetime:
    # SQLite drops the offset of what it stores: everything goes in as UTC so it comes back right.
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _bounded(value: str, name: str, limit: int) -> str:
    # PostgreSQL refuses a too-long value and SQLite keeps it: refuse on both, with a clear message.
    if len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters")
    return value


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


def _sqlite_busy(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()


_dummy_hash: str | None = None


def _user_of(row) -> User:
    return User(username=row.username, role=row.role, team=row.team, disabled=bool(row.disabled),
                session_generation=int(row.session_generation))


def _standdown_of(row) -> Standdown:
    weekly = None if row.weekly_days is None else Weekly(days=tuple(row.weekly_days.split(",")), start=row.weekly_start, end=row.weekly_end)
    return Standdown(id=row.id, team=row.team, area=row.area, reason=row.reason, by=row.added_by, created_at=_utc(row.created_at),
                     starts=_utc(row.starts), ends=None if row.ends is None else _utc(row.ends), weekly=weekly,
                     ended_at=None if row.ended_at is None else _utc(row.ended_at), ended_by=row.ended_by)


def _stored_standdown(row) -> StoredStanddown:
    return StoredStanddown(_standdown_of(row), None if row.published_at is None else _utc(row.published_at))


def _api_token_of(row) -> ApiToken:
    return ApiToken(id=int(row.id), team=row.team, all_teams=bool(row.all_teams), label=row.label, created_at=_utc(row.created_at),
                    last_used_at=None if row.last_used_at is None else _utc(row.last_used_at),
                    revoked_at=None if row.revoked_at is None else _utc(row.revoked_at))


def _lock_id(key: str) -> int:
    # a signed 32-bit id for PostgreSQL's advisory locks, the same in every process (hash() is salted per process)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big", signed=True)


def audit_entry(username: str | None, action: str, target: str | None, now: datetime, detail: str | None = None) -> dict[str, object]:
    """A row of the audit log, its fields checked (``ValueError`` says which is wrong), for an insert."""
    if not action:
        raise ValueError("an audit action cannot be empty")
    return {
        "at": _aware(now),
        "username": None if username is None else _bounded(username, "username", 100),
        "action": _bounded(action, "audit action", 40),
        "target": None if target is None else _bounded(target, "audit target", 200),
        "detail": detail,
    }


def _spend_a_check(password: str) -> None:
    # An unknown user costs as much as a wrong password, so timing does not tell which usernames exist.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not a password of anyone")
    verify_password(password, _dummy_hash)


class ReviewStore:
    """Append-only storage of timeline records, and the reads the review needs."""

    def __init__(self, url: str):
        backend = make_url(url).get_backend_name()
        if backend not in ("postgresql", "sqlite"):
            raise ValueError(f"review store supports sqlite and postgresql URLs, not {backend}")
        # the sink writes from a worker thread, off the event loop
        connect_args = {"check_same_thread": False} if backend == "sqlite" else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        self._url = url
        self._backend = backend
        self._insert = postgresql.insert if backend == "postgresql" else sqlite.insert

    def create_schema(self) -> None:
        """Bring the schema up to the newest migration (``alembic upgrade head``), adopting a pre-Alembic database.

        Several workers starting together may all call it: one migrates while the others wait on its lock
        (PostgreSQL: a transaction-level advisory lock; SQLite: the database's write lock), then find
        nothing left to do. A database the old ``create_all`` made (timeline and ack_tokens, no Alembic
        stamp) is stamped at 0001 and upgraded from there, its rows kept.
        """
        from alembic import command

        from reviews.migrations import LEGACY_REVISION, alembic_config, current_revision

        attempts = 5
        for attempt in range(attempts):
            try:
                with self._migration_connection() as conn:
                    config = alembic_config(self._url, conn)
                    if current_revision(conn) is None and self._adopt_legacy(conn):
                        command.stamp(config, LEGACY_REVISION)
                    command.upgrade(config, "head")
                return
            except OperationalError as exc:
                # SQLite's busy timeout ran out while another process held the write lock: wait our turn again
                if self._backend != "sqlite" or not _sqlite_busy(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    @contextmanager
    def _migration_connection(self) -> Iterator[Connection]:
        """A connection inside one transaction that holds the migration lock until it commits."""
        with self.engine.connect() as conn:
            if self._backend == "postgresql":
                # PostgreSQL's DDL is transactional: lock, migrate and commit as one, and the lock goes with the commit
                with conn.begin():
                    conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
                    yield conn
                return
            # pysqlite would commit before each DDL statement on its own; inside BEGIN IMMEDIATE every CREATE
            # runs under the write lock taken first: a racing process waits for our commit instead of seeing
            # half a schema
            with self._immediate(conn):
                yield conn

    @staticmethod
    def _adopt_legacy(conn: Connection) -> bool:
        """Whether this unstamped database holds the pre-Alembic tables (then completed to revision 0001)."""
        tables = set(inspect(conn).get_table_names())
        if "timeline" not in tables:
            if "ack_tokens" in tables:
                raise RuntimeError("the review database has an ack_tokens table but no timeline table: not a store this version can adopt")
            return False
        if "ack_tokens" not in tables:
            # made before ack links: create_all would have added the table at the next start
            ack_tokens.create(conn)
        return True

    def append(self, records: Iterable[TimelineRecord]) -> int:
        """Store records not yet stored; return how many were new."""
        rows = [
            {
                "entry_id": r.entry_id,
                "activation_id": r.activation_id,
                "kind": r.kind,
                "at": _aware(r.at, "at"),
                "stored_at": datetime.now(UTC),
                "record": r.model_dump_json(),
            }
            for r in records
        ]
        if not rows:
            return 0
        statement = (
            self._insert(timeline).on_conflict_do_nothing(index_elements=["entry_id"]).returning(timeline.c.entry_id)
        )
        with self.engine.begin() as conn:
            # RETURNING lists only inserted rows (executemany rowcount is 0 on psycopg)
            return len(conn.execute(statement, rows).all())

    def records(self, activation_id: str | None = None) -> list[TimelineRecord]:
        """Stored records in time order, of one activation or of all."""
        query = select(timeline.c.record).order_by(timeline.c.at, timeline.c.entry_id)
        if activation_id is not None:
            query = query.where(timeline.c.activation_id == activation_id)
        with self.engine.connect() as conn:
            return [decode_timeline(row.record) for row in conn.execute(query)]

    def count(self, kind: str | None = None) -> int:
        """Number of stored records, of one kind or of all."""
        query = select(func.count()).select_from(timeline)
        if kind is not None:
            query = query.where(timeline.c.kind == kind)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def claim_ack_token(self, claim: AckClaim, response: str, now: datetime) -> AckUse | None:
        """Record the one use of this answer on an ack link: None when this call claimed it, else the earlier
        use of the same answer (a link's other answers are claimed apart: its answer may change)."""
        row = {
            "token_id": claim.token_id,
            "activation_id": claim.activation_id,
            "team": claim.team,
            "recipient": claim.recipient,
            "response": response,
            "used_at": _aware(now),
        }
        statement = (
            self._insert(ack_tokens).values(row).on_conflict_do_nothing(index_elements=["token_id", "response"])
            .returning(ack_tokens.c.token_id)
        )
        # A claim released between our refused insert and our read leaves no earlier use: try again.
        for _ in range(3):
            with self.engine.begin() as conn:
                if conn.execute(statement).first() is not None:
                    return None
            earlier = next((use for use in self.ack_token_uses(claim.token_id) if use.response == response), None)
            if earlier is not None:
                return earlier
        raise RuntimeError(f"ack token {claim.token_id} kept being claimed and released")

    def ack_token_uses(self, token_id: str) -> list[AckUse]:
        """The answers given with an ack link, oldest first (empty while it is unused)."""
        query = (select(ack_tokens.c.response, ack_tokens.c.used_at).where(ack_tokens.c.token_id == token_id)
                 .order_by(ack_tokens.c.used_at, ack_tokens.c.response))
        with self.engine.connect() as conn:
            return [AckUse(response=row.response, used_at=_utc(row.used_at)) for row in conn.execute(query)]

    def answered_tokens(self, token_ids: Iterable[str]) -> set[str]:
        """Those of ``token_ids`` with at least one answer recorded."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(token_ids):
                query = select(ack_tokens.c.token_id).distinct().where(ack_tokens.c.token_id.in_(chunk))
                found.update(row.token_id for row in conn.execute(query))
        return found

    def ack_token_use(self, token_id: str) -> AckUse | None:
        """The latest use of an ack link, or None while it is unused."""
        uses = self.ack_token_uses(token_id)
        return uses[-1] if uses else None

    def release_ack_token(self, token_id: str, response: str) -> None:
        """Forget one answer's use of an ack link (it could not be published), so the person can try again."""
        with self.engine.begin() as conn:
            conn.execute(ack_tokens.delete().where(ack_tokens.c.token_id == token_id, ack_tokens.c.response == response))

    def activations_delivered_since(self, since: datetime) -> list[str]:
        """Ids of the activations with an alert delivery recorded at or after ``since`` (SMS replies look
        for the open alerts of a phone among them)."""
        query = (
            select(timeline.c.activation_id).distinct()
            .where(timeline.c.kind == "delivery", timeline.c.at >= _aware(since, "since"))
        )
        with self.engine.connect() as conn:
            return [row.activation_id for row in conn.execute(query)]

    def team_alerted(self, activation_id: str, team: str) -> bool:
        """Whether a notification intent for ``team`` is stored for this activation."""
        query = select(timeline.c.record).where(timeline.c.activation_id == activation_id, timeline.c.kind == "intent")
        with self.engine.connect() as conn:
            # Few intents per activation: reading their JSON beats a new column on the timeline table.
            return any(json.loads(row.record).get("team") == team for row in conn.execute(query))

    def activations_opened(self, start: datetime, end: datetime) -> list[str]:
        """Ids of the activations whose initial decision is in [start, end), in the order of that decision."""
        query = (
            select(timeline.c.activation_id, timeline.c.record)
            .where(timeline.c.kind == "decided", timeline.c.at >= _aware(start, "start"), timeline.c.at < _aware(end, "end"))
            .order_by(timeline.c.at, timeline.c.entry_id)
        )
        opened: dict[str, None] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                # the step lives in the record only; records from before it existed were all initial
                if json.loads(row.record).get("step", "initial") == "initial":
                    opened.setdefault(row.activation_id, None)
        return list(opened)

    def records_for(self, activation_ids: Iterable[str]) -> dict[str, list[TimelineRecord]]:
        """Every stored record of these activations, each list in time order (an id with none maps to [])."""
        found: dict[str, list[TimelineRecord]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(activation_ids):
                for activation_id in chunk:
                    found[activation_id] = []
                query = (
                    select(timeline.c.activation_id, timeline.c.record)
                    .where(timeline.c.activation_id.in_(chunk))
                    .order_by(timeline.c.at, timeline.c.entry_id)
                )
                for row in conn.execute(query):
                    found[row.activation_id].append(decode_timeline(row.record))
        return found

    # --- the live board (reviews/web/board.py)

    def activations_changed_since(self, stored_after: datetime, opened_from: datetime) -> dict[str, datetime]:
        """The activations opened (a decision at or after ``opened_from``) with a record stored after
        ``stored_after``: id to the newest ``stored_at`` among their records. The board polls it with the newest
        value it saw as its cursor; the decision's (kind, at) index narrows the activations, the activation id
        index their records, so a long-kept timeline is not scanned."""
        opened = (select(timeline.c.activation_id)
                  .where(timeline.c.kind == "decided", timeline.c.at >= _aware(opened_from, "opened_from")).distinct())
        query = (
            select(timeline.c.activation_id, func.max(timeline.c.stored_at).label("newest"))
            .where(timeline.c.activation_id.in_(opened), timeline.c.stored_at > _aware(stored_after, "stored_after"))
            .group_by(timeline.c.activation_id)
        )
        with self.engine.connect() as conn:
            return {row.activation_id: _utc(row.newest) for row in conn.execute(query)}

    # --- users

    def add_user(self, username: str, password: str, role: Literal["dns", "lead"], team: str | None, now: datetime) -> None:
        """Add a review user; ``ValueError`` says what is wrong (bad role, team or password, or a taken username)."""
        check_new_user(username, password, role, team)
        row = {
            "username": username,
            "password_hash": hash_password(password),
            "role": role,
            "team": team,
            "created_at": _aware(now),
            "disabled": False,
        }
        statement = self._insert(users).values(row).on_conflict_do_nothing(index_elements=["username"]).returning(users.c.username)
        with self.engine.begin() as conn:
            if conn.execute(statement).first() is None:
                raise ValueError(f"user {username!r} already exists")

    def check_password(self, username: str, password: str) -> User | None:
        """The user these credentials sign in, or None (unknown user, disabled user, or wrong password)."""
        query = select(users).where(users.c.username == username)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            _spend_a_check(password)
            return None
        if not verify_password(password, row.password_hash) or row.disabled:
            return None
        return _user_of(row)

    def user(self, username: str) -> User | None:
        """A user by name, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        return None if row is None else _user_of(row)

    def users(self) -> list[User]:
        """Every user, by username."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [_user_of(r) for r in rows]

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable a user (no sign-in, every session ended; their records stay) or enable them again (their old
        sessions stay ended); ``ValueError`` for an unknown user."""
        values: dict[str, object] = {"disabled": disabled}
        if disabled:
            values["session_generation"] = users.c.session_generation + 1
        self._update_user(username, values)

    def set_password(self, username: str, password: str) -> None:
        """Give a user a new password and end every session they have; ``ValueError`` for a too-short password or
        an unknown user."""
        check_new_password(password)
        self._update_user(username, {"password_hash": hash_password(password), "session_generation": users.c.session_generation + 1})

    def end_sessions(self, username: str) -> None:
        """End every session of a user (signing out ends them on every browser); ``ValueError`` for an unknown user."""
        self._update_user(username, {"session_generation": users.c.session_generation + 1})

    def _update_user(self, username: str, values: dict[str, object]) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(users.update().where(users.c.username == username).values(values).returning(users.c.username))
            if changed.first() is None:
                raise ValueError(f"no user {username!r}")

    @contextmanager
    def serialized(self, *keys: str) -> Iterator[Connection]:
        """A connection inside one transaction that no other ``serialized`` transaction sharing one of ``keys``
        runs beside, in any process over this database; it commits when the block ends.

        PostgreSQL: a transaction-level advisory lock per key, taken in one order so two callers never wait on
        each other in a circle. SQLite: ``BEGIN IMMEDIATE``, the database's one write lock (coarser: every key).
        Keep the block short, a few reads and writes: it holds the lock throughout.
        """
        with self.engine.connect() as conn:
            if self._backend == "postgresql":
                with conn.begin():
                    for lock in sorted({_lock_id(key) for key in keys}):
                        conn.execute(select(func.pg_advisory_xact_lock(_SERIALIZED_LOCK_CLASS, lock)))
                    yield conn
                return
            with self._immediate(conn):
                yield conn

    @staticmethod
    @contextmanager
    def _immediate(conn: Connection) -> Iterator[None]:
        """SQLite: the block in a ``BEGIN IMMEDIATE`` transaction (the write lock taken first), committed at its end."""
        raw = conn.connection.driver_connection
        previous = raw.isolation_level
        # pysqlite would begin a deferred transaction on its own at the first write: a reader then could not
        # take the write lock without a deadlock; with it out of the way, our BEGIN IMMEDIATE is the transaction
        raw.isolation_level = None
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            raw.isolation_level = previous

    # --- outcomes, notes, audit

    def record_outcome(self, activation_id: str, team: str, outcome: str, reason: str | None, by: str, now: datetime) -> None:
        """Record what a team did about an activation; a later record for the same team supersedes it (both are kept)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
        if outcome == "unable" and not (reason and reason.strip()):
            raise ValueError("outcome unable needs a reason")
        row = {
            "activation_id": _bounded(activation_id, "activation id", 64),
            "team": _bounded(team, "team", 100),
            "outcome": outcome,
            "reason": reason,
            "recorded_by": _bounded(by, "recorded by", 100),
            "recorded_at": _aware(now),
        }
        with self.engine.begin() as conn:
            conn.execute(review_outcomes.insert().values(row))

    def outcomes(self, activation_ids: Iterable[str]) -> dict[tuple[str, str], OutcomeRow]:
        """The current outcome per (activation, team): the latest recorded (ties go to the later insert)."""
        return {(row.activation_id, row.team): row for row in self._outcome_rows(activation_ids)}

    def outcome_history(self, activation_id: str) -> list[OutcomeRow]:
        """Every outcome recorded for an activation, corrections included, oldest first."""
        return self._outcome_rows([activation_id])

    def _outcome_rows(self, activation_ids: Iterable[str]) -> list[OutcomeRow]:
        found: list[OutcomeRow] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(activation_ids):
                query = (
                    select(review_outcomes)
                    .where(review_outcomes.c.activation_id.in_(chunk))
                    .order_by(review_outcomes.c.recorded_at, review_outcomes.c.id)
                )
                found.extend(
                    OutcomeRow(activation_id=r.activation_id, team=r.team, outcome=r.outcome, reason=r.reason,
                               recorded_by=r.recorded_by, recorded_at=_utc(r.recorded_at))
                    for r in conn.execute(query)
                )
        found.sort(key=lambda r: r.recorded_at)  # chunks each come sorted; a stable sort keeps insert order on ties
        return found

    def add_note(self, activation_id: str, author: str, text: str, now: datetime) -> None:
        """Add a reviewer's note to an activation (not empty, at most 4,000 characters)."""
        if not text.strip():
            raise ValueError("a note cannot be empty")
        if len(text) > NOTE_MAX_CHARS:
            raise ValueError(f"a note is at most {NOTE_MAX_CHARS} characters, this one has {len(text)}")
        row = {
            "activation_id": _bounded(activation_id, "activation id", 64),
            "author": _bounded(author, "author", 100),
            "text": text,
            "at": _aware(now),
        }
        with self.engine.begin() as conn:
            conn.execute(review_notes.insert().values(row))

    def notes(self, activation_id: str) -> list[NoteRow]:
        """The notes on an activation, oldest first."""
        query = (
            select(review_notes)
            .where(review_notes.c.activation_id == activation_id)
            .order_by(review_notes.c.at, review_notes.c.id)
        )
        with self.engine.connect() as conn:
            return [NoteRow(activation_id=r.activation_id, author=r.author, text=r.text, at=_utc(r.at)) for r in conn.execute(query)]

    def note_counts(self, activation_ids: Iterable[str]) -> dict[str, int]:
        """How many notes each of these activations has (0 for one with none): one grouped query per chunk of ids."""
        counts = dict.fromkeys(activation_ids, 0)
        with self.engine.connect() as conn:
            for chunk in _chunks(counts):
                query = (select(review_notes.c.activation_id, func.count()).where(review_notes.c.activation_id.in_(chunk))
                         .group_by(review_notes.c.activation_id))
                counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
        return counts

    def audit(self, username: str | None, action: str, target: str | None, now: datetime, detail: str | None = None) -> None:
        """Append to the audit log: who (None for the system) did what to what, when."""
        with self.engine.begin() as conn:
            conn.execute(audit_log.insert().values(audit_entry(username, action, target, now, detail)))

    def audit_entries(self, limit: int = 200) -> list[AuditRow]:
        """The latest entries of the audit log, newest first."""
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                AuditRow(at=_utc(r.at), username=r.username, action=r.action, target=r.target, detail=r.detail)
                for r in conn.execute(query)
            ]

    # --- standdowns

    def add_standdown(self, standdown: Standdown) -> StoredStanddown:
        """Store a new standdown, not yet sent; a retried add (the same id) leaves the stored one as it is and
        returns it."""
        weekly = standdown.weekly
        row = {
            "id": standdown.id, "team": standdown.team, "area": standdown.area, "reason": standdown.reason,
            "added_by": standdown.by, "created_at": _aware(standdown.created_at), "starts": _aware(standdown.starts),
            "ends": None if standdown.ends is None else _aware(standdown.ends),
            "weekly_days": None if weekly is None else ",".join(weekly.days),
            "weekly_start": None if weekly is None else weekly.start, "weekly_end": None if weekly is None else weekly.end,
            "ended_at": None, "ended_by": None, "published_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(self._insert(standdowns).values(row).on_conflict_do_nothing(index_elements=["id"]))
        stored = self.standdown(standdown.id)
        assert stored is not None  # just inserted, or there already
        return stored

    def end_standdown(self, standdown_id: str, by: str, now: datetime) -> StoredStanddown:
        """End a standdown now (one not started yet is cancelled): its new version is not yet sent. ``ValueError``
        for an unknown one, or one already ended or over."""
        with self.serialized(f"standdown:{standdown_id}") as conn:
            row = conn.execute(select(standdowns).where(standdowns.c.id == standdown_id)).first()
            if row is None:
                raise ValueError(f"no standdown {standdown_id!r}")
            current = _standdown_of(row)
            if current.ended_at is not None:
                raise ValueError(f"standdown {standdown_id} was already ended by {current.ended_by}")
            if current.last_moment is not None and current.last_moment <= now:
                raise ValueError(f"standdown {standdown_id} is already over")
            conn.execute(standdowns.update().where(standdowns.c.id == standdown_id).values(
                ended_at=_aware(now), ended_by=_bounded(by, "ended by", 100), published_at=None))
        stored = self.standdown(standdown_id)
        assert stored is not None
        return stored

    def mark_standdown_published(self, standdown: Standdown, now: datetime) -> bool:
        """Note that the topic acknowledged this version of a standdown; False (nothing noted) when the stored one
        has changed since (it was ended meanwhile: that version is still to send)."""
        version = standdowns.c.ended_at.is_(None) if standdown.ended_at is None else standdowns.c.ended_at == _aware(standdown.ended_at)
        with self.engine.begin() as conn:
            changed = conn.execute(standdowns.update().where(standdowns.c.id == standdown.id, version)
                                   .values(published_at=_aware(now)).returning(standdowns.c.id))
            return changed.first() is not None

    def standdown(self, standdown_id: str) -> StoredStanddown | None:
        """One standdown by id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(standdowns).where(standdowns.c.id == standdown_id)).first()
        return None if row is None else _stored_standdown(row)

    def standdowns(self, over_since: datetime | None = None) -> list[StoredStanddown]:
        """The stored standdowns, the latest start first: all of them, or (with ``over_since``) those not over
        before that moment (still running, still to come, or ended since)."""
        query = select(standdowns).order_by(standdowns.c.starts.desc(), standdowns.c.id)
        if over_since is not None:
            since = _aware(over_since, "over_since")
            # over: ended early before ``since``, or its end passed before ``since``
            query = query.where(or_(standdowns.c.ended_at.is_(None), standdowns.c.ended_at >= since),
                                or_(standdowns.c.ends.is_(None), standdowns.c.ends >= since))
        with self.engine.connect() as conn:
            return [_stored_standdown(row) for row in conn.execute(query)]

    # --- provider API tokens and pages (reviews/web/api.py)

    def add_api_token(self, team: str, label: str | None, all_teams: bool, now: datetime) -> tuple[ApiToken, str]:
        """A new token for ``team`` (every team's rows with ``all_teams``): the stored token and the token's text, which
        is not kept anywhere (only its hash): the caller shows it once."""
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes
        row = {"token_hash": api_token_hash(token), "team": _bounded(team, "team", 100),
               "label": None if label is None else _bounded(label, "label", 200), "all_teams": all_teams, "created_at": _aware(now)}
        with self.engine.begin() as conn:
            token_id = conn.execute(api_tokens.insert().values(row).returning(api_tokens.c.id)).scalar_one()
        stored = self.api_token(int(token_id))
        assert stored is not None  # just inserted
        return stored, token

    def api_token(self, token_id: int) -> ApiToken | None:
        """One token by id (revoked or not), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return None if row is None else _api_token_of(row)

    def api_tokens(self) -> list[ApiToken]:
        """Every token, revoked ones too, oldest first."""
        with self.engine.connect() as conn:
            return [_api_token_of(row) for row in conn.execute(select(api_tokens).order_by(api_tokens.c.id))]

    def revoke_api_token(self, token_id: int, now: datetime) -> ApiToken:
        """Revoke a token now: from this moment it reads nothing. ``ValueError`` for an unknown or already revoked one."""
        with self.engine.begin() as conn:
            changed = conn.execute(api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                                   .values(revoked_at=_aware(now)).returning(api_tokens.c.id)).first()
        stored = self.api_token(token_id)
        if stored is None:
            raise ValueError(f"no API token {token_id}")
        if changed is None:
            raise ValueError(f"API token {token_id} was already revoked")
        return stored

    def use_api_token(self, token: str, now: datetime) -> ApiToken | None:
        """The live (not revoked) token whose text this is, its last use set to ``now``; None for any other string."""
        if not token.startswith(API_TOKEN_PREFIX) or len(token) > 100:
            return None  # not one of ours: no need to ask the database
        # looked up by its hash in one statement: whether it is revoked is decided with the update, never before it
        statement = (api_tokens.update().where(api_tokens.c.token_hash == api_token_hash(token), api_tokens.c.revoked_at.is_(None))
                     .values(last_used_at=_aware(now)).returning(*api_tokens.c))
        with self.engine.begin() as conn:
            row = conn.execute(statement).first()
        return None if row is None else _api_token_of(row)

    def _json_text(self, key: str):
        """A top-level string field of a timeline record's JSON, as SQL: the provider pages filter on a team or a step
        the timeline table keeps only inside its records."""
        if self._backend == "postgresql":
            return func.jsonb_extract_path_text(cast(timeline.c.record, postgresql.JSONB), key)
        return func.json_extract(timeline.c.record, f"$.{key}")

    def timeline_page(self, kind: Literal["decided", "intent", "task"], after: tuple[datetime, str] | None, since: datetime | None,
                      limit: int, team: str | None) -> list[TimelineRow]:
        """Up to ``limit`` records of one kind in (at, entry_id) order, after the ``after`` key and at or after ``since``.

        ``team`` (None: every team's) keeps a team's own: intents and tasks for the team, and initial decisions of the
        activations it was sent something about. Decisions are the initial ones only (one per activation). Keyset
        paging on the (kind, at) index: a record stored while a client pages is never seen twice.
        """
        query = select(timeline.c.entry_id, timeline.c.activation_id, timeline.c.at, timeline.c.record).where(timeline.c.kind == kind)
        if after is not None:
            at, entry_id = _aware(after[0], "after"), after[1]
            query = query.where(or_(timeline.c.at > at, and_(timeline.c.at == at, timeline.c.entry_id > entry_id)))
        if since is not None:
            query = query.where(timeline.c.at >= _aware(since, "since"))
        if kind == "decided":
            step = self._json_text("step")
            query = query.where(or_(step.is_(None), step == "initial"))  # records from before the step existed were initial
        if team is not None and kind == "decided":
            told = select(timeline.c.activation_id).where(timeline.c.kind == "intent", self._json_text("team") == team)
            query = query.where(timeline.c.activation_id.in_(told))
        elif team is not None:
            query = query.where(self._json_text("team") == team)
        query = query.order_by(timeline.c.at, timeline.c.entry_id).limit(limit)
        with self.engine.connect() as conn:
            return [TimelineRow(r.entry_id, r.activation_id, _utc(r.at), decode_timeline(r.record)) for r in conn.execute(query)]

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
