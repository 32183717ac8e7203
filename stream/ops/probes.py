"""The worker's scrape and probe endpoint: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for the
orchestrator, served from a daemon thread so that a scrape never waits for the event loop."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from urllib.parse import urlparse

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import MetricsHandler

from stream.ops.health import LoopHealth

log = structlog.get_logger(__name__)


def serve_metrics(registry: CollectorRegistry, host: str, port: int, health: LoopHealth | None = None) -> int | None:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread (the event loop never
    serves a scrape); ``port`` 0 picks a free one. With ``health`` (a worker), ``/healthz`` and ``/readyz``
    answer 200 or 503 from the loop's heartbeat (stream/ops/health.py). Returns the bound port, or None when
    it cannot bind: the process goes on without metrics (``up == 0`` tells) rather than stop alerting
    over them."""
    handler = type("VigilMetricsHandler", (_ProbeHandler,), {"registry": registry, "health": health})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        log.error("metrics.unavailable", host=host, port=port, error=str(exc))
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="vigil-metrics", daemon=True).start()
    bound = int(server.server_port)
    log.info("metrics.listening", host=host, port=bound)
    return bound


class _ProbeHandler(MetricsHandler):
    """/metrics as prometheus_client serves it, plus the worker's probes; any other path is 404."""

    health: LoopHealth | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
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
