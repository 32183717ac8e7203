"""What the web app's routers share: the app's collaborators (``WebContext``, on ``app.state.web``), the
signed-in user as a dependency (``SignedIn``), the CSRF-checked form (``CheckedForm``), calls to the
review store, and the audit log.

A route declares what it needs in its signature; FastAPI resolves it per request, the signed-in user
once however many dependencies ask for it::

    @router.post("/activation/{activation_id}/note")
    async def add_note(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web): ...
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import structlog
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from notifiers.ack_links import AckSigner
from reviews.auth import Session, SessionCodec, SignInThrottle, new_session
from reviews.maps import load_neighborhoods
from reviews.standdowns import StanddownRules
from reviews.store import ReviewStore
from reviews.users import User
from reviews.web.edge import ClientAddress, SingleSignOn, TrustedProxies, UntrustedClaim, client_address
from reviews.web.pages import Redirect, Refusal
from stream.core.standdowns import Standdown
from stream.model.events import AckMessage, BoardAction, TaskClose
from stream.ops.metrics import WebMetrics

log = structlog.get_logger(__name__)

T = TypeVar("T")

REVIEW_UNAVAILABLE = "The review store is not answering right now, please try again in a minute"
FORM_EXPIRED = "This form has expired or did not come from Vigil: go back, reload the page and try again"
NOT_A_USER = "You are signed in to the city's network, but not as a Vigil review user: ask DNS to add you"
NOT_FROM_THE_PROXY = "This request carries sign-in details that did not come from the city's single sign-on: it is refused"
DEFAULT_SUPPORT_CONTACT = "the DNS on-call"


@dataclass(frozen=True)
class BoardTiming:
    """How the live board's event stream (``/board/events``) runs: the store is polled every ``poll_s``, a
    heartbeat goes out when nothing else did for ``heartbeat_s``, and one stream ends after ``stream_s`` (the
    browser reconnects by itself, from where it was): a stream left behind by a gone client ends too."""

    poll_s: float = 0.5
    heartbeat_s: float = 5.0
    stream_s: float = 300.0


@dataclass(frozen=True)
class WebContext:
    """What every route works with, made once by ``create_web_app`` and kept on ``app.state.web``.

    ``clock`` is the real clock (links, sessions, the audit log); ``review_clock`` the clock of the
    activations' own times (deadlines are judged at its "now", and "today" is its day). ``zone`` is the
    deployment's, for every time a page shows. ``proxies`` are the proxies whose ``X-Forwarded-For`` is
    believed; ``single_sign_on`` the trusted user header and how its proxy is recognised (reviews/web/edge.py).
    """

    signer: AckSigner
    store: ReviewStore
    publish_ack: Callable[[AckMessage | BoardAction | TaskClose], Awaitable[None]]  # onto the acks topic: answers, board actions, task closings
    clock: Callable[[], datetime]
    review_clock: Callable[[], datetime]
    zone: tzinfo
    sessions: SessionCodec
    throttle: SignInThrottle
    metrics: WebMetrics
    registry: CollectorRegistry
    neighborhoods: Mapping[str, Any] | None = None
    proxies: TrustedProxies = TrustedProxies()
    single_sign_on: SingleSignOn | None = None
    support_contact: str = DEFAULT_SUPPORT_CONTACT  # whom the sign-in lockout page tells a locked-out user to contact
    # each team's location precision (block, neighborhood, none) for the answer page; a team not in it gets none
    team_precision: Mapping[str, str] | None = None
    # neighborhood → its map point on neighborhood-precision answer pages (reviews.web.incident.neighborhood_centres)
    neighborhood_centres: Mapping[str, tuple[str, str]] | None = None
    # sends a stored standdown to the workers (the standdowns topic, keyed by its id); None: not connected to them
    publish_standdown: Callable[[Standdown], Awaitable[None]] | None = None
    # what a standdown is checked against (teams, neighborhoods, the on-call team); the bundled deployment's when None
    standdown_rules: StanddownRules | None = None
    board: BoardTiming = BoardTiming()  # the live board's event stream (reviews/web/board.py)

    @property
    def trusted_user_header(self) -> str | None:
        """The single sign-on proxy's user header, None without single sign-on."""
        return self.single_sign_on.header if self.single_sign_on is not None else None

    def local(self, moment: datetime, pattern: str = "%H:%M:%S") -> str:
        """``moment`` in the deployment's local time, formatted with ``pattern``."""
        return moment.astimezone(self.zone).strftime(pattern)

    def hhmm(self, moment: datetime) -> str:
        """``moment`` as the answer pages show it: local hours and minutes."""
        return f"{moment.astimezone(self.zone):%H:%M}"

    def today(self) -> date:
        """The local day of the review's "now"."""
        return self.review_clock().astimezone(self.zone).date()

    def standdown_checks(self) -> StanddownRules:
        """What a standdown is checked against: ``standdown_rules``, else the bundled deployment's (loaded once)."""
        return self.standdown_rules if self.standdown_rules is not None else _bundled_standdown_rules()

    def city(self) -> Mapping[str, Any]:
        """The neighborhood outlines the maps draw (name to GeoJSON polygon)."""
        return self.neighborhoods if self.neighborhoods is not None else load_neighborhoods()


@functools.cache
def _bundled_standdown_rules() -> StanddownRules:
    from stream.core.deployment import load_deployment

    return StanddownRules.of(load_deployment().coverage)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a review request, and their session (for its CSRF token)."""

    user: User
    session: Session


async def web_context(request: Request) -> WebContext:
    """The app's ``WebContext`` (a dependency)."""
    return request.app.state.web


