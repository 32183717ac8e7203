"""Security headers on every response: every route of the app (enumerated), anonymous and signed in, and
the error answers (400, 403, 404, 405, 409, 410, 429, 503); HSTS only over HTTPS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reviews.web.app import HSTS, SECURITY_HEADERS
from tests.reviews.web.fixtures import Review, Service, csrf_of, sign_in
from tests.security.routes import fill, routes

pytestmark = pytest.mark.database


def test_the_headers() -> None:
    assert SECURITY_HEADERS == {
        # nothing but this site's own styles, forms and script files (the live board's: never inline), whose
        # connections (the board's event stream) go to this site only; never in a frame
        "Content-Security-Policy": ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
                                    "form-action 'self'; frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    assert HSTS == "max-age=31536000"


def every_response(review: Review, client: TestClient) -> dict[str, int]:
    """Each route with real values, plus a few error answers: the status of each, its headers checked."""
    values = {"day": "2026-07-04", "activation_id": review.ids["jordan"], "token": "not-a-token", "standdown_id": "sd-none", "task_id": "task-none"}
    form = client.get("/login")
    token = csrf_of(form.text if form.status_code == 200 else client.get("/review/2026-07-04").text)  # signed in: /login redirects
    seen = {}
    requests = [("GET", "/review/not-a-day", None), ("GET", "/no-such-page", None), ("DELETE", "/login", None),
                ("GET", "/activation/act-00000000000000000000", None)]
    # signing out last, so every other route is seen signed in
    ordered = sorted(routes(review.app), key=lambda route: route == ("POST", "/logout"))
    requests += [(m, fill(t, values), {"csrf": token, "text": "x", "team": "gvi-outreach", "outcome": "mediation"}) for m, t in ordered]
    for method, path, data in requests:
        response = client.request(method, path, data=data if method == "POST" else None)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (method, path, response.status_code, name)
        seen[f"{method} {path}"] = response.status_code
    return seen


def test_on_every_route_anonymous(review: Review) -> None:
    statuses = set(every_response(review, review.client()).values())
    assert {200, 303, 403, 404, 405} <= statuses


def test_on_every_route_signed_in(review: Review) -> None:
    client = review.client()
    assert sign_in(client, "dana").status_code == 303
    statuses = set(every_response(review, client).values())
    assert {200, 303, 400, 404, 405} <= statuses


def test_on_a_sign_in_lockout(review: Review) -> None:
    client = review.client()
    for _ in range(6):
        response = sign_in(client, "dana", "wrong password!")
    assert response.status_code == 429
    assert all(response.headers[name] == value for name, value in SECURITY_HEADERS.items())


def test_on_a_store_failure(review: Review, monkeypatch: pytest.MonkeyPatch) -> None:
    client = review.signed_in("dana")

    def down(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(review.store, "records", down)
    response = client.get(f"/activation/{review.ids['jordan']}")
    assert response.status_code == 503
    assert all(response.headers[name] == value for name, value in SECURITY_HEADERS.items())


def test_on_ack_answers(service: Service) -> None:
    path = service.link_path()
    answers = [service.client.get(path), service.client.post(path, data={"response": "ack"}), service.client.post(path, data={"response": "ack"})]
    assert [r.status_code for r in answers] == [200, 200, 409]
    assert all(r.headers[name] == value for r in answers for name, value in SECURITY_HEADERS.items())


def test_hsts_only_over_https(review: Review) -> None:
    plain = review.client().get("/login")
    secure = TestClient(review.app, base_url="https://vigil.example.org", follow_redirects=False)
    with secure:
        over_tls = secure.get("/login")
    assert "Strict-Transport-Security" not in plain.headers
    assert over_tls.headers["Strict-Transport-Security"] == "max-age=31536000"
