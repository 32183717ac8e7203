"""The web app on the real server (reviews/web/server.py): uvicorn on a loopback port, real sockets. Slow
clients are cut off, one past the concurrency limit is not held, headers are bounded, ``X-Forwarded-For``
from an unconfigured peer is not believed, no redirect follows the ``Host`` header, and ``/metrics`` is
only on the metrics port."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.web.app import create_metrics_app, create_web_app
from reviews.web.edge import TrustedProxies
from reviews.web.server import ServerLimits
from stream.devtools.broker import free_port
from tests.reviews.web.fixtures import MORNING, PASSWORD, _no_publish
from tests.reviews.web.serving import serve_in_thread

TIMEOUT = 1.0  # the request deadline of these servers
LIMITS = ServerLimits(request_timeout_s=TIMEOUT, keep_alive_s=5.0, limit_concurrency=4, max_header_bytes=4096)
GET = b"GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n"


@dataclass
class Live:
    """A served app: its port, its metrics port, its store."""

    port: int
    metrics_port: int
    store: ReviewStore

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.settimeout(5)
        return conn

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@contextlib.contextmanager
def served(tmp_path: Path, limits: ServerLimits = LIMITS, metrics_port: int | None = None, **app_kw: Any) -> Iterator[Live]:
    """The web app over a SQLite store with one user, served by ``serve_web`` in a thread of its own (its
    metrics on ``metrics_port``, a free one by default)."""
    store = ReviewStore(f"sqlite:///{tmp_path / 'review.sqlite'}")
    store.create_schema()
    store.add_user("dana", PASSWORD, "dns", None, MORNING)
    app = create_web_app(AckSigner(b"server-test-secret-0123", "https://vigil.example.org"), store, _no_publish, lambda: MORNING, **app_kw)
    metrics_port = metrics_port or free_port()
    try:
        with serve_in_thread(app, limits, metrics_app=create_metrics_app(app.state.web.registry), metrics_port=metrics_port) as url:
            yield Live(int(url.rsplit(":", 1)[1]), metrics_port, store)
    finally:
        store.dispose()


def closed_after(conn: socket.socket, drip: list[bytes] | None = None, every: float = 0.2, limit: float = 5.0) -> float:
    """Seconds until the server closes ``conn``, sending ``drip`` one piece every ``every`` seconds meanwhile;
    fails when it is still open after ``limit`` seconds."""
    start = time.monotonic()
    pieces = list(drip or [])
    conn.settimeout(every)
    while time.monotonic() - start < limit:
        try:
            data = conn.recv(4096)
        except TimeoutError:
            if pieces:
                try:
                    conn.sendall(pieces.pop(0))
                except OSError:
                    return time.monotonic() - start
            continue
        except ConnectionResetError:
            return time.monotonic() - start
        if data == b"":
            return time.monotonic() - start
    raise AssertionError(f"the server still holds the connection after {limit} s")


def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path) -> None:
    with served(tmp_path) as live, live.connect() as conn:
        assert TIMEOUT * 0.8 <= closed_after(conn) < TIMEOUT + 1.5


def test_headers_sent_a_line_at_a_time_are_cut_off_at_the_deadline(tmp_path: Path) -> None:
    # slowloris: each line in time for any per-read timeout, the whole never finished
    drip = [f"X-Slow-{n}: {n}\r\n".encode() for n in range(40)]
    with served(tmp_path) as live, live.connect() as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: vigil\r\n")
        assert closed_after(conn, drip) < TIMEOUT + 1.5
        assert live.get("/healthz") == (200, "ok")  # everyone else was served meanwhile and still is


def test_a_second_request_on_a_kept_alive_connection_has_its_own_deadline(tmp_path: Path) -> None:
    with served(tmp_path) as live, live.connect() as conn:
        conn.sendall(GET)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(TIMEOUT * 1.5)  # idle within keep-alive: the deadline is the request's, not the connection's
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert closed_after(conn, [b"Host: vigil\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n", b"X-C: 3\r\n", b"X-D: 4\r\n", b"X-E: 5\r\n"],
                            every=0.3) < TIMEOUT + 1.5


def test_a_body_sent_slowly_is_cut_off_without_an_error_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with served(tmp_path) as live, live.connect() as conn, caplog.at_level(logging.INFO):
        conn.sendall(b"POST /login HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 400\r\n\r\nusername=dana")  # /login reads the form first
        assert closed_after(conn, [b"&x=1"] * 30) < TIMEOUT + 1.5
        time.sleep(0.3)  # the app's task sees the disconnect
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_request_sent_in_pieces_within_the_deadline_is_served(tmp_path: Path) -> None:
    with served(tmp_path) as live, live.connect() as conn:
        for piece in (b"GET /healthz HT", b"TP/1.1\r\nHost: vig", b"il\r\n", b"\r\n"):
            conn.sendall(piece)
            time.sleep(TIMEOUT / 6)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")


def test_at_the_connection_cap_a_newcomer_sheds_the_longest_silent_connection_and_is_served(tmp_path: Path) -> None:
    # refusing the newcomer let slow clients that keep reconnecting turn every visitor away (the slow-client
    # drill: 11 of 40 page loads refused); the one to go is the connection that has said nothing longest
    with served(tmp_path) as live:
        held = [live.connect() for _ in range(LIMITS.limit_concurrency)]
        try:
            time.sleep(0.3)  # past the moment a connection that just spoke is spared
            with live.connect() as visitor:
                visitor.sendall(b"GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
                assert visitor.recv(4096).startswith(b"HTTP/1.1 200")
            assert closed_after(held[0], limit=TIMEOUT * 0.5) < TIMEOUT * 0.5  # the oldest silent one, shed at once
            assert live.get("/healthz") == (200, "ok")
        finally:
            for conn in held:
                conn.close()


@pytest.mark.parametrize("pieces", [1, 8])
def test_oversized_headers_are_refused_however_they_arrive(tmp_path: Path, pieces: int) -> None:
    # h11's own bound holds only while the headers are incomplete: in one read, they would pass
    request = b"GET /healthz HTTP/1.1\r\nHost: vigil\r\nX-Big: " + b"a" * (LIMITS.max_header_bytes + 100) + b"\r\n\r\n"
    size = len(request) // pieces + 1
    with served(tmp_path) as live, live.connect() as conn:
        for start in range(0, len(request), size):
            with contextlib.suppress(OSError):
                conn.sendall(request[start:start + size])
            time.sleep(0.01)
        assert conn.recv(4096).startswith(b"HTTP/1.1 431")
        assert closed_after(conn, limit=1.0) < 1.0


def test_headers_just_within_the_bound_are_served(tmp_path: Path) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: vigil\r\nX-Big: "
    request = head + b"a" * (LIMITS.max_header_bytes - len(head) - 2) + b"\r\n\r\n"
    with served(tmp_path) as live, live.connect() as conn:
        conn.sendall(request)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")


def test_x_forwarded_for_from_an_unconfigured_peer_is_not_the_client(tmp_path: Path) -> None:
    # uvicorn on its own believes X-Forwarded-For from 127.0.0.1: here nobody is a proxy unless configured
    with served(tmp_path) as live:
        assert sign_in_fails(live, {"X-Forwarded-For": "6.6.6.6"}) == 401
        assert [e.detail for e in live.store.audit_entries() if e.action == "sign_in_failed"] == ["client 127.0.0.1"]


def test_x_forwarded_for_from_a_configured_proxy_is_recorded_beside_the_peer(tmp_path: Path) -> None:
    with served(tmp_path, forwarded_allow_ips=TrustedProxies.parse("127.0.0.1")) as live:
        assert sign_in_fails(live, {"X-Forwarded-For": "6.6.6.6"}) == 401
        assert [e.detail for e in live.store.audit_entries() if e.action == "sign_in_failed"] == [
            "client 6.6.6.6 (X-Forwarded-For, via proxy 127.0.0.1)"]


def sign_in_fails(live: Live, headers: dict[str, str]) -> int:
    """A wrong password posted through the real server with the form's CSRF cookie; the status."""
    with live.connect() as conn:
        conn.sendall(GET.replace(b"/healthz", b"/login"))
        page = _response(conn)
        cookie = re.search(rb"set-cookie: ([^;]+);", page, re.IGNORECASE).group(1).decode()  # type: ignore[union-attr]
        csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()  # type: ignore[union-attr]
        form = f"username=dana&password=wrong&csrf={csrf}&next=/"
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        conn.sendall(f"POST /login HTTP/1.1\r\nHost: vigil\r\nCookie: {cookie}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(form)}\r\n\r\n{form}".encode())
        return int(_response(conn).split(b" ", 2)[1])


def _response(conn: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from ``conn``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_forged_host_gets_no_redirect_elsewhere(tmp_path: Path) -> None:
    with served(tmp_path) as live, live.connect() as conn:
        conn.sendall(b"GET /ack/some.token/ HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        head = _response(conn).split(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 404") and b"location" not in head and b"evil.example" not in head


def test_metrics_are_served_on_the_metrics_port_only(tmp_path: Path) -> None:
    with served(tmp_path) as live:
        assert live.get("/healthz") == (200, "ok")
        assert live.get("/metrics")[0] == 404
        status, text = live.get("/metrics", port=live.metrics_port)
        assert status == 200 and 'vigil_web_requests_total{route="/healthz",status="200"} 1.0' in text
        assert live.get("/healthz", port=live.metrics_port)[0] == 404  # and nothing else there


def test_a_metrics_port_in_use_does_not_keep_the_pages_down(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with served(tmp_path, metrics_port=taken.getsockname()[1]) as live:
            assert live.get("/healthz") == (200, "ok")
