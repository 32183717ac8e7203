"""The web service: one FastAPI app for the answer pages behind an alert's link and the next-day
activation review, and ``run_web``, which serves it.

``create_web_app`` keeps what the routes work with on ``app.state.web`` (a ``WebContext``), adds the
middleware every response goes through (security headers, the session cookie, request metrics) and the
two ways a route stops early (a refusal page, a redirect), and includes the routers:

- ``reviews.web.ops``: ``/healthz``, ``/metrics``;
- ``reviews.web.answers``: ``/ack/{token}`` (the signed token is the permission);
- ``reviews.web.signin``: ``/``, ``/login``, ``/logout``;
- ``reviews.web.review``: the day, packet, activation, outcome, note and summary pages;
- ``reviews.web.exports``: the CSV exports.

Every review page takes the signed-in user as a dependency (``reviews.web.deps.SignedIn``). Tokens are
capabilities: the service never logs one, sends ``Referrer-Policy: no-referrer`` and forbids caching, and
uvicorn's access log (which has the path) is off.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from prometheus_client import CollectorRegistry

from notifiers.ack_links import AckSigner
from reviews.auth import SESSION_COOKIE, SessionCodec, SignInThrottle, session_key
from reviews.store import ReviewStore
from reviews.web.answers import router as answer_routes
from reviews.web.deps import DEFAULT_SUPPORT_CONTACT, WebContext, root
from reviews.web.exports import router as export_routes
from reviews.web.ops import router as ops_routes
from reviews.web.pages import Redirect, Refusal, refusal_page
from reviews.web.review import router as review_routes
from reviews.web.signin import router as signin_routes
from stream.model.events import AckMessage
from stream.ops.kafka import Topics
from stream.ops.metrics import WebMetrics, add_process_metrics

log = structlog.get_logger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # frame-ancestors says it to current browsers; this to the old ones some phones still run
    "X-Frame-Options": "DENY",
    # the token is in the URL: it must not leak to another site through Referer, or sit in a cache
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Only over HTTPS (a browser ignores it over plain HTTP): a year, not includeSubDomains, not preload, so
# other hosts of the city's domain are not forced onto HTTPS by this service (docs/security.md).
HSTS = "max-age=31536000"

# what a route leaves in request.state.new_session when the session cookie stays as it is
_UNCHANGED = object()

CallNext = Callable[[Request], Awaitable[Response]]


def create_web_app(
    signer: AckSigner,
    store: ReviewStore,
    publish_ack: Callable[[AckMessage], Awaitable[None]],
    clock: Callable[[], datetime],
    *,
    zone: tzinfo = UTC,
    trusted_user_header: str | None = None,
    session_secret: bytes | None = None,
    neighborhoods: Mapping[str, Any] | None = None,
    registry: CollectorRegistry | None = None,
    review_clock: Callable[[], datetime] | None = None,
    support_contact: str | None = None,
) -> FastAPI:
    """The ack pages and the review pages; times on pages are shown in ``zone`` (the deployment's local time).

    ``clock`` is the real clock (links, sessions, the audit log). ``review_clock`` (``clock`` when None)
    is the clock of the activations' own times: the review judges deadlines at its "now" (one still
    running is "awaiting") and takes "today" from it. They differ only when the workers run on a shifted
    clock (`vigil demo --serve`).

    ``trusted_user_header`` (e.g. ``X-Forwarded-User``) signs a request in as the existing, enabled user
    it names: set it only when the app is reachable solely through the single sign-on proxy that sets
    that header (and strips it from what clients send). ``session_secret`` signs the session cookies
    (random per process when None, so sessions end with it). ``neighborhoods`` (name to GeoJSON
    polygon) is what the maps draw; the bundled Minneapolis neighborhoods by default. ``GET /metrics``
    serves ``registry`` (a new one when None) for Prometheus, with no sign-in: requests by route template
    and status, and the answers given through ack links. ``support_contact`` is whom the sign-in lockout
    page tells a locked-out user to contact (``DEFAULT_SUPPORT_CONTACT``, the DNS on-call, when None).
    """
    app = FastAPI(title="Vigil", docs_url=None, redoc_url=None, openapi_url=None)
    registry = registry if registry is not None else CollectorRegistry()
    app.state.web = WebContext(
        signer=signer,
        store=store,
        publish_ack=publish_ack,
        clock=clock,
        review_clock=review_clock or clock,
        zone=zone,
        sessions=SessionCodec(session_key(session_secret) if session_secret is not None else secrets.token_bytes(32)),
        throttle=SignInThrottle(store),
        metrics=WebMetrics(registry),
        registry=registry,
        trusted_user_header=trusted_user_header,
        neighborhoods=neighborhoods,
        support_contact=support_contact or DEFAULT_SUPPORT_CONTACT,
    )
    app.add_exception_handler(Refusal, refused)
    app.add_exception_handler(Redirect, redirected)
    # each middleware added wraps the ones before: the request counter, added last, sees the status
    # every other layer settled on
    app.middleware("http")(security_headers)
    app.middleware("http")(session_cookie)
    app.middleware("http")(count_requests)
    for router in (ops_routes, answer_routes, signin_routes, review_routes, export_routes):
        app.include_router(router)
    return app


async def refused(request: Request, exc: Refusal) -> HTMLResponse:
    """A ``Refusal`` raised anywhere in a route (or its dependencies) answered as its page."""
    return refusal_page(exc)


async def redirected(request: Request, exc: Redirect) -> RedirectResponse:
    """A ``Redirect`` raised anywhere in a route (or its dependencies) answered as a 303."""
    return RedirectResponse(exc.location, status_code=303)


async def security_headers(request: Request, call_next: CallNext) -> Response:
    """The security headers on every response; HSTS only over HTTPS."""
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if request.url.scheme == "https":
        response.headers["Strict-Transport-Security"] = HSTS
    return response


async def session_cookie(request: Request, call_next: CallNext) -> Response:
    """The browser's session read from its cookie into ``request.state.session``; the cookie set or
    cleared afterwards when a route put a new session (or None) in ``request.state.new_session``."""
    web: WebContext = request.app.state.web
    sessions = web.sessions
    request.state.session = sessions.decode(request.cookies.get(SESSION_COOKIE), web.clock())
    request.state.new_session = _UNCHANGED
    response = await call_next(request)
    change = request.state.new_session
    cookie = {"path": f"{root(request)}/", "httponly": True, "samesite": "lax", "secure": request.url.scheme == "https"}
    if change is None:
        response.delete_cookie(SESSION_COOKIE, **cookie)
    elif change is not _UNCHANGED:
        response.set_cookie(SESSION_COOKIE, sessions.encode(change), max_age=int(sessions.lifetime.total_seconds()), **cookie)
    return response


async def count_requests(request: Request, call_next: CallNext) -> Response:
    """Every request counted by its route template and status (500 for one that raised)."""
    metrics: WebMetrics = request.app.state.web.metrics
    try:
        response = await call_next(request)
    except Exception:
        metrics.request(route_of(request), 500)
        raise
    metrics.request(route_of(request), response.status_code)
    return response


def route_of(request: Request) -> str:
    """The matched route's template (``/ack/{token}``), never the path itself: a path may hold an ack
    token, and every distinct path would be a new series."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _listen(host: str, port: int) -> socket.socket:
    # Bound here, not by uvicorn, which calls sys.exit on a bind error; here it is an OSError.
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family)


