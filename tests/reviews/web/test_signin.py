"""Signing in and out (reviews/web/signin.py): the sign-in form, its cookie, wrong credentials, safe redirects, the
form's CSRF token, signing out, and the site's root."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reviews.auth import SESSION_COOKIE
from reviews.web.signin import WRONG_PASSWORD
from tests.reviews.web.fixtures import PASSWORD, Review, csrf_of, sign_in

pytestmark = pytest.mark.database


def test_home_goes_to_today_in_the_deployment_zone(review: Review) -> None:
    review.now = datetime(2026, 7, 5, 3, 30, tzinfo=ZoneInfo("UTC"))  # still the 4th in Minneapolis
    response = review.client().get("/")
    assert (response.status_code, response.headers["location"]) == (303, "/review/2026-07-04")


def test_sign_in_sets_a_hardened_8_hour_cookie_and_goes_to_next(review: Review) -> None:
    client = review.client()
    response = sign_in(client, "dana", next_="/summary?from=2026-07-04&to=2026-07-04")
    assert (response.status_code, response.headers["location"]) == (303, "/summary?from=2026-07-04&to=2026-07-04")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http here: a Secure cookie would never come back
    assert client.get("/review/2026-07-04").status_code == 200
    assert [(e.username, e.target) for e in review.audit("sign_in")] == [("dana", "/login")]


@pytest.mark.parametrize(("username", "password"), [("dana", "wrong password!"), ("nobody", PASSWORD), ("olga", PASSWORD)])
def test_wrong_credentials_are_refused_and_audited_without_the_password(review: Review, username: str, password: str) -> None:
    client = review.client()
    response = sign_in(client, username, password)
    assert response.status_code == 401
    assert WRONG_PASSWORD in response.text
    assert client.get("/review/2026-07-04").status_code == 303  # not signed in
    failed = review.audit("sign_in_failed")
    assert [(e.username, e.target) for e in failed] == [(username, "/login")]
    assert review.audit("sign_in") == []
    assert all(password not in repr(entry) for entry in review.audit())


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_redirects_off_site(review: Review, target: str) -> None:
    response = sign_in(review.client(), "dana", next_=target)
    assert (response.status_code, response.headers["location"]) == (303, "/")


@pytest.mark.parametrize("csrf", [None, "", "not-the-token"])
def test_sign_in_needs_the_forms_csrf_token(review: Review, csrf: str | None) -> None:
    client = review.client()
    client.get("/login")
    data = {"username": "dana", "password": PASSWORD}
    if csrf is not None:
        data["csrf"] = csrf
    response = client.post("/login", data=data)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert "set-cookie" not in response.headers  # a forged post cannot replace anyone's session
    assert client.get("/review/2026-07-04").status_code == 303
    assert [e.detail for e in review.audit("refused")] == ["sign-in form without a valid csrf token"]


def test_sign_out(review: Review) -> None:
    client = review.signed_in("dana")
    token = csrf_of(client.get("/review/2026-07-04").text)
    response = client.post("/logout", data={"csrf": token})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert client.get("/review/2026-07-04").status_code == 303
    assert [e.username for e in review.audit("sign_out")] == ["dana"]
