"""Ending a session ends it on the server (issue 15, item 2): a ``vigil_session`` cookie saved before ``POST /logout``,
a password change (``vigil users set-password``) or ``vigil users disable`` neither reads nor writes afterwards. The
store keeps a session generation per user; a cookie carries the generation it was issued under. On SQLite and
PostgreSQL (the ``review`` fixture's store)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reviews.auth import SESSION_COOKIE
from stream.cli.main import app as vigil
from tests.reviews.web.fixtures import PASSWORD, Review, csrf_of, sign_in

pytestmark = pytest.mark.database

DAY = "/review/2026-07-04"
NEW_PASSWORD = "a brand new passphrase"


def replay(review: Review, cookie: str) -> TestClient:
    """Another browser holding a copy of a saved session cookie."""
    client = review.client()
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def note_count(review: Review) -> int:
    return len(review.store.notes(review.ids["jordan"]))


def saved_session(review: Review, username: str = "dana") -> tuple[TestClient, str, str]:
    """A signed-in browser, a copy of its cookie and its CSRF token (what an attacker who saved the cookie has)."""
    client = review.signed_in(username)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    return client, cookie, csrf_of(client.get(DAY).text)


def assert_dead(review: Review, cookie: str, csrf: str) -> None:
    """The saved cookie neither reads a page nor writes a note."""
    copy = replay(review, cookie)
    read = copy.get(DAY)
    assert read.status_code == 303
    assert read.headers["location"] == f"/login?next={DAY.replace('/', '%2F')}"
    before = note_count(review)
    write = copy.post(f"/activation/{review.ids['jordan']}/note", data={"csrf": csrf, "text": "written with a dead session"})
    assert (write.status_code, write.headers["location"]) == (303, "/login")
    assert note_count(review) == before


def users(review: Review, monkeypatch: pytest.MonkeyPatch, *args: str):
    """`vigil users ...` against the review fixture's store."""
    monkeypatch.setenv("VIGIL_DB_URL", review.store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("VIGIL_NEW_PASSWORD", NEW_PASSWORD)
    return CliRunner().invoke(vigil, ["users", *args])


def test_a_cookie_saved_before_sign_out_is_dead_after_it(review: Review) -> None:
    client, cookie, csrf = saved_session(review)
    assert replay(review, cookie).get(DAY).status_code == 200  # the copy works while the session lives
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert_dead(review, cookie, csrf)


def test_signing_out_ends_the_users_other_sessions_too(review: Review) -> None:
    phone, desk = review.signed_in("dana"), review.signed_in("dana")
    lee = review.signed_in("lee")
    phone.post("/logout", data={"csrf": csrf_of(phone.get(DAY).text)})
    assert desk.get(DAY).status_code == 303
    assert lee.get(DAY).status_code == 200  # another user's session is not touched
    assert review.signed_in("dana").get(DAY).status_code == 200  # and signing in again works


def test_a_password_change_ends_every_session(review: Review, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cookie, csrf = saved_session(review)
    result = users(review, monkeypatch, "set-password", "dana")
    assert (result.exit_code, result.stdout) == (0, "password set for dana; every session of dana is ended\n")
    assert_dead(review, cookie, csrf)
    assert sign_in(review.client(), "dana", PASSWORD).status_code == 401
    assert sign_in(review.client(), "dana", NEW_PASSWORD).status_code == 303


def test_a_disabled_user_is_signed_out_at_once_and_cannot_sign_in(review: Review, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cookie, csrf = saved_session(review)
    result = users(review, monkeypatch, "disable", "dana")
    assert (result.exit_code, result.stdout) == (0, "disabled dana; every session of dana is ended\n")
    assert_dead(review, cookie, csrf)
    assert sign_in(review.client(), "dana").status_code == 401
    result = users(review, monkeypatch, "enable", "dana")
    assert (result.exit_code, result.stdout) == (0, "enabled dana\n")
    assert sign_in(review.client(), "dana").status_code == 303
    assert_dead(review, cookie, csrf)  # enabling again does not bring the old sessions back


def test_the_commands_are_audited(review: Review, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in ("disable", "enable", "set-password"):
        assert users(review, monkeypatch, command, "lee").exit_code == 0
    entries = [(e.username, e.action, e.target) for e in review.audit() if e.action.startswith(("user_", "password_"))]
    assert entries == [(None, "user_disabled", "lee"), (None, "user_enabled", "lee"), (None, "password_set", "lee")]
    assert all(NEW_PASSWORD not in repr(e) for e in review.audit())


@pytest.mark.parametrize("command", ["disable", "enable", "set-password"])
def test_the_commands_refuse_an_unknown_user(review: Review, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    result = users(review, monkeypatch, command, "nobody")
    assert (result.exit_code, result.stderr, result.stdout) == (2, "vigil users: no user 'nobody'\n", "")
    assert [e for e in review.audit() if e.action.startswith(("user_", "password_"))] == []


def test_set_password_refuses_a_short_password(review: Review, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_NEW_PASSWORD", "short")
    monkeypatch.setenv("VIGIL_DB_URL", review.store.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(vigil, ["users", "set-password", "dana"])
    assert (result.exit_code, result.stderr) == (2, "vigil users: password must be at least 10 characters\n")
    assert sign_in(review.client(), "dana").status_code == 303  # the old password still works
