"""A provider lead cannot read another team's activation through any route: every route that takes an
activation is 403, and every route that takes a day or a range leaves it out. The routes are enumerated
from the app, so a new page that takes an activation or a day is checked too."""

from __future__ import annotations

import pytest

from reviews.web.review import NOT_YOURS
from tests.reviews.web.fixtures import Review, csrf_of
from tests.security.routes import PUBLIC, TOKEN, fill, params, routes

pytestmark = pytest.mark.database

QUERY = "from=2026-07-01&to=2026-07-05"
SIGN_OUT = ("POST", "/logout")


def markers(review: Review, name: str) -> list[str]:
    """Strings only the named activation's pages show: its id, its H3 cell, and the team only it alerted."""
    other = review.review(name)
    found = [other.id, "vi-south-phillips"]
    return found + ([other.cell] if other.cell else [])


def visit(review: Review, username: str) -> dict[tuple[str, str], tuple[int, str]]:
    """Every signed-in route as ``username``, with the Midtown Phillips activation (vi-south-phillips's) as
    the activation and its day as the day: (status, body) by route."""
    client = review.signed_in(username)
    csrf = csrf_of(client.get(f"/activation/{review.ids['jordan']}").text)
    values = {"day": "2026-07-04", "activation_id": review.ids["phillips"], "standdown_id": "sd-none", "task_id": "task-none"}
    seen = {}
    for method, template in routes(review.app):
        if (method, template) in PUBLIC or (method, template) in TOKEN or (method, template) == SIGN_OUT:
            continue  # the API's routes take a token, not a session: scoped by team in tests/reviews/web/test_api.py
        path = f"{fill(template, values)}?{QUERY}"
        form = {"csrf": csrf, "team": "vi-south-phillips", "outcome": "went_to_scene", "text": "a note"}
        response = client.request(method, path, data=form if method == "POST" else None, follow_redirects=True)
        seen[(method, template)] = (response.status_code, response.text)
    return seen


def test_routes_taking_an_activation_refuse_another_teams_with_403(review: Review) -> None:
    seen = visit(review, "lee")
    takes_activation = [key for key in seen if "activation_id" in params(key[1])]
    assert len(takes_activation) >= 3
    for key in takes_activation:
        status, body = seen[key]
        assert status == 403 and NOT_YOURS in body, key
    assert review.store.notes(review.ids["phillips"]) == [] and review.store.outcomes([review.ids["phillips"]]) == {}


def test_no_route_shows_another_teams_activation_to_a_lead(review: Review) -> None:
    seen = visit(review, "lee")
    for key, (status, body) in seen.items():
        # closing a task names the task, not the activation: an id no activation has is a 404, never another team's page
        assert status in (200, 403) or (key == ("POST", "/tasks/{task_id}/close") and status == 404), key
        leaked = [m for m in markers(review, "phillips") if m in body]
        assert leaked == [], (key, leaked)


def test_dns_staff_do_see_it_through_the_same_routes(review: Review) -> None:
    # the control: the markers are on those pages for someone allowed to see them
    seen = visit(review, "dana")
    showing = {key for key, (status, body) in seen.items() if review.ids["phillips"] in body}
    assert {("GET", "/activation/{activation_id}"), ("GET", "/review/{day}"), ("GET", "/review/{day}/packet"),
            ("GET", "/export/{day}.csv"), ("GET", "/export.csv")} <= showing
