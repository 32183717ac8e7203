"""The review store: append-only timeline records in SQLite (default) or PostgreSQL.

Appending is idempotent on the record's deterministic ``entry_id``: the sink re-reads the timeline
topic at least once after a restart, and a record already stored is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

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
        """Create the tables if they do not exist."""
        metadata.create_all(self.engine)

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

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
