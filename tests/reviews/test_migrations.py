"""The review store's Alembic migrations on real SQLite and real PostgreSQL: fresh, adopted, raced."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, create_engine, func, inspect, select

from notifiers.ack_links import AckClaim
from reviews.migrations import alembic_config, current_revision, head_revision
from reviews.store import ReviewStore, metadata

pytestmark = pytest.mark.database

REVIEW_TABLES = {"users", "review_outcomes", "review_notes", "audit_log", "standdowns", "api_tokens"}
AT = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)
HEAD = "0006"


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _legacy_metadata(with_ack_tokens: bool = True) -> MetaData:
    """The tables as the store's ``metadata.create_all`` made them before Alembic."""
    old = MetaData()
    Table(
        "timeline",
        old,
        Column("entry_id", String(64), primary_key=True),
        Column("activation_id", String(64), nullable=False, index=True),
        Column("kind", String(32), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("stored_at", DateTime(timezone=True), nullable=False),
        Column("record", Text, nullable=False),
    )
    if with_ack_tokens:
        Table(
            "ack_tokens",
            old,
            Column("token_id", String(100), primary_key=True),
            Column("activation_id", String(64), nullable=False, index=True),
            Column("team", String(100), nullable=False),
            Column("recipient", String(300), nullable=False),
            Column("response", String(16), nullable=False),
            Column("used_at", DateTime(timezone=True), nullable=False),
        )
    return old


def _make_legacy(url: str, with_ack_tokens: bool = True) -> None:
    old = _legacy_metadata(with_ack_tokens)
    engine = create_engine(url)
    try:
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(old.tables["timeline"].insert().values(
                entry_id="tl-old-1", activation_id="act-old", kind="intent", at=AT, stored_at=AT, record="{}"))
            if with_ack_tokens:
                conn.execute(old.tables["ack_tokens"].insert().values(
                    token_id="ack-old-1", activation_id="act-old", team="gvi-outreach", recipient="tel:+1...0123",
                    response="ack", used_at=AT))
    finally:
        engine.dispose()


def test_a_fresh_database_is_migrated_to_head_and_matches_the_metadata(db_url: str) -> None:
    store = ReviewStore(db_url)
    try:
        store.create_schema()
    finally:
        store.dispose()
    assert head_revision() == HEAD
    assert _revision(db_url) == HEAD
    assert {"timeline", "ack_tokens", *REVIEW_TABLES} <= _tables(db_url)
    assert _diff(db_url) == []


def test_the_comparison_sees_a_schema_that_is_behind(db_url: str) -> None:
    # the equality above means something only if a missing revision shows up as differences
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(db_url, conn), "0001")
    finally:
        engine.dispose()
    assert _revision(db_url) == "0001"
    diff = _diff(db_url)
    assert {d[1].name for d in diff if d[0] == "add_table"} == REVIEW_TABLES
    assert any(d[0] == "add_index" and d[1].name == "ix_timeline_kind_at" for d in diff)


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    store.dispose()
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(db_url, conn), "base")
        assert _tables(db_url) <= {"alembic_version"}
        with engine.begin() as conn:
            command.upgrade(alembic_config(db_url, conn), "head")
    finally:
        engine.dispose()
    assert _diff(db_url) == []


def test_a_database_made_by_the_old_create_all_is_adopted_with_its_rows(db_url: str) -> None:
    _make_legacy(db_url)
    assert _revision(db_url) is None
    store = ReviewStore(db_url)
    try:
        store.create_schema()
        assert _revision(db_url) == HEAD
        assert _diff(db_url) == []
        assert store.count() == 1 and store.count("intent") == 1
        use = store.ack_token_use("ack-old-1")
        assert use is not None and use.response == "ack" and use.used_at == AT
        store.create_schema()  # and from then on it is an ordinary Alembic database
        assert store.count() == 1
    finally:
        store.dispose()


def test_a_database_from_before_ack_links_gets_its_ack_tokens_table(db_url: str) -> None:
    _make_legacy(db_url, with_ack_tokens=False)
    store = ReviewStore(db_url)
    try:
        store.create_schema()
        assert store.count() == 1
        assert store.ack_token_use("ack-old-1") is None
    finally:
        store.dispose()
    assert _revision(db_url) == HEAD
    assert _diff(db_url) == []


