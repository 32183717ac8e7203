"""The review store: append-only timeline records in SQLite (default) or PostgreSQL.

Appending is idempotent on the record's deterministic ``entry_id``: the sink re-reads the timeline
topic at least once after a restart, and a record already stored is left as it is.

It also keeps the uses of ack links (``ack_tokens``): the token id is the primary key, so of two
taps racing on one link (two web workers, or a double tap), exactly one insert wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    make_url,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from stream.timeline import TimelineRecord, decode_timeline

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
    Column("response", String(16), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class AckUse:
    """How an ack link was used: the answer given and when (UTC)."""

    response: str
    used_at: datetime


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone=True columns; they were stored as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ReviewStore:
    """Append-only storage of timeline records, and the reads the review needs."""

    def __init__(self, url: str):
        backend = make_url(url).get_backend_name()
        if backend not in ("postgresql", "sqlite"):
            raise ValueError(f"review store supports sqlite and postgresql URLs, not {backend}")
        # the sink writes from a worker thread, off the event loop
        connect_args = {"check_same_thread": False} if backend == "sqlite" else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        self._insert = postgresql.insert if backend == "postgresql" else sqlite.insert

    def create_schema(self) -> None:
        """Create the tables if they do not exist (several workers starting together may race to it)."""
        from sqlalchemy.exc import DatabaseError

        for attempt in range(3):
            try:
                metadata.create_all(self.engine)
                return
            except DatabaseError:
                # another process created a table between our check and our CREATE: check again
                if attempt == 2:
                    raise

    def append(self, records: Iterable[TimelineRecord]) -> int:
        """Store records not yet stored; return how many were new."""
        rows = [
            {
                "entry_id": r.entry_id,
                "activation_id": r.activation_id,
                "kind": r.kind,
                "at": r.at,
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
        """Record the one use of an ack link: None when this call claimed it, else the earlier use."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        row = {
            "token_id": claim.token_id,
            "activation_id": claim.activation_id,
            "team": claim.team,
            "recipient": claim.recipient,
            "response": response,
            "used_at": now.astimezone(UTC),
        }
        statement = (
            self._insert(ack_tokens).values(row).on_conflict_do_nothing(index_elements=["token_id"]).returning(ack_tokens.c.token_id)
        )
        # A claim released between our refused insert and our read leaves no earlier use: try again.
        for _ in range(3):
            with self.engine.begin() as conn:
                if conn.execute(statement).first() is not None:
                    return None
            earlier = self.ack_token_use(claim.token_id)
            if earlier is not None:
                return earlier
        raise RuntimeError(f"ack token {claim.token_id} kept being claimed and released")

    def ack_token_use(self, token_id: str) -> AckUse | None:
        """The use of an ack link, or None while it is unused."""
        query = select(ack_tokens.c.response, ack_tokens.c.used_at).where(ack_tokens.c.token_id == token_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else AckUse(response=row.response, used_at=_utc(row.used_at))

    def release_ack_token(self, token_id: str) -> None:
        """Forget the use of an ack link (its answer could not be published), so the person can try again."""
        with self.engine.begin() as conn:
            conn.execute(ack_tokens.delete().where(ack_tokens.c.token_id == token_id))

    def team_alerted(self, activation_id: str, team: str) -> bool:
        """Whether a notification intent for ``team`` is stored for this activation."""
        query = select(timeline.c.record).where(timeline.c.activation_id == activation_id, timeline.c.kind == "intent")
        with self.engine.connect() as conn:
            # Few intents per activation: reading their JSON beats a new column on the timeline table.
            return any(json.loads(row.record).get("team") == team for row in conn.execute(query))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
