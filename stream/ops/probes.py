"""The scrape and probe endpoint of every Vigil process: ``/metrics`` for Prometheus, and a worker's
``/healthz`` and ``/readyz`` for the orchestrator, served from a daemon thread so that a scrape never waits
for the event loop.

A thread per connection, bounded: at most ``max_threads`` connections at once (the longest-silent shed for a
new one, stream/ops/connections.py), each read with a timeout and closed after a deadline; a client that
hangs up mid-answer is one log line a minute at most, not a traceback each (500 slow clients once made 500
threads and 500 tracebacks)."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import MetricsHandler

from stream.ops.connections import ConnectionSlots, Throttle, bytes_waiting
from stream.ops.health import LoopHealth

log = structlog.get_logger(__name__)

READ_TIMEOUT_S = 5.0  # per read; Prometheus sends its whole request at once and waits 5 s at most (scrape_timeout)
REQUEST_DEADLINE_S = 10.0  # a connection not being answered is closed this long after it opened
MAX_THREADS = 16  # Prometheus, a kubelet's two probes and a curl or two need a handful


def serve_metrics(registry: CollectorRegistry, host: str, port: int, health: LoopHealth | None = None,
                  max_threads: int = MAX_THREADS) -> int | None:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread (the event loop never
    serves a scrape); ``port`` 0 picks a free one. With ``health`` (a worker), ``/healthz`` and ``/readyz``
    answer 200 or 503 from the loop's heartbeat (stream/ops/health.py). Returns the bound port, or None when
    it cannot bind: the process goes on without metrics (``up == 0`` tells) rather than stop alerting
    over them."""
    handler = type("VigilMetricsHandler", (_ProbeHandler,), {"registry": registry, "health": health})
    try:
        server = _ProbeServer((host, port), handler, max_threads)
    except OSError as exc:
        log.error("metrics.unavailable", host=host, port=port, error=str(exc))
        return None
    threading.Thread(target=server.serve_forever, name="vigil-metrics", daemon=True).start()
    bound = int(server.server_port)
    log.info("metrics.listening", host=host, port=bound, max_threads=max_threads)
    return bound


def _shut(connection: socket.socket) -> None:
    """End a connection from another thread: its handler's blocked read returns, and its thread ends."""
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone


class _ProbeServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a thread cap, a per-connection deadline and one-line client errors."""

    daemon_threads = True
    # socketserver's default listen backlog is 5: past it the kernel drops SYNs, and a scrape waits a second
    # per retransmission behind a burst of connections
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, max_threads: int):
        super().__init__(address, handler)
        self.slots = ConnectionSlots(max_threads, "metrics")
        self._client_errors = Throttle()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the connection, unless none can be made room for (then close it at once)."""
        if not self.slots.admit(request, lambda: _shut(request), bytes_waiting(request)):
            super().shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """The connection is done (its thread ends): free its slot, then close it."""
        self.slots.release(request)
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Between accepts (every half second): close connections that outstayed the deadline."""
        self.slots.close_overdue(REQUEST_DEADLINE_S)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One structured line instead of socketserver's traceback on stderr; for clients that hung up or
        timed out (their problem, and many under attack), one line a minute at most."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # BrokenPipe, ConnectionReset, TimeoutError...
            if (count := self._client_errors.hit()) is not None:
                log.info("metrics.client_gone", error=type(error).__name__, times=count, every_s=self._client_errors.every)
            return
        log.error("metrics.request_failed", error=type(error).__name__, message=str(error)[:200],
                  client=client_address[0] if isinstance(client_address, tuple) else str(client_address))


class _ProbeHandler(MetricsHandler):
    """/metrics as prometheus_client serves it, plus the worker's probes; any other path is 404."""

    health: LoopHealth | None = None
    timeout = READ_TIMEOUT_S  # StreamRequestHandler sets it on the socket: every read and write waits this long at most
    server: _ProbeServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with self.server.slots.busy(self.request):  # being answered: never shed, never past the deadline
            self._get()

    def _get(self) -> None:
        path = urlparse(self.path).path
        if path == "/metrics":
            super().do_GET()
            return
        if path in ("/healthz", "/readyz") and self.health is not None:
            status = self.health.liveness() if path == "/healthz" else self.health.readiness()
            self._answer(200 if status.ok else 503, status.detail)
            return
        self._answer(404, f"not found: {path} (this port serves /metrics" + (", /healthz and /readyz)" if self.health else ")"))

    def _answer(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