Web = Annotated[WebContext, Depends(web_context)]


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (None stays None)."""
    return None if text is None else text[:limit]


def root(request: Request) -> str:
    """The path the app is mounted under ("" at the site's root), for links and redirects."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def app_path(request: Request) -> str:
    """The request's path inside the app (without the mount point)."""
    path, prefix = request.url.path, root(request)
    return path[len(prefix):] if prefix and path.startswith(prefix) else path


def client_of(request: Request) -> ClientAddress:
    """Who sent the request: its peer, and the client a trusted proxy forwarded (reviews/web/edge.py)."""
    web: WebContext = request.app.state.web
    return client_address(request, web.proxies)


def login_url(request: Request) -> str:
    """Where a request without a session is sent: the sign-in page, coming back here afterwards."""
    if request.method != "GET":
        return f"{root(request)}/login"  # a form posted after the session ended: no page to come back to
    target = app_path(request) + (f"?{request.url.query}" if request.url.query else "")
    return f"{root(request)}/login?next={quote(target, safe='')}"


async def in_review_store(call: Callable[..., T], *args: Any, passthrough: tuple[type[Exception], ...] = ()) -> T:
    """``call(*args)`` on a worker thread; any failure but ``passthrough`` is a 503 "try again" page."""
    try:
        return await run_in_threadpool(call, *args)
    except passthrough:
        raise
    except Exception as exc:  # noqa: BLE001 - to the reviewer any store failure is "try again"; the log has the type
        log.warning("review_web.store_failed", call=getattr(call, "__name__", "?"), error=type(exc).__name__)
        raise Refusal(503, "Try again", REVIEW_UNAVAILABLE) from exc


async def audit(web: WebContext, username: str | None, action: str, target: str | None, detail: str | None = None) -> None:
    """One entry in the store's audit log, at the real clock's now; a page whose audit fails is not shown."""
    # the store bounds these columns; an over-long typed username or path must not turn a refusal into a 503
    await in_review_store(web.store.audit, clip(username, 100), action, clip(target, 200), web.clock(), detail)


async def current_user(request: Request, web: Web) -> Viewer:
    """The signed-in user (a dependency): by the password session in the cookie when there is one, else by
    the trusted single sign-on header when the app has one and the request carries it. Without either, a
    redirect to the sign-in page; a header naming no enabled user is a 403, one that came twice or not
    through the single sign-on proxy a 400 or 403 (``trusted_claim``)."""
    session: Session | None = request.state.session
    claimed = await trusted_claim(request, web)
    # a password session is the browser's own sign-in: the header never swaps the user under it
    if claimed is not None and (session is None or session.via != "password"):
        return await _signed_on(request, web, claimed, session)
    # a single sign-on session is only as good as the proxy's word on this very request
    if session is not None and session.username and session.via == "password":
        user = await in_review_store(web.store.user, session.username)
        # a session of an older generation was ended by a sign-out, a new password or disabling
        if user is not None and not user.disabled and session.generation == user.session_generation:
            return Viewer(user, session)
        request.state.new_session = None
    raise Redirect(login_url(request))


async def trusted_claim(request: Request, web: WebContext) -> str | None:
    """The username the single sign-on header names, None without single sign-on or without the header; a
    request carrying the header twice (400) or not through the single sign-on proxy (403) is refused and
    audited."""
    if web.single_sign_on is None:
        return None
    try:
        return web.single_sign_on.claim(request)
    except UntrustedClaim as untrusted:
        await audit(web, None, "refused", app_path(request), f"{untrusted.reason}; client {client_of(request)}")
        log.warning("review_web.sso_header_refused", reason=untrusted.reason)
        heading = "Bad request" if untrusted.status == 400 else "Not signed in"
        raise Refusal(untrusted.status, heading, NOT_FROM_THE_PROXY) from None


async def _signed_on(request: Request, web: WebContext, name: str, session: Session | None) -> Viewer:
    """The user the single sign-on proxy names, in the session it started (a new one when it names
    someone else than the browser's session)."""
    user = await in_review_store(web.store.user, name) if 0 < len(name) <= 100 else None
    if user is None or user.disabled:
        await audit(web, name or None, "sign_in_failed", app_path(request),
                    f"single sign-on header: unknown or disabled user; client {client_of(request)}")
        raise Refusal(403, "Not a review user", NOT_A_USER)
    if session is not None and session.via == "sso" and session.username == user.username:
        return Viewer(user, session)
    fresh = new_session(user.username, "sso", web.clock())
    request.state.new_session = fresh
    await audit(web, user.username, "sign_in", app_path(request), f"single sign-on; client {client_of(request)}")
    return Viewer(user, fresh)


SignedIn = Annotated[Viewer, Depends(current_user)]


async def csrf_checked_form(request: Request, who: SignedIn, web: Web) -> FormData:
    """The posted form of a signed-in user (a dependency), refused with 403 (and audited) unless it
    carries this session's CSRF token."""
    form = await request.form()
    if not who.session.csrf_ok(form.get("csrf")):
        await audit(web, who.user.username, "refused", app_path(request), "csrf token missing or wrong")
        raise Refusal(403, "Form expired", FORM_EXPIRED)
    return form


CheckedForm = Annotated[FormData, Depends(csrf_checked_form)]
