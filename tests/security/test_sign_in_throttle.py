"""Sign-in throttling (issue 15, item 3: a lockout must not lock the owner out). Keyed on the username AND the client
address: 5 failures of a username from one address make that address wait 1, 2, 4, 8, then 15 minutes between its
next attempts, while the owner elsewhere signs in; 20 failures of a username from every address together lock it
for 15 minutes for addresses it never signed in from (its owner's usual address still gets in); 20 failures from
one address lock the address. Counted from the audit log, so every replica over the store sees the same counts.
The 429 page says whom to contact. On SQLite and PostgreSQL (the ``review`` fixture's ``db_url``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reviews.auth import (
    CLIENT_LOCKED,
    FREE_FAILURES_PER_PAIR,
    MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_USERNAME,
    SIGN_IN_PENDING,
    THROTTLED,
    USERNAME_LOCKED,
    pair_delay,
)
from reviews.web.signin import WRONG_PASSWORD
from stream.cli.main import app as vigil
from tests.reviews.web.fixtures import MORNING, PASSWORD, Review, csrf_of

pytestmark = pytest.mark.database

PAIR_DELAY_MESSAGE = "Too many failed sign-ins for this username from your network address: try again in {}"
USERNAME_LOCK_MESSAGE = ("Too many failed sign-ins for this username from addresses it has not signed in from: try again in "
                         "15 minutes, or sign in from a computer or phone you have signed in from before")
CLIENT_LOCK_MESSAGE = "Too many failed sign-ins from your network address: try again in 15 minutes"
DEFAULT_CONTACT = "Locked out and need in now? Contact the DNS on-call."
ATTACKER, OWNER_DESK, OWNER_HOME = "198.51.100.66", "203.0.113.20", "192.0.2.44"


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
    assert (FREE_FAILURES_PER_PAIR, MAX_FAILURES_PER_USERNAME, MAX_FAILURES_PER_CLIENT) == (5, 20, 20)
    assert [pair_delay(k) // timedelta(minutes=1) for k in range(3, 12)] == [0, 0, 1, 2, 4, 8, 15, 15, 15]


def test_five_failures_from_one_address_make_it_wait_a_minute_with_429_and_retry_after(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    refused = attempt(client, "dana", PASSWORD)  # the right password too: the address waits
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert PAIR_DELAY_MESSAGE.format("1 minute") in refused.text
    assert DEFAULT_CONTACT in refused.text
    assert client.get("/review/2026-07-04").status_code == 303  # not signed in
    review.now = MORNING + timedelta(minutes=1)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_four_failures_do_not_delay(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 4)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_the_owner_on_another_address_still_gets_in(review: Review) -> None:
    # the abuse run: an attacker's wrong passwords locked the username for everyone, its owner included
    attacker = browser(review, ATTACKER)
    fail(attacker, "dana", 5)
    for _ in range(10):
        assert attempt(attacker, "dana", "yet another guess").status_code == 429
    assert attempt(browser(review, OWNER_HOME), "dana", PASSWORD).status_code == 303


def test_the_delays_grow_1_2_4_8_then_15_minutes(review: Review) -> None:
    client = browser(review, ATTACKER)
    fail(client, "dana", 5)
    last = MORNING
    for minutes in (1, 2, 4, 8, 15, 15):
        review.now = last + timedelta(minutes=minutes) - timedelta(seconds=1)
        early = attempt(client, "dana", "a guess")
        assert (early.status_code, early.headers["Retry-After"]) == (429, "1")
        review.now = last = last + timedelta(minutes=minutes)
        assert attempt(client, "dana", "a guess").status_code == 401
        refused = attempt(client, "dana", "a guess")
        wait = min(2 * minutes, 15)
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, str(60 * wait))
        assert PAIR_DELAY_MESSAGE.format(f"{wait} minutes") in refused.text


def test_attempts_while_delayed_do_not_extend_the_delay(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    for seconds in range(5, 60, 5):
        review.now = MORNING + timedelta(seconds=seconds)
        assert attempt(client, "dana", "another guess").status_code == 429
    review.now = MORNING + timedelta(minutes=1)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_failures_older_than_an_hour_do_not_count(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 4)
    review.now = MORNING + timedelta(hours=1)
    fail(client, "dana", 4)
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_a_successful_sign_in_resets_the_addresss_count(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 4)
    assert attempt(client, "dana", PASSWORD).status_code == 303
    fail(browser(review), "dana", 4)
    assert attempt(browser(review), "dana", PASSWORD).status_code == 303


def test_a_delay_is_per_username(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    assert attempt(client, "lee", PASSWORD).status_code == 303


def spread_guesses(review: Review, username: str, addresses: int = 4) -> None:
    """Five wrong passwords from each of ``addresses`` addresses: 20 for ``username``, no address over its own limit."""
    for k in range(addresses):
        fail(browser(review, f"198.51.100.{100 + k}"), username, 5)


def test_guesses_from_many_addresses_lock_the_username_for_new_addresses_only(review: Review) -> None:
    review.now = MORNING - timedelta(days=30)
    assert attempt(browser(review, OWNER_DESK), "dana", PASSWORD).status_code == 303  # her desk, a month ago
    review.now = MORNING
    spread_guesses(review, "dana")
    refused = attempt(browser(review, OWNER_HOME), "dana", PASSWORD)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "900")
    assert USERNAME_LOCK_MESSAGE in refused.text and DEFAULT_CONTACT in refused.text
    assert attempt(browser(review, OWNER_DESK), "dana", PASSWORD).status_code == 303  # a known address gets in
    assert attempt(browser(review, OWNER_HOME), "lee", PASSWORD).status_code == 303  # another username is not locked
    review.now = MORNING + timedelta(minutes=15)
    assert attempt(browser(review, OWNER_HOME), "dana", PASSWORD).status_code == 303


def test_an_address_is_known_for_90_days(review: Review) -> None:
    review.now = MORNING - timedelta(days=91)
    assert attempt(browser(review, OWNER_DESK), "dana", PASSWORD).status_code == 303
    review.now = MORNING
    spread_guesses(review, "dana")
    assert attempt(browser(review, OWNER_DESK), "dana", PASSWORD).status_code == 429


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
    assert pages["dana"][:2] == (429, "60")


def test_a_username_lock_does_not_tell_whether_the_username_exists(review: Review) -> None:
    pages = {}
    for username in ("dana", "nobody"):
        spread_guesses(review, username)
        locked = attempt(browser(review, OWNER_HOME), username, PASSWORD)
        pages[username] = (locked.status_code, locked.text.replace(csrf_of(locked.text), "").replace(f'value="{username}"', ""))
    assert pages["dana"] == pages["nobody"]
    assert pages["dana"][0] == 429


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


def test_delays_and_locks_are_audited_without_passwords(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 5)
    attempt(client, "dana", PASSWORD)
    entries = [(e.username, e.action, e.target, e.detail) for e in review.audit()]
    assert entries == [("dana", "sign_in_failed", "/login", "client 203.0.113.7")] * 5 + [
        ("dana", THROTTLED, "/login", "client 203.0.113.7; pair locked"),
    ]
    spread_guesses(review, "lee")
    attempt(browser(review, OWNER_HOME), "lee", PASSWORD)
    assert [(e.username, e.action, e.detail) for e in review.audit()][-2:] == [
        ("lee", USERNAME_LOCKED, f"client {OWNER_HOME}"), ("lee", THROTTLED, f"client {OWNER_HOME}; username locked")]
    assert all(PASSWORD not in repr(e) and "wrong password!" not in repr(e) for e in review.audit())


def test_a_sign_in_is_audited_with_its_address_and_nothing_stays_pending(review: Review) -> None:
    client = browser(review)
    fail(client, "dana", 2)
    assert attempt(client, "dana", PASSWORD).status_code == 303
    assert [(e.username, e.action, e.detail) for e in review.audit()][-1] == ("dana", "sign_in", "client 203.0.113.7")
    assert review.audit(SIGN_IN_PENDING) == []


def test_an_address_lockout_is_audited(review: Review) -> None:
    client = browser(review, "198.51.100.9")
    for k in range(21):
        attempt(client, f"user{k}", "x")
    locks = [(e.username, e.detail) for e in review.audit(CLIENT_LOCKED)]
    assert locks == [("user20", "client 198.51.100.9")]  # started by the first attempt it refused


def test_a_form_without_its_csrf_token_is_not_counted(review: Review) -> None:
    client = browser(review)
    for _ in range(10):
        assert client.post("/login", data={"username": "dana", "password": "x", "csrf": "nope"}).status_code == 403
    assert attempt(client, "dana", PASSWORD).status_code == 303


def test_the_lockout_page_names_the_configured_contact(review: Review) -> None:
    app = review.make_app(support_contact="Nadia Farah (DNS on-call), 612-555-0100 <b>")
    client = browser(review, app=app)
    fail(client, "dana", 5)
    refused = attempt(client, "dana", PASSWORD)
    assert "Locked out and need in now? Contact Nadia Farah (DNS on-call), 612-555-0100 &lt;b&gt;." in refused.text
    assert "Contact" not in attempt(browser(review, OWNER_HOME, app=app), "dana", "wrong password!").text  # only when locked out


@pytest.mark.parametrize("contact", ["", "   ", "x" * 201])
def test_vigil_web_refuses_an_unusable_support_contact(monkeypatch: pytest.MonkeyPatch, contact: str) -> None:
    monkeypatch.setenv("VIGIL_ACK_SECRET", "a-web-secret-of-enough-bytes")
    result = CliRunner().invoke(vigil, ["web", "--bootstrap", "127.0.0.1:1", "--support-contact", contact])
    assert (result.exit_code, result.stderr) == (2, "vigil: --support-contact must be 1 to 200 characters (who to call, and how)\n")
