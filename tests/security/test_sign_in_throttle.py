"""Sign-in throttling: 5 failures for a username within 15 minutes lock it for 15 minutes, 20 from one client
address lock the address; counted from the audit log, so every replica over the store sees the same count.
On SQLite and PostgreSQL (the ``review`` fixture's ``db_url``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from reviews.auth import CLIENT_LOCKED, MAX_FAILURES_PER_CLIENT, MAX_FAILURES_PER_USERNAME, THROTTLED, USERNAME_LOCKED
from reviews.web.signin import WRONG_PASSWORD
from tests.reviews.web.fixtures import MORNING, PASSWORD, Review, csrf_of

pytestmark = pytest.mark.database

USERNAME_LOCK_MESSAGE = "Too many failed sign-ins for this username: try again in 15 minutes"
CLIENT_LOCK_MESSAGE = "Too many failed sign-ins from your network address: try again in 15 minutes"


def browser(review: Review, address: str = "203.0.113.7", app=None) -> TestClient:
    """A fresh browser at a given client address."""
    client = TestClient(app or review.app, follow_redirects=False, client=(address, 50000))
    client.__enter__()
    review.clients.append(client)
    return client


def attempt(client: TestClient, username: str, password: str):
    """One sign-in through the form, as a browser does it."""
    csrf = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf, "next": "/"})


def fail(client: TestClient, username: str, times: int) -> None:
    """``times`` wrong passwords for ``username``, each refused as a plain wrong password."""
    for _ in range(times):
        assert attempt(client, username, "wrong password!").status_code == 401


def test_the_limits() -> None:
    assert (MAX_FAILURES_PER_USERNAME, MAX_FAILURES_PER_CLIENT) == (5, 20)


def test_five_failures_lock_the_username_for_15_minutes_with_429_and_retry_after(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    refused = attempt(client, "dana", PASSWORD)  # the right password too: a lock is a lock
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "900"
    assert USERNAME_LOCK_MESSAGE in refused.text
    assert client.get("/review/2026-07-04").status_code == 303  # not signed in


def test_four_failures_do_not_lock(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 4)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_the_lock_ends_15_minutes_after_the_fifth_failure(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    review.now = MORNING + timedelta(minutes=14, seconds=59)
    almost = attempt(client, "dana", PASSWORD)
    assert (almost.status_code, almost.headers["Retry-After"]) == (429, "1")
    assert "try again in 1 minute" in almost.text
    review.now = MORNING + timedelta(minutes=15)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_attempts_while_locked_do_not_extend_the_lock(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    for minute in range(1, 15):
        review.now = MORNING + timedelta(minutes=minute)
        assert attempt(client, "dana", "another guess").status_code == 429
    review.now = MORNING + timedelta(minutes=15)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_failures_older_than_15_minutes_do_not_count(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 4)
    review.now = MORNING + timedelta(minutes=15)
    fail(client, "dana", 4)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_a_successful_sign_in_resets_the_usernames_count(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 4)
    assert attempt(client, "dana", PASSWORD).status_code == 303
    fail(browser(review), "dana", 4)
    assert attempt(browser(review), "dana", PASSWORD).status_code == 303


def test_a_lock_is_per_username(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    assert attempt(client, "lee", PASSWORD).status_code == 303


def test_a_lockout_does_not_tell_whether_the_username_exists(review: Review) -> None:
    pages = {}
    for username in ("dana", "nobody"):
        client = browser(review)
        wrong = [attempt(client, username, "wrong password!") for _ in range(5)]
        assert {(r.status_code, WRONG_PASSWORD in r.text) for r in wrong} == {(401, True)}
        locked = attempt(client, username, "wrong password!")
        pages[username] = (locked.status_code, locked.headers["Retry-After"],
                           locked.text.replace(csrf_of(locked.text), "").replace(f'value="{username}"', ""))
    assert pages["dana"] == pages["nobody"]
    assert pages["dana"][:2] == (429, "900")


def test_twenty_failures_from_one_address_lock_the_address(review: Review) -> None:
    client = browser(review, "198.51.100.9")
    for k in range(20):  # a spray: a few guesses at many usernames, never 5 at one
        assert attempt(client, f"user{k % 10}", "Summer2026!").status_code == 401
    refused = attempt(client, "dana", PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "900"
    assert CLIENT_LOCK_MESSAGE in refused.text
    # another address is not held back by it
    assert attempt(browser(review, "198.51.100.10"), "dana", PASSWORD).status_code == 303


def test_the_count_holds_across_replicas(review: Review) -> None:
    # two `vigil web` processes over one store: failures on either count for both
    replica = review.make_app()
    first, second = browser(review), browser(review, app=replica)
    fail(first, "dana", 3)
    fail(second, "dana", 2)
    assert attempt(first, "dana", PASSWORD).status_code == 429
    assert attempt(second, "dana", PASSWORD).status_code == 429


def test_lockouts_and_refused_attempts_are_audited_without_passwords(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    attempt(client, "dana", PASSWORD)
    entries = [(e.username, e.action, e.target, e.detail) for e in review.audit() if e.action != "sign_in"]
    assert entries == [("dana", "sign_in_failed", "/login", "client 203.0.113.7")] * 5 + [
        ("dana", USERNAME_LOCKED, "/login", "client 203.0.113.7"),
        ("dana", THROTTLED, "/login", "client 203.0.113.7; username locked"),
    ]
    assert all(PASSWORD not in repr(e) and "wrong password!" not in repr(e) for e in review.audit())


def test_an_address_lockout_is_audited(review: Review) -> None:
    client = browser(review, "198.51.100.9")
    for k in range(20):
        attempt(client, f"user{k}", "x")
    locks = [(e.username, e.detail) for e in review.audit(CLIENT_LOCKED)]
    assert locks == [("user19", "client 198.51.100.9")]


def test_a_form_without_its_csrf_token_is_not_counted(review: Review) -> None:
    client = browser(review)
    for _ in range(10):
        assert client.post("/login", data={"username": "dana", "password": "x", "csrf": "nope"}).status_code == 403
    assert attempt(client, "dana", PASSWORD).status_code == 303
