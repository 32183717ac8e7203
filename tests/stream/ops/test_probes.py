"""The /metrics (and worker probe) port under slow and vanishing clients: real sockets, a real server thread."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request

from prometheus_client import CollectorRegistry, Counter
from structlog.testing import capture_logs

from stream.ops import probes
from stream.ops.probes import serve_metrics

THREADS = 16  # probes.MAX_THREADS (checked below)


def _scrape(port: int, timeout: float = 2.0) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
        response.read()
        return response.status, time.monotonic() - started


def _silent(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def _server_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("Thread-") and "process_request_thread" in t.name)


def test_slow_clients_get_no_more_threads_than_the_cap_and_a_scrape_still_answers() -> None:
    """500 slow clients made 500 threads. Now at most MAX_THREADS (16) connections are held; the longest-silent
    are closed for newcomers, and Prometheus' scrape is answered at once."""
    port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0)
    assert port is not None
    before = _server_threads()
    slow = _silent(port, 100)
    time.sleep(0.5)
    assert _server_threads() - before <= THREADS
    status, took = _scrape(port)
    assert status == 200 and took < 1.0
    closed = 0
    for sock in slow:
        sock.settimeout(0.05)
        try:
            closed += sock.recv(1) == b""
        except TimeoutError:
            pass
        except ConnectionError:
            closed += 1
        sock.close()
    assert closed >= 100 - THREADS
    assert probes.MAX_THREADS == THREADS


def test_a_silent_client_is_closed_after_the_read_timeout() -> None:
    port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0)
    assert port is not None
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(8)
        started = time.monotonic()
        try:
            data = sock.recv(1)
        except TimeoutError:
            data = b"(still open)"
        except ConnectionError:
            data = b""
        assert data == b"" and time.monotonic() - started < 7


def test_clients_gone_mid_answer_make_one_log_line_and_no_traceback(capfd) -> None:
    """Each broken pipe wrote socketserver's multi-line traceback to stderr (500 of them in the JSON log)."""
    registry = CollectorRegistry()
    big = Counter("padding", "Makes the page large enough that writing it meets the reset.", ["n"], registry=registry)
    for n in range(10_000):
        big.labels(str(n)).inc()
    port = serve_metrics(registry, "127.0.0.1", 0)
    assert port is not None
    with capture_logs() as logs:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.05)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
            sock.close()
        time.sleep(1.0)
        assert _scrape(port, timeout=10)[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred during processing" not in err, err[:2000]
    gone = [e for e in logs if e["event"] == "metrics.client_gone"]
    assert len(gone) == 1 and gone[0]["error"] in ("BrokenPipeError", "ConnectionResetError"), logs