def test_ack_tokens_without_a_timeline_is_refused_and_left_alone(db_url: str) -> None:
    old = _legacy_metadata()
    engine = create_engine(db_url)
    old.tables["ack_tokens"].create(engine)
    engine.dispose()
    store = ReviewStore(db_url)
    try:
        with pytest.raises(RuntimeError) as info:
            store.create_schema()
    finally:
        store.dispose()
    assert str(info.value) == ("the review database has an ack_tokens table but no timeline table: "
                               "not a store this version can adopt")
    assert _tables(db_url) == {"ack_tokens"}  # the refused migration was rolled back whole


def test_create_schema_twice_in_a_row(db_url: str) -> None:
    store = ReviewStore(db_url)
    try:
        store.create_schema()
        store.append([])  # nothing to do, but the store works
        store.create_schema()
    finally:
        store.dispose()
    assert _revision(db_url) == HEAD
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Table("alembic_version", MetaData(), autoload_with=conn))).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("legacy", [False, True], ids=["fresh", "legacy"])
def test_create_schema_from_threads_at_once(db_url: str, legacy: bool) -> None:
    if legacy:
        _make_legacy(db_url)
    workers = 4
    stores = [ReviewStore(db_url) for _ in range(workers)]  # an engine each, like separate processes
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(store: ReviewStore) -> None:
        start.wait()
        try:
            store.create_schema()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.dispose()
    assert errors == []
    assert _revision(db_url) == HEAD
    assert _diff(db_url) == []


def test_create_schema_from_processes_at_once(db_url: str) -> None:
    script = "import sys\nfrom reviews.store import ReviewStore\nReviewStore(sys.argv[1]).create_schema()\n"
    processes = [subprocess.Popen([sys.executable, "-c", script, db_url], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
    assert results == [(0, "")] * 3
    assert _revision(db_url) == HEAD
    assert _diff(db_url) == []


def test_0003_gives_existing_users_generation_0_and_downgrades_keeping_them(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(db_url, conn), "0002")
            conn.exec_driver_sql("INSERT INTO users (username, password_hash, role, team, created_at, disabled) "
                                 "VALUES ('nadia', 'x', 'dns', NULL, '2026-07-05 03:04:00', false)")
        store = ReviewStore(db_url)
        try:
            store.create_schema()
            assert store.user("nadia").session_generation == 0
            store.end_sessions("nadia")
            assert store.user("nadia").session_generation == 1
        finally:
            store.dispose()
        with engine.begin() as conn:
            command.downgrade(alembic_config(db_url, conn), "0002")
        assert _revision(db_url) == "0002"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT username FROM users").scalars().all() == ["nadia"]
            assert "session_generation" not in {c["name"] for c in inspect(conn).get_columns("users")}
    finally:
        engine.dispose()


def test_0004_keeps_the_uses_of_ack_links_and_takes_one_use_per_answer(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(db_url, conn), "0003")
            conn.exec_driver_sql("INSERT INTO ack_tokens (token_id, activation_id, team, recipient, response, used_at) "
                                 "VALUES ('ack-old-1', 'act-old', 'gvi-outreach', 'rcpt-1', 'ack', '2026-07-05 03:04:00')")
        store = ReviewStore(db_url)
        try:
            store.create_schema()
            assert [u.response for u in store.ack_token_uses("ack-old-1")] == ["ack"]
            claim = AckClaim(token_id="ack-old-1", activation_id="act-old", ref="R", team="gvi-outreach", recipient="rcpt-1",
                             intent_id="int-1", expires_at=AT)
            assert store.claim_ack_token(claim, "on_my_way", AT) is None  # a second answer of the same link
        finally:
            store.dispose()
        with engine.begin() as conn:
            command.downgrade(alembic_config(db_url, conn), "0003")
        with engine.connect() as conn:  # one use per link again: the first answer is kept
            assert conn.exec_driver_sql("SELECT token_id, response FROM ack_tokens").all() == [("ack-old-1", "ack")]
    finally:
        engine.dispose()
