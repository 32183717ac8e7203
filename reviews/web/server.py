"""Serving the web app with uvicorn, against slow and numerous clients: ``serve_web``.

uvicorn bounds a request's headers (``h11_max_incomplete_event_size``), the idle time between requests
(``timeout_keep_alive``) and the requests served at once (``limit_concurrency``: more get 503), but not how
long a client may take to send a request: a client that sends a header line every few seconds, or nothing
at all, holds its connection for ever, and enough of them hold every descriptor. ``DeadlineH11Protocol``
closes a connection whose request (line, headers and body) has not fully arrived ``request_timeout_s``
after its first byte (after the connection opened, for the first), and keeps at most ``limit_concurrency``
connections open the way the listeners do (stream/ops/connections.py): a new one past the cap sheds the
longest-silent idle connection, never one being answered or that sent bytes a moment ago. Refusing the
newcomer instead let a thousand slow clients that keep reconnecting turn every legitimate visitor away
(the slow-client drill: 11 of 40 page loads refused). h11's bound on headers holds only for
headers still incomplete: the same oversized headers arriving in one read pass; ``DeadlineH11Protocol``
answers 431 to any request whose line and headers exceed ``max_header_bytes``, however they arrive.

The app reads ``X-Forwarded-*`` itself (reviews/web/edge.py); uvicorn's own reading is off, since it
believes 127.0.0.1 (or ``$FORWARDED_ALLOW_IPS``) by default and puts the forwarded client where the real
peer was.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import h11
import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from uvicorn.protocols.http.h11_impl import H11Protocol

from stream.ops.connections import ConnectionSlots, bytes_waiting, effective_cap, quiet_accept_errors

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """What one client may take of the server (the `vigil web` options of the same names)."""

    request_timeout_s: float = 15.0  # --request-timeout: the whole request, from its first byte
    keep_alive_s: float = 5.0  # --keep-alive-timeout: idle between two requests on one connection
    limit_concurrency: int = 200  # --limit-concurrency: open connections and requests in progress
    max_header_bytes: int = 16 * 1024  # --max-header-bytes: request line and headers (431 beyond)

    def __post_init__(self) -> None:
        if not (self.request_timeout_s > 0 and self.keep_alive_s > 0):
            raise ValueError("the request and keep-alive timeouts must be more than 0 seconds")
        if self.limit_concurrency < 1 or self.max_header_bytes < 1024:
            raise ValueError("the concurrency limit must be at least 1 and the header limit at least 1024 bytes")


# on shutdown, how long responses still being sent (a live board's event stream never ends by itself) may run
# before they are cancelled; uvicorn waits for ever by default
GRACEFUL_SHUTDOWN_S = 5
ACCEPT_BATCH = 16  # connections accepted at once at most (the listen backlog asyncio's accept loop drains per turn)

# the metrics port serves one scraper or two; it needs no more than a few connections
METRICS_LIMITS = ServerLimits(request_timeout_s=10.0, keep_alive_s=5.0, limit_concurrency=10, max_header_bytes=8 * 1024)


HEADERS_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Content-Length: 29\r\nConnection: close\r\n\r\nRequest headers are too large")


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on each request's arrival, a strict bound on its headers
    and a cap on open connections."""

    def __init__(self, *args: Any, request_timeout_s: float, max_header_bytes: int, slots: ConnectionSlots, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout_s = request_timeout_s
        self.max_header_bytes = max_header_bytes
        self.slots = slots
        self._deadline: asyncio.TimerHandle | None = None
        self._head = bytearray()  # the current request's line and headers so far (at most max_header_bytes + 4)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open the connection with its first request's deadline running; one past the limit is closed."""
        super().connection_made(transport)
        if not self.slots.admit(self, transport.abort, functools.partial(self._not_silent, bytes_waiting(transport))):  # at the cap: the longest-silent one made room, or this one
            return
        self._deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def data_received(self, data: bytes) -> None:
        """Feed the bytes to uvicorn; the deadline runs while a request is arriving, from its first byte."""
        if self.conn.their_state is h11.IDLE and self._head_too_large(data):
            log.info("web.headers_too_large", limit=self.max_header_bytes)
            self._cancel_deadline()
            self.transport.write(HEADERS_TOO_LARGE)
            self.transport.close()
            return
        self.slots.active(self)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head.clear()
        if not self._request_arriving():
            self._cancel_deadline()
        elif self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _not_silent(self, waiting: Callable[[], bool]) -> bool:
        # a request being answered (the app may take longer than the shed grace under a flood), or one whose
        # bytes wait unread, is no reason to shed this connection
        return (self.cycle is not None and not self.cycle.response_complete) or waiting()

    def _head_too_large(self, data: bytes) -> bool:
        # only the first max + 4 bytes matter: the end of the headers must be among them
        self._head += data[: self.max_header_bytes + 4 - len(self._head)]
        end = self._head.find(b"\r\n\r\n")
        return (end if end >= 0 else len(self._head)) > self.max_header_bytes

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: so is its deadline."""
        self._cancel_deadline()
        self.slots.release(self)
        super().connection_lost(exc)

    def _request_arriving(self) -> bool:
        # h11: IDLE until a request's headers are complete, SEND_BODY until its body is; DONE (the app's
        # turn, or the response's) is not the client's time to spend
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._request_arriving() and not self.transport.is_closing():
            log.debug("web.request_too_slow", timeout_s=self.request_timeout_s, headers_complete=self.conn.their_state is h11.SEND_BODY)
            self.slots.closed("deadline")
            self.transport.close()


def uvicorn_config(app: Any, limits: ServerLimits, service: str = "web", registry: CollectorRegistry | None = None) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` under ``limits``: h11 with the request deadline, no websockets,
    no access log (it has the path, and a path may hold an ack token), no ``Server`` header, and no
    reading of ``X-Forwarded-*`` (the app does it, from its configured proxies only)."""
    cap = effective_cap(limits.limit_concurrency, service)
    slots = ConnectionSlots(cap, service, registry)
    protocol = functools.partial(DeadlineH11Protocol, request_timeout_s=limits.request_timeout_s, max_header_bytes=limits.max_header_bytes,
                                 slots=slots)
    return uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", server_header=False, proxy_headers=False,
        http=protocol,  # type: ignore[arg-type] - uvicorn calls it like the protocol class it builds
        # the slots keep connections under the cap; uvicorn's limit (which counts connections too) stays past it
        ws="none", limit_concurrency=cap + 1, timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]
        # asyncio accepts up to ``backlog`` connections in one go before any of them is admitted or shed:
        # uvicorn's 2048 let a wave of reconnecting slow clients take every descriptor at once
        backlog=min(cap, ACCEPT_BATCH),
        h11_max_incomplete_event_size=limits.max_header_bytes, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


