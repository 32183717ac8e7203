"""No web page without sign-in: every route of the app, enumerated from the app, refuses or redirects an
anonymous request to the sign-in page, except the deliberate public ones in ``routes.PUBLIC``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from tests.reviews.web.fixtures import Review
from tests.security.routes import PUBLIC, TOKEN, fill, routes

pytestmark = pytest.mark.database

# for routes that read a range from the query
QUERY = "from=2026-07-01&to=2026-07-05"


def samples(review: Review) -> dict[str, str]:
    """A real value for each path parameter: an anonymous request must be refused for real data too."""
    return {"day": "2026-07-04", "activation_id": review.ids["jordan"], "token": "not-a-token", "standdown_id": "sd-none", "task_id": "task-none"}


def test_the_public_routes_are_routes_of_the_app(review: Review) -> None:
    assert set(PUBLIC) <= set(routes(review.app))


def test_the_public_routes_answer_without_sign_in(review: Review) -> None:
    client = review.client()
    answers = {(method, template): client.request(method, fill(template, samples(review))).status_code
               for method, template in PUBLIC}
    # an ack page with a bad token says so (403), it does not send anyone to sign in; POST /login without
    # the form's csrf token is 403 too
    assert answers == {("GET", "/ack/{token}"): 403, ("POST", "/ack/{token}"): 403, ("GET", "/login"): 200,
                       ("GET", "/task/{token}"): 403, ("POST", "/task/{token}"): 403,  # a task link's page: the same
                       ("POST", "/login"): 403, ("GET", "/healthz"): 200, ("GET", "/api/v1/openapi.json"): 200,
                       # SMS replies off (no gateway settings): 404; on, an unsigned post is 403 (tests/reviews/web/test_sms.py)
                       ("POST", "/sms/inbound"): 404}


def test_the_token_routes_refuse_anonymous_and_signed_in_requests_alike(review: Review) -> None:
    assert set(TOKEN) <= set(routes(review.app)) and not set(TOKEN) & set(PUBLIC)
    assert {key for key in routes(review.app) if key[1].startswith("/api/")} == set(TOKEN) | {("GET", "/api/v1/openapi.json")}
    for client in (review.client(), review.signed_in("dana")):  # a DNS session is not an API token
        answers = {client.get(template).status_code for _, template in TOKEN}
        assert answers == {401}


def test_the_metrics_are_not_on_the_apps_port(review: Review) -> None:
    client = review.client()
    assert client.get("/ack/not-a-token").status_code == 403  # counted, so there would be something to show
    # the activity counts are served on the metrics port only (tests/reviews/web/test_server.py)
    assert [client.get(path).status_code for path in ("/metrics", "/metrics/")] == [404, 404]


def open_to_anonymous(review: Review, app: FastAPI) -> list[str]:
    """The routes of ``app`` outside ``PUBLIC`` that an anonymous request gets anything from other than a
    refusal (401/403) or a redirect that ends at the sign-in page."""
    client = review.client(app)
    found = []
    for method, template in routes(app):
        if (method, template) in PUBLIC:
            continue
        path = fill(template, samples(review))
        response = client.request(method, f"{path}?{QUERY}", data={"csrf": "x", "text": "x", "team": "x", "outcome": "x"})
        hops = 0
        while response.status_code == 303 and not response.headers["location"].startswith("/login") and hops < 3:
            response, hops = client.get(response.headers["location"]), hops + 1  # "/" goes to today's day page first
        to_sign_in = response.status_code == 303 and urlsplit(response.headers["location"]).path == "/login"
        if not (to_sign_in or response.status_code in (401, 403)) or review.ids["jordan"] in response.text:
            found.append(f"{method} {template} -> {response.status_code}")
    return found


def test_every_other_route_sends_an_anonymous_request_to_sign_in(review: Review) -> None:
    assert len([key for key in routes(review.app) if key not in PUBLIC]) >= 10  # the enumeration found the review pages
    assert open_to_anonymous(review, review.app) == []
    assert review.store.notes(review.ids["jordan"]) == [] and review.store.outcomes([review.ids["jordan"]]) == {}
    assert [e.action for e in review.audit()] == []  # nothing was viewed, so nothing to audit


def test_a_page_added_without_sign_in_is_caught(review: Review) -> None:
    app = review.make_app()

    @app.get("/activation/{activation_id}/raw")
    async def raw(activation_id: str) -> dict:
        return {"id": activation_id}

    assert open_to_anonymous(review, app) == ["GET /activation/{activation_id}/raw -> 200"]
