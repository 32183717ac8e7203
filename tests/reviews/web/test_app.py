"""The app as a whole (reviews/web/app.py): the security headers on every response, no API docs, every route a
module-level function of a router, and the command that serves it."""

from __future__ import annotations

import sys

import pytest
from fastapi.routing import iter_route_contexts
from typer.testing import CliRunner

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.web.app import SECURITY_HEADERS, create_metrics_app, create_web_app
from stream.cli.main import app as cli_app
from tests.reviews.web.fixtures import MORNING, Review, Service, _no_publish

pytestmark = pytest.mark.database


def test_security_headers_on_every_response(service: Service) -> None:
    responses = [
        service.client.get(service.link_path()),
        service.client.post(service.link_path(), data={"response": "nope"}),
        service.client.get("/ack/not-a-token"),
        service.client.get("/healthz"),
        service.client.get("/no-such-page"),
    ]
    assert [r.status_code for r in responses] == [200, 400, 403, 200, 404]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    assert SECURITY_HEADERS["Content-Security-Policy"] == (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'")
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"


def test_review_pages_carry_the_security_headers_and_no_script(review: Review) -> None:
    client = review.signed_in("dana")
    for path in ("/login", "/review/2026-07-04", f"/activation/{review.ids['jordan']}", "/summary", "/review/2026-07-04/packet",
                 "/export/2026-07-04.csv", "/review/bad"):
        response = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)
        assert "<script" not in response.text
        body = response.text.split("<body>")[-1].replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in body and "https://" not in body, path  # nothing fetched from anywhere


def test_no_api_docs_are_served(service: Service) -> None:
    assert [service.client.get(p).status_code for p in ("/docs", "/openapi.json")] == [404, 404]


@pytest.mark.parametrize(("secret", "message"), [
    (None, "no ack-link secret: set VIGIL_ACK_SECRET"),
    ("too-short", "the ack-link secret (VIGIL_ACK_SECRET) must be at least 16 bytes"),
])
def test_web_command_needs_a_secret(monkeypatch: pytest.MonkeyPatch, secret: str | None, message: str) -> None:
    if secret is None:
        monkeypatch.delenv("VIGIL_ACK_SECRET", raising=False)
    else:
        monkeypatch.setenv("VIGIL_ACK_SECRET", secret)
    result = CliRunner().invoke(cli_app, ["web", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert message in result.output


def test_every_route_is_a_module_level_function_of_a_router() -> None:
    app = create_web_app(AckSigner(b"app-test-secret-0123456789", "https://vigil.example.org"), ReviewStore("sqlite://"),
                         _no_publish, lambda: MORNING)
    endpoints = [context.endpoint for context in iter_route_contexts(app.routes)]
    assert len(endpoints) == 36  # /metrics is the metrics app's (below); 7 of them the live board's, 4 the standdowns', 2 the tasks', 2 the task links', 3 the exports', 4 the provider API's
    assert [e.__qualname__ for e in endpoints if "<locals>" in e.__qualname__] == []  # no closure over create_web_app's locals
    # each is its module's own attribute: a function defined at the top of a router module
    assert all(getattr(sys.modules[e.__module__], e.__qualname__) is e for e in endpoints)
    assert {e.__module__ for e in endpoints} == {"reviews.web.ops", "reviews.web.answers", "reviews.web.signin", "reviews.web.review",
                                                 "reviews.web.exports", "reviews.web.sms", "reviews.web.standdowns", "reviews.web.board",
                                                 "reviews.web.tasks", "reviews.web.task_links", "reviews.web.api"}
    metrics = [context.endpoint for context in iter_route_contexts(create_metrics_app(app.state.web.registry).routes)]
    assert [(e.__module__, e.__qualname__) for e in metrics] == [("reviews.web.ops", "metrics_page")]
