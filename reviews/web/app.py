"""The web service: one FastAPI app for the answer pages behind an alert's link and the next-day
activation review, and ``run_web``, which serves it.

``create_web_app`` keeps what the routes work with on ``app.state.web`` (a ``WebContext``), adds the
middleware every response goes through (security headers, the session cookie, request metrics) and the
two ways a route stops early (a refusal page, a redirect), and includes the routers:

- ``reviews.web.ops``: ``/healthz`` (``/metrics`` is on its own port: ``create_metrics_app``);
- ``reviews.web.answers``: ``/ack/{token}`` (the signed token is the permission);
- ``reviews.web.sms``: ``/sms/inbound`` (the SMS gateway's signature is the permission);
- ``reviews.web.signin``: ``/``, ``/login``, ``/logout``;
- ``reviews.web.review``: the day, packet, activation, outcome, note and summary pages;
- ``reviews.web.exports``: the CSV exports;
- ``reviews.web.standdowns``: ``/standdowns`` (DNS adds and ends them; a lead reads their team's);
- ``reviews.web.board``: the live board (``/board``), its event stream, script and actions;
- ``reviews.web.tasks``: ``/tasks`` (open follow-up tasks) and closing a task;
- ``reviews.web.task_links``: ``/task/{token}`` (closing a task from its reminder's link: the signed token is the permission);
- ``reviews.web.api``: ``/api/v1/...``, the provider data API (a per-team API token is the permission; JSON, errors too)
  and its OpenAPI document at ``/api/v1/openapi.json`` (the app's own ``/openapi.json`` stays off).

Every review page takes the signed-in user as a dependency (``reviews.web.deps.SignedIn``). Tokens are
capabilities: the service never logs one, sends ``Referrer-Policy: no-referrer`` and forbids caching, and
uvicorn's access log (which has the path) is off.

No response takes anything from the request's ``Host`` header: every redirect is a path on this site, and
there are no trailing-slash redirects (Starlette builds those from ``Host``: ``/ack/<token>/`` would send
the token to any host a client names). Only the configured proxies' ``X-Forwarded-*`` is believed
(reviews/web/edge.py); reviews/web/server.py serves the app against slow and numerous clients.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, tzinfo
from http import HTTPStatus
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from notifiers.ack_links import AckSigner
from reviews.auth import SESSION_COOKIE, SessionCodec, SignInThrottle, session_key
from reviews.standdowns import StanddownRules, standdown_record
from reviews.store import ReviewStore
from reviews.web.answers import router as answer_routes
from reviews.web.api import ApiError, api_error_response, is_api_request
from reviews.web.api import router as api_routes
from reviews.web.board import router as board_routes
from reviews.web.deps import DEFAULT_SUPPORT_CONTACT, BoardTiming, WebContext, root
from reviews.web.edge import SingleSignOn, TrustedProxies, forwarded_scheme
from reviews.web.exports import router as export_routes
from reviews.web.ops import metrics_router
from reviews.web.ops import router as ops_routes
from reviews.web.pages import Redirect, Refusal, http_error_page, refusal_page
from reviews.web.review import router as review_routes
from reviews.web.server import ServerLimits, serve_web
from reviews.web.signin import router as signin_routes
from reviews.web.sms import SmsInbound
from reviews.web.sms import router as sms_routes
from reviews.web.standdowns import router as standdown_routes
from reviews.web.task_links import router as task_link_routes
from reviews.web.tasks import router as task_routes
from stream.core.standdowns import Standdown
from stream.model.events import AckMessage, BoardAction, TaskClose
from stream.ops.kafka import Topics
from stream.ops.metrics import WebMetrics, add_process_metrics

log = structlog.get_logger(__name__)

SECURITY_HEADERS = {
    # scripts: the live board's own file only (never inline), and it talks to this site only (its event stream)
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "form-action 'self'; frame-ancestors 'none'"),
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
    publish_ack: Callable[[AckMessage | BoardAction | TaskClose], Awaitable[None]],
    clock: Callable[[], datetime],
    *,
    zone: tzinfo = UTC,
    single_sign_on: SingleSignOn | None = None,
    session_secret: bytes | None = None,
    neighborhoods: Mapping[str, Any] | None = None,
    registry: CollectorRegistry | None = None,
    review_clock: Callable[[], datetime] | None = None,
    forwarded_allow_ips: TrustedProxies | None = None,
    support_contact: str | None = None,
    sms: SmsInbound | None = None,
    team_precision: Mapping[str, str] | None = None,
    neighborhood_centres: Mapping[str, tuple[str, str]] | None = None,
    publish_standdown: Callable[[Standdown], Awaitable[None]] | None = None,
    standdown_rules: StanddownRules | None = None,
    board_timing: BoardTiming | None = None,
) -> FastAPI:
    """The ack pages and the review pages; times on pages are shown in ``zone`` (the deployment's local time).

    ``clock`` is the real clock (links, sessions, the audit log). ``review_clock`` (``clock`` when None)
    is the clock of the activations' own times: the review judges deadlines at its "now" (one still
    running is "awaiting") and takes "today" from it. They differ only when the workers run on a shifted
    clock (`vigil demo --serve`).

    ``single_sign_on`` (its header e.g. ``X-Forwarded-User``) signs a request without a password session
    in as the existing, enabled user the header names, when the request came through the single sign-on
    proxy (its address, or its secret: reviews/web/edge.py). ``forwarded_allow_ips``: the proxies whose
    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed (none when None). ``session_secret`` signs
    the session cookies (random per process when None, so sessions end with it). ``neighborhoods`` (name
    to GeoJSON polygon) is what the maps draw; the bundled Minneapolis neighborhoods by default.
    ``registry`` (a new one when None) gets the requests by route template and status, and the answers
    given through ack links; ``create_metrics_app`` serves it, on another port. ``support_contact`` is whom the sign-in lockout
    page tells a locked-out user to contact (``DEFAULT_SUPPORT_CONTACT``, the DNS on-call, when None).
    ``sms``: the SMS gateway's inbound webhook settings (reviews/web/sms.py); ``/sms/inbound`` answers 404 when None.
    ``team_precision``: each team's location precision on its answer page (``reviews.web.incident.team_precisions``);
    none for a team not in it. ``neighborhood_centres``: the map point of a neighborhood-precision page
    (``reviews.web.incident.neighborhood_centres``); no map link on those pages when None.
    ``publish_standdown`` sends a stored standdown to the workers (None: the standdowns page says it cannot);
    ``standdown_rules``: what a standdown is checked against (the bundled deployment's when None).
    (``reviews.web.incident.neighborhood_centres``); no map link on those pages when None. ``publish_ack``
    takes the answers of the ack pages and the live board, and the board's actions (``BoardAction``) and task closings (``TaskClose``),
    for the acks topic. ``board_timing``: how the live board's event stream polls and beats (``BoardTiming()`` when None).
    """
    # no trailing-slash redirects: Starlette writes their Location from the request's Host header
    app = FastAPI(title="Vigil", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
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
        neighborhoods=neighborhoods,
        proxies=forwarded_allow_ips or TrustedProxies(),
        single_sign_on=single_sign_on,
        support_contact=support_contact or DEFAULT_SUPPORT_CONTACT,
        team_precision=team_precision,
        neighborhood_centres=neighborhood_centres,
        publish_standdown=publish_standdown,
        standdown_rules=standdown_rules,
        board=board_timing or BoardTiming(),
    )
    app.state.sms = sms
    app.add_exception_handler(ApiError, api_refused)
    app.add_exception_handler(Refusal, refused)
    app.add_exception_handler(Redirect, redirected)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, not_understood)
    # each middleware added wraps the ones before: the request counter, added last, sees the status
    # every other layer settled on
    app.middleware("http")(security_headers)
    app.middleware("http")(session_cookie)
    app.middleware("http")(count_requests)
    app.middleware("http")(scheme_from_proxy)  # outermost: every other layer sees the scheme the client used
    for router in (ops_routes, answer_routes, sms_routes, signin_routes, review_routes, export_routes, board_routes):
        app.include_router(router)
    app.include_router(standdown_routes)
    app.include_router(task_routes)
    app.include_router(task_link_routes)
    app.include_router(api_routes)
    return app


async def api_refused(request: Request, exc: ApiError) -> Response:
    """An ``ApiError`` raised by an API route (or its token check) answered as the API's JSON error."""
    return api_error_response(exc.status, exc.error, exc.detail)


async def refused(request: Request, exc: Refusal) -> Response:
    """A ``Refusal`` raised anywhere in a route (or its dependencies) answered as its page (to the API: as JSON, e.g.
    the review store not answering)."""
    if is_api_request(request):
        return api_error_response(exc.status, "unavailable" if exc.status == 503 else "refused", exc.message)
    return refusal_page(exc)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """An HTTP error the framework raised (no route here, a method the route does not take): the site's message page
    with a way back, never the framework's JSON; its status code and headers kept. Under the API: the API's JSON error."""
    if is_api_request(request):
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "Error"
        response = api_error_response(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", phrase)
        response.headers.update(dict(exc.headers or {}))
        return response
    return http_error_page(request, exc.status_code, exc.headers)


async def not_understood(request: Request, exc: RequestValidationError) -> Response:
    """A request the routes' declared parameters refuse: the site's message page (422), not the framework's JSON. Under
    the API: a 400 naming the parameter (a ``limit`` that is not a number)."""
    if is_api_request(request):
        reasons = "; ".join(f"{'.'.join(str(part) for part in e.get('loc', ())[1:])}: {e.get('msg', 'not understood')}" for e in exc.errors())
        return api_error_response(400, "bad_request", reasons or "not understood")
    return http_error_page(request, 422)


async def redirected(request: Request, exc: Redirect) -> RedirectResponse:
    """A ``Redirect`` raised anywhere in a route (or its dependencies) answered as a 303."""
    return RedirectResponse(exc.location, status_code=303)


async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
    """The client went (or was cut off as too slow) before its request's body arrived: nobody to answer, and
    nothing wrong on this side to log."""
    log.info("review_web.client_gone", route=route_of(request))
    return PlainTextResponse("request incomplete", status_code=400)


async def scheme_from_proxy(request: Request, call_next: CallNext) -> Response:
    """The scheme a trusted proxy says the client used (``X-Forwarded-Proto``), for HSTS and the cookie's
    ``Secure`` flag; from anyone else the header changes nothing."""
    scheme = forwarded_scheme(request, request.app.state.web.proxies)
    if scheme is not None:
        request.scope["scheme"] = scheme  # the same scope every inner layer builds its request from
    return await call_next(request)


def create_metrics_app(registry: CollectorRegistry) -> FastAPI:
    """``GET /metrics``: ``registry`` in Prometheus' text format, for the metrics port only (`vigil web
    --metrics-port`, on 127.0.0.1 by default): request counts are activity, not for anyone who can reach
    the answer pages."""
    app = FastAPI(title="Vigil metrics", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.registry = registry
    app.include_router(metrics_router)
    return app


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
    single_sign_on: SingleSignOn | None = None,
    review_clock: Callable[[], datetime] | None = None,
    forwarded_allow_ips: TrustedProxies | None = None,
    limits: ServerLimits = ServerLimits(),  # noqa: B008 - a frozen value, never changed
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    support_contact: str | None = None,
    sms: SmsInbound | None = None,
    team_precision: Mapping[str, str] | None = None,
    neighborhood_centres: Mapping[str, tuple[str, str]] | None = None,
    standdown_rules: StanddownRules | None = None,
) -> None:
    """Serve the ack and review web app until cancelled or signalled, publishing acks to ``topics.acks``.

    Creates the review store's schema first. ``port`` 0 picks a free port; once serving, prints
    ``web listening on http://host:port`` and sets ``ready`` (if given) to that URL. Review session
    cookies are signed with a key derived from ``secret``, so they survive a restart and work across
    workers. ``single_sign_on``, ``forwarded_allow_ips``: see ``create_web_app``. ``review_clock``: the
    workers' clock when it is not the real one (see ``create_web_app``). ``limits``: what one client may
    take of the server (reviews/web/server.py). With ``metrics_port`` (0: a free one), ``/metrics`` is
    served there on ``metrics_host``, and nowhere else.
    ``support_contact``: whom a locked-out user contacts (see ``create_web_app``). ``sms``: answers by SMS
    reply (``/sms/inbound``; see ``create_web_app``).
    ``team_precision``, ``neighborhood_centres``: where the answer pages say (see ``create_web_app``).
    Standdowns added or ended on ``/standdowns`` go to ``topics.standdowns``; ``standdown_rules``: see ``create_web_app``.
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
        async def publish(message: AckMessage | BoardAction) -> None:
            # Keyed by ref, like every other ack: one activation's acks and board actions stay in order on one partition.
            sent = producer.send_and_wait(topics.acks, message.model_dump_json().encode(), key=message.ref.encode())
            await asyncio.wait_for(sent, publish_timeout_s * 2)  # a hard bound in case the client's own timeouts stack up

        async def publish_standdown(standdown: Standdown) -> None:
            # keyed by the standdown's id on the compacted topic: its newest version is its state
            key, value = standdown_record(standdown)
            await asyncio.wait_for(producer.send_and_wait(topics.standdowns, value, key=key), publish_timeout_s * 2)

        app = create_web_app(signer, store, publish, lambda: datetime.now(UTC), zone=zone, single_sign_on=single_sign_on,
                             session_secret=secret, registry=registry, review_clock=review_clock, forwarded_allow_ips=forwarded_allow_ips,
                             support_contact=support_contact, sms=sms, team_precision=team_precision,
                             neighborhood_centres=neighborhood_centres, publish_standdown=publish_standdown,
                             standdown_rules=standdown_rules)
        metrics = create_metrics_app(registry) if metrics_port is not None else None
        await serve_web(app, host, port, limits, ready, metrics_app=metrics, metrics_host=metrics_host, metrics_port=metrics_port or 0,
                        registry=registry)
    except BaseException as exc:
        _not_ready(ready, exc)
        raise
    finally:
        await producer.stop()
        store.dispose()


def _not_ready(ready: asyncio.Future[str] | None, exc: BaseException) -> None:
    if ready is None or ready.done():
        return
    if isinstance(exc, Exception):
        ready.set_exception(exc)
    else:
        ready.cancel()
