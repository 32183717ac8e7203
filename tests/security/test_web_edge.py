"""The web app's edge (issue 15): what a client may say about itself. The single sign-on header is believed
only through the single sign-on proxy, never twice, never over a password session; ``X-Forwarded-For`` and
``X-Forwarded-Proto`` only from a configured proxy, and the audit log names the real peer; no redirect
takes its host from the request's ``Host`` header. The same against the real server: tests/reviews/web/test_server.py."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from reviews.auth import SESSION_COOKIE
from reviews.web.app import HSTS
from reviews.web.deps import NOT_FROM_THE_PROXY
from reviews.web.edge import SingleSignOn, TrustedProxies
from tests.reviews.web.fixtures import SSO, Review, Service, csrf_of, day_ids, sign_in
from tests.security.routes import fill, routes

pytestmark = pytest.mark.database

PROXY = "10.0.0.5"
OUTSIDER = "203.0.113.50"
PROXY_SECRET = b"0123456789abcdef-proxy-secret"
EVIL = "evil.example"


def browser(review: Review, app: FastAPI, address: str) -> TestClient:
    """A browser whose requests reach ``app`` from ``address``."""
    client = TestClient(app, follow_redirects=False, client=(address, 50000))
    client.__enter__()
    review.clients.append(client)
    return client


def sso_app(review: Review, **kw) -> FastAPI:
    """The app with single sign-on through the proxy at PROXY (and, with ``secret``, through its secret)."""
    secret = kw.pop("secret", None)
    return review.make_app(single_sign_on=SingleSignOn(SSO, TrustedProxies.parse(PROXY), secret), **kw)


def refused_detail(review: Review) -> list[tuple[str | None, str | None]]:
    return [(e.username, e.detail) for e in review.audit("refused")]


# --- the single sign-on header (item 5)

def test_the_sso_header_from_anyone_but_the_proxy_is_refused_and_audited(review: Review) -> None:
    client = browser(review, sso_app(review), OUTSIDER)
    response = client.get("/review/2026-07-04", headers={SSO: "dana"})
    assert response.status_code == 403 and NOT_FROM_THE_PROXY.replace("'", "&#39;") in response.text
    assert review.ids["jordan"] not in response.text and SESSION_COOKIE not in response.cookies
    assert refused_detail(review) == [
        (None, f"the single sign-on header did not come through the single sign-on proxy; client {OUTSIDER}")]
    assert review.audit("sign_in") == []


def test_the_sso_header_through_the_proxy_signs_in(review: Review) -> None:
    response = browser(review, sso_app(review), PROXY).get("/review/2026-07-04", headers={SSO: "dana"})
    assert response.status_code == 200 and review.ids["jordan"] in day_ids(response.text)


@pytest.mark.parametrize(("secret", "status"), [
    ([PROXY_SECRET.decode()], 200),
    ([], 403),
    (["0123456789abcdef-proxy-secreT"], 403),
    ([PROXY_SECRET.decode(), PROXY_SECRET.decode()], 403),  # twice: not one proxy's word
])
def test_the_proxy_secret_vouches_for_the_header_from_any_address(review: Review, secret: list[str], status: int) -> None:
    client = browser(review, sso_app(review, secret=PROXY_SECRET), OUTSIDER)
    headers = [(SSO, "dana"), *(("X-Vigil-Proxy-Secret", value) for value in secret)]
    response = client.get("/review/2026-07-04", headers=headers)
    assert response.status_code == status
    assert PROXY_SECRET.decode() not in str(review.audit())  # the secret is never recorded


@pytest.mark.parametrize("address", [PROXY, OUTSIDER])
def test_the_sso_header_twice_is_refused_even_through_the_proxy(review: Review, address: str) -> None:
    # a proxy that appends its header to the client's own would pass both: the first could be the client's
    client = browser(review, sso_app(review), address)
    response = client.get("/review/2026-07-04", headers=[(SSO, "dana"), (SSO, "lee")])
    assert response.status_code == 400
    assert refused_detail(review) == [(None, f"the single sign-on header came 2 times; client {address}")]
    assert review.audit("sign_in") == []


def test_the_sso_header_never_replaces_a_password_session(review: Review) -> None:
    client = browser(review, sso_app(review), PROXY)
    assert sign_in(client, "lee").status_code == 303  # a team lead, by password
    page = client.get("/review/2026-07-04", headers={SSO: "dana"})  # names DNS staff
    assert page.status_code == 200 and day_ids(page.text) == [review.ids["jordan"], review.ids["retaliation"]]  # lee's
    token = csrf_of(client.get(f"/activation/{review.ids['jordan']}", headers={SSO: "dana"}).text)
    client.post(f"/activation/{review.ids['jordan']}/note", data={"text": "as whom?", "csrf": token}, headers={SSO: "dana"})
    assert [note.author for note in review.store.notes(review.ids["jordan"])] == ["lee"]
    assert [e.username for e in review.audit("sign_in")] == ["lee"]


def test_the_sso_header_never_signs_in_a_disabled_user(review: Review) -> None:
    response = browser(review, sso_app(review), PROXY).get("/review/2026-07-04", headers={SSO: "olga"})  # olga is disabled
    assert response.status_code == 403
    assert [(e.username, e.action) for e in review.audit()] == [("olga", "sign_in_failed")]


@pytest.mark.parametrize("kw", [{}, {"secret": b"short"}, {"secret": b"has spaces in the secret"}])
def test_single_sign_on_needs_a_way_to_know_its_proxy(kw: dict) -> None:
    with pytest.raises(ValueError) as refused:
        SingleSignOn(SSO, TrustedProxies(), **kw)
    assert str(refused.value) in (
        "a trusted user header needs the proxy that sets it: its addresses (--trusted-proxy-ips) or the secret it adds "
        "(--trusted-proxy-secret-file)",
        "the proxy secret must be at least 16 bytes (it is 5)",
        "the proxy secret must be visible ASCII without spaces (a header carries it), e.g. `openssl rand -hex 32`")
    assert "secret" not in repr(SingleSignOn(SSO, TrustedProxies(), PROXY_SECRET)).split("secret_header")[0]


# --- forwarded addresses (item 4)

def failed_sign_in(client: TestClient, headers: dict[str, str], username: str = "dana", password: str = "wrong") -> int:
    """Post the sign-in form; the status."""
    form = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": "/"},
                       headers=headers).status_code


@pytest.mark.parametrize(("peer", "recorded"), [
    (OUTSIDER, f"client {OUTSIDER}"),  # not a proxy: its X-Forwarded-For is its own word, ignored
    (PROXY, f"client 198.51.100.7 (X-Forwarded-For, via proxy {PROXY})"),  # the right-most hop not a proxy
])
def test_x_forwarded_for_is_believed_only_from_a_configured_proxy(review: Review, peer: str, recorded: str) -> None:
    app = review.make_app(forwarded_allow_ips=TrustedProxies.parse(f"{PROXY},10.9.0.0/16"))
    assert failed_sign_in(browser(review, app, peer), {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.9.1.1"}) == 401
    assert [e.detail for e in review.audit("sign_in_failed")] == [recorded]


def test_x_forwarded_for_is_ignored_without_configured_proxies(review: Review) -> None:
    assert failed_sign_in(browser(review, review.app, "127.0.0.1"), {"X-Forwarded-For": "6.6.6.6"}) == 401
    assert [e.detail for e in review.audit("sign_in_failed")] == ["client 127.0.0.1"]


def test_a_forged_x_forwarded_for_cannot_escape_the_lockout_of_its_address(review: Review) -> None:
    # one address guessing at 20 usernames, each time claiming to forward for another client: one address
    client = browser(review, review.make_app(forwarded_allow_ips=TrustedProxies.parse(PROXY)), OUTSIDER)
    assert [failed_sign_in(client, {"X-Forwarded-For": f"6.6.6.{n}"}, f"guess{n}") for n in range(20)] == [401] * 20
    assert failed_sign_in(client, {"X-Forwarded-For": "6.6.6.99"}, "pat", "correct horse battery") == 429


@pytest.mark.parametrize(("peer", "secure"), [(PROXY, True), (OUTSIDER, False)])
def test_x_forwarded_proto_is_believed_only_from_a_configured_proxy(review: Review, peer: str, secure: bool) -> None:
    client = browser(review, review.make_app(forwarded_allow_ips=TrustedProxies.parse(PROXY)), peer)
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert ("Strict-Transport-Security" in response.headers) is secure
    assert (response.headers.get("Strict-Transport-Security") == HSTS) is secure
    assert ("secure" in response.headers["set-cookie"].lower()) is secure


# --- the Host header (item 6)

def test_a_trailing_slash_is_not_redirected_to_the_host_a_client_names(service: Service) -> None:
    link = service.link_path()
    response = service.client.get(f"{link}/", headers={"Host": EVIL}, follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
    assert link.removeprefix("/ack/") not in response.text
    assert service.client.get(link, headers={"Host": EVIL}).status_code == 200  # the link itself still works


def locations(client: TestClient, review: Review, app: FastAPI) -> dict[str, str]:
    """Every Location header the app answers with, for every route with and without a trailing slash,
    and ``next`` values that try to leave the site, all with a forged Host."""
    values = {"day": "2026-07-04", "activation_id": review.ids["jordan"], "token": "not-a-token", "standdown_id": "sd-none", "task_id": "task-none"}
    found = {}
    for method, template in routes(app):
        for path in (fill(template, values), fill(template, values) + "/", fill(template, values) + "?next=//evil.example/x"):
            response = client.request(method, path, headers={"Host": EVIL}, data={"csrf": "x", "text": "x", "next": f"//{EVIL}/x"})
            if "location" in response.headers:
                found[f"{method} {path}"] = response.headers["location"]
    return found


@pytest.mark.parametrize("signed_in", [False, True])
def test_no_redirect_takes_the_host_header(review: Review, signed_in: bool) -> None:
    client = review.signed_in("dana") if signed_in else review.client()
    found = locations(client, review, review.app)
    assert found, "no redirect seen: the sweep did not reach the pages that redirect"
    leaving = {request: where for request, where in found.items() if urlsplit(where).netloc or not where.startswith("/")}
    assert leaving == {}
