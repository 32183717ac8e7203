"""The shared dependencies (reviews/web/deps.py): the signed-in user (a session cookie or the single sign-on header),
and the CSRF-checked form."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from reviews.auth import SESSION_COOKIE, new_session
from reviews.web.api import api_token
from reviews.web.deps import FORM_EXPIRED, NOT_A_USER, Viewer, current_user
from reviews.web.edge import SingleSignOn, TrustedProxies
from tests.reviews.web.fixtures import MORNING, SSO, Review, csrf_of, day_ids, sign_in
from tests.security.routes import PUBLIC, TOKEN

pytestmark = pytest.mark.database

PROXY = "10.0.0.5"  # the single sign-on proxy's address


def behind_proxy(review: Review, app: FastAPI | None = None, address: str = PROXY) -> TestClient:
    """A browser whose requests reach the app from ``address`` (the single sign-on proxy's, by default), to
    an app with single sign-on by that proxy when ``app`` is None."""
    client = TestClient(app or review.make_app(single_sign_on=SingleSignOn(SSO, TrustedProxies.parse(PROXY))),
                        follow_redirects=False, client=(address, 50000))
    client.__enter__()
    review.clients.append(client)
    return client


@pytest.mark.parametrize("path", ["/review/2026-07-04", "/review/2026-07-04/packet", "/summary?from=2026-07-01&to=2026-07-04",
                                  "/export/2026-07-04.csv", "/export.csv", "/activation/act-whatever"])
def test_review_pages_redirect_to_sign_in_with_next(review: Review, path: str) -> None:
    response = review.client().get(path)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert parse_qs(urlsplit(location).query)["next"] == [path]


def test_a_form_posted_without_a_session_goes_to_sign_in_and_records_nothing(review: Review) -> None:
    response = review.client().post(f"/activation/{review.ids['jordan']}/outcome",
                                    data={"team": "gvi-outreach", "outcome": "mediation", "csrf": "x"})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert review.store.outcomes([review.ids["jordan"]]) == {}


def test_the_session_ends_after_8_hours(review: Review) -> None:
    client = review.signed_in("dana")
    review.now = MORNING + timedelta(hours=8)
    assert client.get("/review/2026-07-04").status_code == 200
    review.now = MORNING + timedelta(hours=8, seconds=1)
    assert client.get("/review/2026-07-04").status_code == 303


def test_a_signed_in_user_who_is_disabled_is_signed_out(review: Review) -> None:
    client = review.signed_in("dana")
    review.store.set_disabled("dana", True)
    assert client.get("/review/2026-07-04").status_code == 303


def test_a_forged_cookie_is_not_a_session(review: Review) -> None:
    client = review.signed_in("lee")
    value = client.cookies[SESSION_COOKIE]
    payload, mac = value.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["u"] = "dana"  # promote oneself to DNS staff
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    client.cookies.set(SESSION_COOKIE, f"{forged}.{mac}")
    assert client.get("/review/2026-07-04").status_code == 303


@pytest.mark.parametrize("csrf", [None, "not-the-token", "other-session"])
def test_every_form_post_needs_this_sessions_csrf_token(review: Review, csrf: str | None) -> None:
    client = review.signed_in("dana")
    if csrf == "other-session":
        csrf = csrf_of(review.signed_in("dana").get(f"/activation/{review.ids['jordan']}").text)
    jordan = f"/activation/{review.ids['jordan']}"
    posts = [
        (f"{jordan}/outcome", {"team": "gvi-outreach", "outcome": "mediation"}),
        (f"{jordan}/note", {"text": "a note"}),
        ("/logout", {}),
    ]
    for path, data in posts:
        if csrf is not None:
            data = {**data, "csrf": csrf}
        response = client.post(path, data=data)
        assert response.status_code == 403, path
        assert FORM_EXPIRED.replace("'", "&#39;") in response.text
    assert review.store.outcomes([review.ids["jordan"]]) == {}
    assert review.store.notes(review.ids["jordan"]) == []
    assert client.get("/review/2026-07-04").status_code == 200  # the refused logout did not sign out
    assert [e.detail for e in review.audit("refused")] == ["csrf token missing or wrong"] * 3


def test_the_trusted_header_signs_in_an_existing_user(review: Review) -> None:
    client = behind_proxy(review)
    response = client.get("/review/2026-07-04", headers={SSO: "lee"})
    assert response.status_code == 200
    assert day_ids(response.text) == [review.ids["jordan"], review.ids["retaliation"]]  # as lee, a lead
    assert [(e.username, e.detail) for e in review.audit("sign_in")] == [("lee", f"single sign-on; client {PROXY}")]
    # the proxy's word is needed on every request: the cookie alone is not a session
    assert client.get("/review/2026-07-04").status_code == 303
    # forms still need the CSRF token of the session the header started
    page = f"/activation/{review.ids['jordan']}"
    token = csrf_of(client.get(page, headers={SSO: "lee"}).text)
    assert client.post(f"{page}/note", data={"text": "x"}, headers={SSO: "lee"}).status_code == 403
    assert client.post(f"{page}/note", data={"text": "x", "csrf": token}, headers={SSO: "lee"}).status_code == 303
    assert len(review.audit("sign_in")) == 1  # one session, not one per request


@pytest.mark.parametrize("name", ["nobody", "olga", ""])
def test_the_trusted_header_naming_no_enabled_user_is_403(review: Review, name: str) -> None:
    client = behind_proxy(review)
    response = client.get("/review/2026-07-04", headers={SSO: name})
    assert response.status_code == 403 and NOT_A_USER.replace("'", "&#39;") in response.text
    assert [e.action for e in review.audit()] == ["sign_in_failed"]


def test_the_header_is_ignored_unless_configured(review: Review) -> None:
    assert review.client().get("/review/2026-07-04", headers={SSO: "dana"}).status_code == 303


def test_the_header_never_overrides_a_password_session(review: Review) -> None:
    client = behind_proxy(review)
    assert sign_in(client, "pat").status_code == 303  # a lead, by password
    page = client.get("/review/2026-07-04", headers={SSO: "dana"})  # the header names DNS staff
    assert page.status_code == 200 and day_ids(page.text) == [review.ids["phillips"]]  # still pat's view
    assert [e.username for e in review.audit("sign_in")] == ["pat"]


def dependencies_of(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    """Every dependency a route's dependant calls, sub-dependencies included."""
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from dependencies_of(dependency)


def test_every_route_but_the_public_ones_takes_the_signed_in_user_as_a_dependency(review: Review) -> None:
    without = {(method, context.path) for context in iter_route_contexts(review.app.routes)
               for method in context.methods - {"HEAD"} if current_user not in set(dependencies_of(context.original_route.dependant))}
    # "/" only redirects to today's day page, which asks for sign-in itself (tests/security follows it there); the
    # provider API's routes take an API token instead (below)
    assert without == set(PUBLIC) | set(TOKEN) | {("GET", "/")}
    with_token = {(method, context.path) for context in iter_route_contexts(review.app.routes)
                  for method in context.methods - {"HEAD"} if api_token in set(dependencies_of(context.original_route.dependant))}
    assert with_token == set(TOKEN)


def test_without_the_signed_in_user_the_dependency_refuses_and_the_page_never_runs(review: Review) -> None:
    app = review.make_app()
    client = review.client(app)
    refused = client.get("/summary")
    assert (refused.status_code, refused.headers["location"]) == (303, "/login?next=%2Fsummary")
    assert review.audit("view_summary") == []
    # the same request, with the dependency answered instead: the page itself never asks who is signed in
    dana = review.store.user("dana")
    assert dana is not None
    app.dependency_overrides[current_user] = lambda: Viewer(dana, new_session("dana", "password", MORNING))
    page = client.get("/summary")
    assert page.status_code == 200 and "Summary, 2026-06-29 to 2026-07-05" in page.text
    assert [e.username for e in review.audit("view_summary")] == ["dana"]
    # and the CSRF check takes its session from that same dependency: a form without its token is still refused
    note = client.post(f"/activation/{review.ids['jordan']}/note", data={"text": "x"})
    assert note.status_code == 403 and review.store.notes(review.ids["jordan"]) == []