async def run_web(
    host: str,
    port: int,
    bootstrap: str,
    topics: Topics,
    db_url: str,
    secret: bytes,
    base_url: str,
    ready: asyncio.Future[str] | None = None,
    *,
    zone: tzinfo = UTC,
    publish_timeout_s: float = 10.0,
    trusted_user_header: str | None = None,
    review_clock: Callable[[], datetime] | None = None,
    support_contact: str | None = None,
) -> None:
    """Serve the ack and review web app until cancelled or signalled, publishing acks to ``topics.acks``.

    Creates the review store's schema first. ``port`` 0 picks a free port; once serving, prints
    ``web listening on http://host:port`` and sets ``ready`` (if given) to that URL. Review session
    cookies are signed with a key derived from ``secret``, so they survive a restart and work across
    workers. ``trusted_user_header``: see ``create_web_app`` (only behind the proxy that sets it).
    ``review_clock``: the workers' clock when it is not the real one (see ``create_web_app``).
    ``support_contact``: whom a locked-out user contacts (see ``create_web_app``).
    """
    try:
        signer = AckSigner(secret, base_url)
        store = ReviewStore(db_url)
        await asyncio.to_thread(store.create_schema)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=int(publish_timeout_s * 1000))
        registry = CollectorRegistry()
        add_process_metrics(registry)
        await producer.start()
    except BaseException as exc:
        _not_ready(ready, exc)
        raise
    try:
        async def publish(message: AckMessage) -> None:
            # Keyed by ref, like every other ack: one activation's acks stay in order on one partition.
            sent = producer.send_and_wait(topics.acks, message.model_dump_json().encode(), key=message.ref.encode())
            await asyncio.wait_for(sent, publish_timeout_s * 2)  # a hard bound in case the client's own timeouts stack up

        app = create_web_app(signer, store, publish, lambda: datetime.now(UTC), zone=zone, trusted_user_header=trusted_user_header,
                             session_secret=secret, registry=registry, review_clock=review_clock, support_contact=support_contact)
        await _serve(app, host, port, ready)
    except BaseException as exc:
        _not_ready(ready, exc)
        raise
    finally:
        await producer.stop()
        store.dispose()


async def _serve(app: FastAPI, host: str, port: int, ready: asyncio.Future[str] | None) -> None:
    """Serve ``app`` with uvicorn on ``host:port`` until cancelled; say where once it is listening."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    listener = _listen(host, port)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if not server.started:
            await serving
            raise RuntimeError("the web server stopped before it started")
        bound = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
        print(f"web listening on {url}", flush=True)
        log.info("ack_web.started", url=url)
        if ready is not None and not ready.done():
            ready.set_result(url)
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise
    finally:
        listener.close()


def _not_ready(ready: asyncio.Future[str] | None, exc: BaseException) -> None:
    if ready is None or ready.done():
        return
    if isinstance(exc, Exception):
        ready.set_exception(exc)
    else:
        ready.cancel()
