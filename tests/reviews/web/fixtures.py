"""The web app's test fixtures, shared with tests/security/: ``service`` (the answer pages over a store holding one
Jordan shooting, a signer and a recording publisher) and ``review`` (the review pages over a store holding one night of
activations the core really made, and four users), both on SQLite and PostgreSQL.

The night: Saturday 4 July 2026, America/Chicago, four shootings, plus a hospital-only arrival on the 3rd and a coverage
gap on the 1st; DNS staff and two team leads sign in; the clock is the next morning.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.model import review_of
from reviews.store import ReviewStore
from reviews.web.app import create_web_app
from reviews.web.incident import neighborhood_centres, team_precisions
from stream.core.activations import handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.events import AckMessage, NotificationIntent
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, RECEIVED, as_bytes, shooting
from tests.helpers import CoreRun as Run

SECRET = b"web-test-secret-0123456789"
BASE_URL = "https://vigil.example.org/mpls"
RECIPIENT = "tel:+1...0123"
CHICAGO = ZoneInfo("America/Chicago")
NOW = RECEIVED  # 03:04 UTC, 22:04 in Minneapolis
TTL = timedelta(minutes=30)
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)  # a Saturday evening: street teams on shift
MORNING = datetime(2026, 7, 5, 9, 30, tzinfo=CHICAGO)  # the review meeting
PASSWORD = "correct horse battery"
JAMES_AVE = {"HNO": "2418", "RD": "James", "STS": "Ave", "POD": "N"}  # the Jordan shooting's civic address
NEAR_JORDAN = (JORDAN[0] + 0.002, JORDAN[1])  # within 1,000 m of JORDAN: a retaliation watch
SSO = "X-Forwarded-User"


@dataclass
class Service:
    """The app under test and what it did."""

    client: TestClient
    signer: AckSigner
    store: ReviewStore
    intents: list[NotificationIntent]
    published: list[AckMessage] = field(default_factory=list)
    now: datetime = NOW
    fail_publish: bool = False

    def link_path(self, intent: NotificationIntent | None = None, recipient: str = RECIPIENT) -> str:
        """The path of the ack link sent to ``recipient`` for ``intent`` (the street team's by default)."""
        return f"/ack/{self.signer.token(intent or self.intents[0], recipient, NOW)}"


@pytest.fixture
def service(db_url: str, deployment) -> Iterator[Service]:
    """A web app over a store holding one Jordan shooting's timeline (street team and gvi-outreach alerted); CAD sent
    its civic address, 2418 James Ave N."""
    store = ReviewStore(db_url)
    store.create_schema()
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-W1", JORDAN, address=JAMES_AVE))), deployment.classification, RECEIVED)
    outcome = handle_event(CoreState(), event, RECEIVED, Config(deployment.coverage, deployment.protocols))
    store.append(outcome.timeline)
    signer = AckSigner(SECRET, BASE_URL, ttl=TTL)
    holder: list[Service] = []

    async def publish(message: AckMessage) -> None:
        if holder[0].fail_publish:
            raise ConnectionError("broker down")
        holder[0].published.append(message)

    app = create_web_app(signer, store, publish, lambda: holder[0].now, zone=CHICAGO,
                         team_precision=team_precisions(Config(deployment.coverage, deployment.protocols)),
                         neighborhood_centres=neighborhood_centres(deployment.coverage))
    with TestClient(app) as client:
        holder.append(Service(client, signer, store, outcome.intents))
        try:
            yield holder[0]
        finally:
            store.dispose()

@dataclass
class Review:
    """The app under test, its store, the night's activations by name, and a settable clock."""

    app: FastAPI
    store: ReviewStore
    run: Run
    ids: dict[str, str]
    now: datetime = MORNING
    clients: list[TestClient] = field(default_factory=list)

    def client(self, app: FastAPI | None = None) -> TestClient:
        """A fresh browser."""
        client = TestClient(app or self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        return client

    def signed_in(self, username: str) -> TestClient:
        """A browser signed in as ``username``."""
        client = self.client()
        assert sign_in(client, username).status_code == 303
        return client

    def review(self, name: str):
        """The model's review of a named activation."""
        return review_of(self.run.of(self.ids[name]), CHICAGO, now=self.now)

    def audit(self, action: str | None = None) -> list:
        """Audit entries, oldest first, of one action or all."""
        return [e for e in reversed(self.store.audit_entries(1000)) if action is None or e.action == action]

    def make_app(self, **kw) -> FastAPI:
        """Another app over the same store and clock."""
        return create_web_app(AckSigner(b"review-test-secret-0123", "https://vigil.example.org"), self.store, _no_publish,
                              lambda: self.now, zone=CHICAGO, **kw)


async def _no_publish(message) -> None:
    raise AssertionError("the review pages never publish acks")


def the_night(deployment) -> tuple[Run, dict[str, str]]:
    """The night's activations as the core made them, and their ids by name (the ``review`` fixture's store holds them)."""
    run = Run(deployment)
    ids = {
        "early_gap": run.shooting("W-0", HIAWATHA, datetime(2026, 7, 1, 21, 0, tzinfo=CHICAGO)),
        "hospital": run.arrival("V-1", datetime(2026, 7, 3, 14, 0, tzinfo=CHICAGO)),
        "jordan": run.shooting("W-1", JORDAN, T0),
    }
    run.answer("W-1", "vi-north-nearnorth", T0 + timedelta(minutes=4))
    ids["phillips"] = run.shooting("W-2", MIDTOWN_PHILLIPS, T0 + timedelta(minutes=30))
    run.until(T0 + timedelta(minutes=49))
    run.delivery = "failed"
    ids["gap"] = run.shooting("W-3", HIAWATHA, T0 + timedelta(minutes=50))
    run.delivery = "delivered"
    ids["retaliation"] = run.shooting("W-4", NEAR_JORDAN, T0 + timedelta(minutes=70))
    run.until(T0 + timedelta(hours=3))
    return run, ids


@pytest.fixture
def review(db_url: str, deployment) -> Iterator[Review]:
    """The night in a store, three users, and the app."""
    run, ids = the_night(deployment)
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    created = MORNING - timedelta(days=30)
    store.add_user("dana", PASSWORD, "dns", None, created)
    store.add_user("lee", PASSWORD, "lead", "vi-north-nearnorth", created)
    store.add_user("pat", PASSWORD, "lead", "vi-south-phillips", created)
    store.add_user("olga", PASSWORD, "dns", None, created)
    store.set_disabled("olga", True)
    holder = Review(app=None, store=store, run=run, ids=ids)  # type: ignore[arg-type]
    holder.app = holder.make_app()
    try:
        yield holder
    finally:
        for client in holder.clients:
            client.__exit__(None, None, None)
        store.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no csrf field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_: str = "/"):
    """Fill in and post the sign-in form."""
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": next_})


def day_ids(html: str) -> list[str]:
    """The activation ids linked from a day page, in page order, once each."""
    return list(dict.fromkeys(re.findall(r'href="/activation/([^"#/]+)"', html)))


def csv_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
