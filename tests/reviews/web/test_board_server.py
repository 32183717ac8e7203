"""The board's event stream on the real server (reviews/web/server.py): a stream outlives the request deadline and
the keep-alive timeout (both bound a request's arrival and the idle time between requests, not a response), and
a stream whose client went stops polling the store."""

from __future__ import annotations

import http.cookiejar
import re
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from reviews.web.deps import BoardTiming
from reviews.web.server import ServerLimits
from tests.reviews.web.board_served import serve_board
from tests.reviews.web.fixtures import PASSWORD

pytestmark = pytest.mark.database

LIMITS = ServerLimits(request_timeout_s=1.0, keep_alive_s=1.0, limit_concurrency=8, max_header_bytes=4096)
TIMING = BoardTiming(poll_s=0.1, heartbeat_s=0.3, stream_s=60.0)


def session_cookie(url: str) -> str:
    """Sign in as dana; the session cookie's ``name=value``."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{url}/login", timeout=5).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    body = urllib.parse.urlencode({"username": "dana", "password": PASSWORD, "csrf": csrf, "next": "/board"}).encode()
    opener.open(f"{url}/login", data=body, timeout=5).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def open_stream(url: str, cookie: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(f"GET /board/events HTTP/1.1\r\nHost: vigil\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode())
    return conn


def read_for(conn: socket.socket, seconds: float) -> bytes:
    """What arrives on ``conn`` in ``seconds`` (stops early when the server closes it)."""
    got = b""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        conn.settimeout(max(0.01, ends - time.monotonic()))
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        got += chunk
    return got


def test_a_stream_outlives_the_request_and_keep_alive_timeouts(tmp_path: Path) -> None:
    with serve_board(tmp_path, LIMITS, TIMING) as served:
        conn = open_stream(served.url, session_cookie(served.url))
        got = read_for(conn, 3.5)  # well past the 1 s request deadline and the 1 s keep-alive
        conn.close()
    assert got.startswith(b"HTTP/1.1 200 OK") and b"content-type: text/event-stream" in got.lower()
    assert got.count(b"event: beat") >= 8, got[-400:]  # beats all along: it was never cut off


def test_a_gone_client_stops_the_streams_polling(tmp_path: Path) -> None:
    with serve_board(tmp_path, LIMITS, TIMING) as served:
        polls = []
        real = served.store.activations_changed_since

        def counted(*args):
            polls.append(time.monotonic())
            return real(*args)

        served.store.activations_changed_since = counted  # type: ignore[method-assign]
        conn = open_stream(served.url, session_cookie(served.url))
        assert b"event: beat" in read_for(conn, 1.0)
        conn.close()
        time.sleep(0.5)
        after_close = len(polls)
        time.sleep(1.5)
        assert len(polls) - after_close <= 1, "the stream kept polling after its client went"
        assert after_close >= 5


def test_the_server_stops_in_seconds_with_a_board_open(tmp_path: Path) -> None:
    from reviews.web.server import GRACEFUL_SHUTDOWN_S

    with serve_board(tmp_path, LIMITS, TIMING) as served:
        conn = open_stream(served.url, session_cookie(served.url))
        assert b"event: beat" in read_for(conn, 0.5)
        stopping = time.monotonic()
    # uvicorn waits for responses still being sent, and a stream runs for TIMING.stream_s (a minute) unless cancelled
    assert time.monotonic() - stopping < GRACEFUL_SHUTDOWN_S + 3
    conn.close()
