"""Concurrent guesses cannot pass the sign-in limit (issue 15, item 1): an attempt is reserved, atomically, before
its password is checked, so 30 guesses fired at once for one username from one address get exactly as many
password checks as 5 guesses in a row would. On a real store, SQLite and PostgreSQL (``db_url``), one app and
two replicas with their own connection pools."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from reviews.auth import SIGN_IN_FAILED, Lockout, SignInThrottle
from reviews.store import ReviewStore
from tests.reviews.web.fixtures import MORNING, Review, csrf_of

pytestmark = pytest.mark.database

ATTACKER = "203.0.113.66"
GUESSES = 30


async def guess_at_once(apps: list[FastAPI], username: str, guesses: int, address: str = ATTACKER) -> list[int]:
    """``guesses`` wrong-password sign-ins fired together, spread over ``apps``; their statuses."""
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://testserver")
               for app in apps]
    try:
        forms = [csrf_of((await client.get("/login")).text) for client in clients]
        posts = [clients[k % len(clients)].post("/login", data={"username": username, "password": f"guess number {k}",
                                                                "csrf": forms[k % len(clients)], "next": "/"})
                 for k in range(guesses)]
        return [response.status_code for response in await asyncio.gather(*posts)]
    finally:
        for client in clients:
            await client.aclose()


async def test_thirty_concurrent_guesses_get_five_password_checks(review: Review) -> None:
    statuses = await guess_at_once([review.app], "dana", GUESSES)
    assert statuses.count(401) == 5  # FREE_FAILURES_PER_PAIR
    assert statuses.count(429) == GUESSES - 5
    assert len(review.audit(SIGN_IN_FAILED)) == 5


async def test_two_replicas_with_their_own_pools_share_the_limit(review: Review, db_url: str) -> None:
    other_store = ReviewStore(db_url)  # another process's engine: its own connections to the same database
    try:
        replica = Review(app=None, store=other_store, run=review.run, ids=review.ids).make_app()  # type: ignore[arg-type]
        statuses = await guess_at_once([review.app, replica], "dana", GUESSES)
    finally:
        other_store.dispose()
    assert statuses.count(401) == 5
    assert statuses.count(429) == GUESSES - 5


def test_reservations_from_threads_are_counted_once_each(review: Review) -> None:
    # the throttle on its own, without the web app: 30 threads reserve at the same moment
    throttle = SignInThrottle(review.store)
    start = threading.Barrier(GUESSES)
    results: list[object] = []
    lock = threading.Lock()

    def reserve() -> None:
        start.wait()
        outcome = throttle.reserve("lee", ATTACKER, MORNING + timedelta(seconds=1))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=reserve) for _ in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    allowed = [r for r in results if not isinstance(r, Lockout)]
    assert len(allowed) == 5
    assert {r.scope for r in results if isinstance(r, Lockout)} == {"pair"}
