"""Review users: scrypt hashes, the store's users on real SQLite and PostgreSQL, and `vigil users`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reviews.store import ReviewStore, users
from reviews.users import User, hash_password, verify_password
from stream.cli.main import app

NOW = datetime(2026, 7, 5, 14, 0, tzinfo=UTC)
GOOD = "correct horse battery"


def test_hash_format_and_verify() -> None:
    stored = hash_password(GOOD)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) >= 32
    assert verify_password(GOOD, stored)
    assert not verify_password(GOOD + " ", stored)
    assert not verify_password("", stored)
    assert hash_password(GOOD) != stored  # a new salt each time


@pytest.mark.parametrize("stored", ["", "scrypt$16384$8$1$AAAA", "bcrypt$16384$8$1$AAAA$AAAA", "scrypt$x$8$1$AAAA$AAAA",
                                    "scrypt$16384$8$1$not base64!$AAAA", "scrypt$3$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"])
def test_a_malformed_hash_verifies_nothing(stored: str) -> None:
    assert verify_password(GOOD, stored) is False


@pytest.fixture
def store(db_url: str):
    review_store = ReviewStore(db_url)
    review_store.create_schema()
    yield review_store
    review_store.dispose()


@pytest.mark.database
def test_add_users_and_read_them_back(store: ReviewStore) -> None:
    store.add_user("nadia", GOOD, "dns", None, NOW)
    store.add_user("lead.north", GOOD, "lead", "vi-north-nearnorth", NOW)
    assert store.user("nadia") == User("nadia", "dns", None, False)
    assert store.user("lead.north") == User("lead.north", "lead", "vi-north-nearnorth", False)
    assert store.user("nobody") is None
    assert store.users() == [User("lead.north", "lead", "vi-north-nearnorth", False), User("nadia", "dns", None, False)]
    with store.engine.connect() as conn:
        row = conn.execute(select(users.c.password_hash, users.c.created_at).where(users.c.username == "nadia")).one()
    assert GOOD not in row.password_hash and verify_password(GOOD, row.password_hash)


@pytest.mark.database
@pytest.mark.parametrize(
    ("username", "password", "role", "team", "message"),
    [
        ("x", GOOD, "admin", None, "unknown role 'admin': expected dns or lead"),
        ("x", GOOD, "lead", None, "a lead needs a team"),
        ("x", GOOD, "lead", "", "a lead needs a team"),
        ("x", GOOD, "dns", "gvi-outreach", "a dns user reviews every team and takes no team"),
        ("x", "123456789", "dns", None, "password must be at least 10 characters"),
        ("", GOOD, "dns", None, "invalid username '': use 1 to 100 letters, digits, '.', '_', '@' or '-'"),
        ("has space", GOOD, "dns", None, "invalid username 'has space': use 1 to 100 letters, digits, '.', '_', '@' or '-'"),
        ("x", GOOD, "lead", "t" * 101, "team must be at most 100 characters"),
    ],
)
def test_add_user_refuses(store: ReviewStore, username: str, password: str, role: str, team: str | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        store.add_user(username, password, role, team, NOW)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert store.users() == []


@pytest.mark.database
def test_a_username_is_taken_once(store: ReviewStore) -> None:
    store.add_user("nadia", GOOD, "dns", None, NOW)
    with pytest.raises(ValueError) as info:
        store.add_user("nadia", "another password", "lead", "gvi-outreach", NOW)
    assert str(info.value) == "user 'nadia' already exists"
    assert store.user("nadia") == User("nadia", "dns", None, False)  # the first one is untouched
    assert store.check_password("nadia", GOOD) is not None


@pytest.mark.database
def test_check_password(store: ReviewStore) -> None:
    store.add_user("lead.north", GOOD, "lead", "vi-north-nearnorth", NOW)
    assert store.check_password("lead.north", GOOD) == User("lead.north", "lead", "vi-north-nearnorth", False)
    assert store.check_password("lead.north", "wrong password") is None
    assert store.check_password("lead.north", GOOD.upper()) is None
    assert store.check_password("nobody", GOOD) is None


@pytest.mark.database
def test_a_disabled_user_cannot_sign_in_until_enabled(store: ReviewStore) -> None:
    store.add_user("lead.north", GOOD, "lead", "vi-north-nearnorth", NOW)
    store.set_disabled("lead.north", True)
    assert store.check_password("lead.north", GOOD) is None
    assert store.user("lead.north") == User("lead.north", "lead", "vi-north-nearnorth", True)
    store.set_disabled("lead.north", False)
    assert store.check_password("lead.north", GOOD) is not None
    with pytest.raises(ValueError) as info:
        store.set_disabled("nobody", True)
    assert str(info.value) == "no user 'nobody'"


# --- vigil users


@pytest.mark.database
def test_cli_adds_and_lists_users(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_NEW_PASSWORD", GOOD)
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "nadia", "--role", "dns", "--db-url", db_url])
    assert added.exit_code == 0, added.output
    assert added.stdout == "added dns nadia\n"
    monkeypatch.setenv("VIGIL_DB_URL", db_url)  # the option's environment variable
    added = runner.invoke(app, ["users", "add", "lead.north", "--role", "lead", "--team", "vi-north-nearnorth"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [
        "username    role  team                disabled",
        "lead.north  lead  vi-north-nearnorth  no",
        "nadia       dns   -                   no",
    ]
    store = ReviewStore(db_url)
    try:
        assert store.check_password("nadia", GOOD) == User("nadia", "dns", None, False)
        assert [(e.username, e.action, e.target) for e in store.audit_entries()] == [
            (None, "user_added", "lead.north"), (None, "user_added", "nadia")]
    finally:
        store.dispose()


@pytest.mark.database
@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["nadia", "--role", "dns", "--team", "gvi-outreach"], GOOD, "a dns user reviews every team and takes no team"),
        (["nadia", "--role", "lead"], GOOD, "a lead needs a team"),
        (["nadia", "--role", "boss"], GOOD, "unknown role 'boss': expected dns or lead"),
        (["nadia", "--role", "dns"], "short", "password must be at least 10 characters"),
    ],
)
def test_cli_refusals_exit_2_on_stderr(db_url: str, monkeypatch: pytest.MonkeyPatch, args: list[str], password: str, message: str) -> None:
    monkeypatch.setenv("VIGIL_NEW_PASSWORD", password)
    result = CliRunner().invoke(app, ["users", "add", *args, "--db-url", db_url])
    assert result.exit_code == 2
    assert result.stderr == f"vigil users: {message}\n"
    assert result.stdout == ""


def test_cli_refuses_a_taken_username(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_NEW_PASSWORD", GOOD)
    db_url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    runner = CliRunner()
    assert runner.invoke(app, ["users", "add", "nadia", "--role", "dns", "--db-url", db_url]).exit_code == 0
    again = runner.invoke(app, ["users", "add", "nadia", "--role", "dns", "--db-url", db_url])
    assert again.exit_code == 2
    assert again.stderr == "vigil users: user 'nadia' already exists\n"


def test_cli_refuses_another_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_NEW_PASSWORD", GOOD)
    result = CliRunner().invoke(app, ["users", "add", "nadia", "--role", "dns", "--db-url", "mysql+mysqlconnector://root@127.0.0.1/x"])
    assert result.exit_code == 2
    assert result.stderr == "vigil users: review store supports sqlite and postgresql URLs, not mysql\n"


def test_cli_asks_for_the_password_twice_without_showing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_NEW_PASSWORD", raising=False)
    db_url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    runner = CliRunner()
    mismatch = runner.invoke(app, ["users", "add", "nadia", "--role", "dns", "--db-url", db_url],
                             input=f"{GOOD}\nsomething else\n{GOOD}\n{GOOD}\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert GOOD not in mismatch.output  # hidden input is not echoed
    assert "Repeat for confirmation" in mismatch.output
    store = ReviewStore(db_url)
    try:
        assert store.check_password("nadia", GOOD) is not None
    finally:
        store.dispose()


@pytest.mark.database
def test_ending_sessions_a_new_password_and_disabling_bump_the_session_generation(store: ReviewStore) -> None:
    store.add_user("nadia", GOOD, "dns", None, NOW)
    assert store.user("nadia").session_generation == 0
    store.end_sessions("nadia")
    assert store.user("nadia").session_generation == 1
    store.set_password("nadia", "a brand new passphrase")
    assert store.user("nadia").session_generation == 2
    assert store.check_password("nadia", GOOD) is None
    assert store.check_password("nadia", "a brand new passphrase").session_generation == 2
    store.set_disabled("nadia", True)
    store.set_disabled("nadia", False)  # enabling does not bring the ended sessions back
    assert store.user("nadia").session_generation == 3
    assert [u.session_generation for u in store.users()] == [3]


@pytest.mark.database
def test_set_password_and_end_sessions_refuse(store: ReviewStore) -> None:
    store.add_user("nadia", GOOD, "dns", None, NOW)
    with pytest.raises(ValueError, match="^password must be at least 10 characters$"):
        store.set_password("nadia", "short")
    for change in (lambda: store.set_password("nobody", GOOD), lambda: store.end_sessions("nobody")):
        with pytest.raises(ValueError, match="^no user 'nobody'$"):
            change()
    assert store.user("nadia").session_generation == 0 and store.check_password("nadia", GOOD) is not None


@pytest.mark.database
def test_serialized_transactions_on_one_key_run_one_at_a_time(store: ReviewStore) -> None:
    import threading
    import time

    inside, overlaps, guard = [0], [], threading.Lock()

    def hold() -> None:
        with store.serialized("username nadia", "client 203.0.113.7") as conn:
            with guard:
                inside[0] += 1
                overlaps.append(inside[0])
            conn.execute(select(users.c.username)).all()
            time.sleep(0.05)
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1] * 6