class _SideServer(uvicorn.Server):
    """A second uvicorn server in the process (the metrics port): the main one takes the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Nothing: a signal stops the main server, which stops this one."""
        yield


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port)."""
    # Bound here, not by uvicorn, which calls sys.exit on a bind error; here it is an OSError.
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family)


def url_of(host: str, listener: socket.socket) -> str:
    """``http://host:port`` of a bound listener (IPv6 hosts in brackets)."""
    port = listener.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_web(app: Any, host: str, port: int, limits: ServerLimits, ready: asyncio.Future[str] | None = None, *,
                    metrics_app: Any | None = None, metrics_host: str = "127.0.0.1", metrics_port: int = 0,
                    registry: CollectorRegistry | None = None) -> None:
    """Serve ``app`` on ``host:port`` under ``limits`` until cancelled or signalled, and ``metrics_app`` (when
    given) on ``metrics_host:metrics_port`` beside it, in the same event loop (a scrape that answers shows
    the loop serving); a metrics port that cannot be bound is logged, and the app served without. Once listening, prints ``web listening on <url>`` and sets ``ready`` to the url."""
    main = uvicorn.Server(uvicorn_config(app, limits, "web", registry))
    restore = quiet_accept_errors(asyncio.get_running_loop(), "web")  # out of descriptors: a line a minute, not a traceback each time
    listener = listen(host, port)
    side = _SideServer(uvicorn_config(metrics_app, METRICS_LIMITS, "web_metrics")) if metrics_app is not None else None
    side_listener = None
    if side is not None:
        try:
            side_listener = listen(metrics_host, metrics_port)
        except OSError as exc:
            # as the other processes do (stream/ops/probes.py): the answer pages matter more than their
            # metrics; up{job="vigil-web"} == 0 tells
            log.error("metrics.unavailable", host=metrics_host, port=metrics_port, error=str(exc))
            side = None
    serving = asyncio.create_task(main.serve(sockets=[listener]))
    side_serving = asyncio.create_task(side.serve(sockets=[side_listener])) if side is not None and side_listener else None
    try:
        await _until_started(main, serving)
        if side is not None and side_serving is not None:
            await _until_started(side, side_serving)
            log.info("ack_web.metrics_listening", url=f"{url_of(metrics_host, side_listener)}/metrics")  # type: ignore[arg-type]
        url = url_of(host, listener)
        print(f"web listening on {url}", flush=True)
        log.info("ack_web.started", url=url)
        if ready is not None and not ready.done():
            ready.set_result(url)
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        main.should_exit = True
        await serving
        raise
    finally:
        restore()
        await _stop(side, side_serving)
        listener.close()
        if side_listener is not None:
            side_listener.close()


async def _until_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if not server.started:
        await serving
        raise RuntimeError("the web server stopped before it started")


async def _stop(server: uvicorn.Server | None, serving: asyncio.Task[None] | None) -> None:
    if server is None or serving is None:
        return
    server.should_exit = True
    with contextlib.suppress(Exception):
        await serving
