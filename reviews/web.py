"""The web service: the ack page behind the link in an alert, and the next-day activation review.

**Acks.** ``GET /ack/{token}`` shows a phone-sized page with three buttons; ``POST /ack/{token}`` records
the answer once (the review store's ``ack_tokens`` table makes the link single use) and publishes an
``AckMessage`` to the acks topic. If publishing fails the use is released, so the person can tap
again. Tokens are capabilities: the service never logs one (only its token id), sends
``Referrer-Policy: no-referrer`` and forbids caching, and uvicorn's access log (which has the path)
is off.

**Review.** DNS staff and provider leads sign in (``/login``) and go through a day's activations
(``/review/{date}``), each activation's map, timeline, team lines, outcomes and notes
(``/activation/{id}``), a date range's summary (``/summary``), CSV exports and a printable packet. Pages
are rendered on the server, work on a phone and need no script or external asset. Access rules, CSRF
and sessions are in reviews/auth.py; every view and change is written to the store's audit log.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from notifiers.ack_links import AckClaim, AckSigner, AckTokenError
from reviews.auth import (
    SESSION_COOKIE,
    Session,
    SessionCodec,
    SignInThrottle,
    may_record_for,
    may_see,
    new_session,
    safe_next,
    session_key,
)
from reviews.maps import NO_LOCATION, load_neighborhoods, neighborhood_map_svg
from reviews.model import (
    AWAITING,
    CANT_RESPOND,
    IN_TIME,
    KIND_LABEL,
    LATE,
    NO_ANSWER,
    OUTCOMES,
    RESPONSE_LABEL,
    ActivationReview,
    IfCantRespond,
    TeamLine,
    csv_rows,
    csv_text,
    day_bounds,
    if_cant_respond,
    review_of,
    reviews_of,
    summarise,
)
from reviews.store import NOTE_MAX_CHARS, AckUse, NoteRow, OutcomeRow, ReviewStore
from reviews.users import User
from stream.model.events import AckMessage
from stream.model.timeline import ActivationDecided
from stream.ops.kafka import Topics
from stream.ops.metrics import WebMetrics, add_process_metrics

log = structlog.get_logger(__name__)

T = TypeVar("T")

CHOICES: tuple[tuple[str, str], ...] = (("ack", "Acknowledge"), ("on_my_way", "On my way"), ("unable", "Can't respond"))
LABELS = dict(CHOICES)
CONFIRMATIONS = {
    "ack": "Acknowledged — thank you",
    "on_my_way": "On my way — recorded",
    "unable": "Can't respond — noted",  # the page says what follows: see unable_confirmation
}
TEAM_NAMES = {"dns-oncall": "DNS on-call"}  # how the answer page names a team to the person holding the phone
NOBODY_TOLD = "No one else is told automatically for this alert."
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
NOT_VALID = "This link is not valid"
NOT_ALERTED = "This link is not for a team alerted about this activation"
NOT_YET_RECORDED = "Your alert is still being recorded, please try again in a few seconds"
# how long after a link is made the store may not show its alert yet (the review sink's lag; a database outage)
RECORDING_GRACE = timedelta(minutes=5)
RETRY = "Could not record your answer, please try again"
UNAVAILABLE = "Vigil cannot check this link right now, please try again"

REVIEW_UNAVAILABLE = "The review store is not answering right now, please try again in a minute"
BAD_DATE = "Dates are written YYYY-MM-DD, for example 2026-07-04"
NOT_YOURS = "This activation is not one your team was alerted about"
NOT_YOUR_TEAM = "A team lead records outcomes for their own team only"
NO_SUCH_ACTIVATION = "There is no activation with this id"
FORM_EXPIRED = "This form has expired or did not come from Vigil: go back, reload the page and try again"
NOT_A_USER = "You are signed in to the city's network, but not as a Vigil review user: ask DNS to add you"
WRONG_PASSWORD = "Wrong username or password"
FLAG_LABELS = {"coverage_gap": "coverage gap", "retaliation_watch": "retaliation watch", "missed_ack": "missed ack",
               "cant_respond": "can't respond", "delivery_failure": "delivery failure"}
# how a team line reads its ack state beside the answer; awaiting is the answer itself (see line_view)
ACK_TIMING = {IN_TIME: "in time", LATE: "not in time", NO_ANSWER: "not in time", CANT_RESPOND: "", AWAITING: ""}
MAX_RANGE_DAYS = 366
SUMMARY_DAYS = 7
REASON_MAX_CHARS = 1000
MAP_WIDTH = 480
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
)
_templates.filters["urlpart"] = lambda value: quote(str(value), safe="")


class _Refusal(Exception):
    """A request answered with a plain message and a status code instead of the page; ``answer`` is the
    result an ack answer refused this way is counted under (vigil_ack_answers_total)."""

    def __init__(self, status: int, heading: str, message: str, answer: str | None = None):
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message
        self.answer = answer


class _Redirect(Exception):
    """A request answered with a redirect (to the sign-in page, mostly)."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(**context), status_code=status)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a review request, and their session (for its CSRF token)."""

    user: User
    session: Session


def parse_day(text: str | None) -> date:
    """A YYYY-MM-DD date from a path or query; a 400 page naming the format otherwise."""
    if text is None or not _DATE.fullmatch(text):
        raise _Refusal(400, "Bad date", BAD_DATE)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _Refusal(400, "Bad date", BAD_DATE) from None
    # pages link the day before and after, and a range reaches back from its end: keep well inside date's bounds
    if not 1900 <= day.year <= 2999:
        raise _Refusal(400, "Bad date", f"{BAD_DATE}, in the years 1900 to 2999")
    return day


def parse_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """A ``from``/``to`` pair (the last 7 days to today by default), at most 366 days; a 400 page otherwise."""
    last = parse_day(end) if end else today
    first = parse_day(start) if start else last - timedelta(days=SUMMARY_DAYS - 1)
    if last < first:
        raise _Refusal(400, "Bad range", f"'from' ({first}) must be on or before 'to' ({last})")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise _Refusal(400, "Bad range", f"A range is at most {MAX_RANGE_DAYS} days; this one has {(last - first).days + 1}")
    return first, last


def _named(teams: Sequence[str]) -> str:
    return " and ".join(TEAM_NAMES.get(team, team) for team in teams)


def _already_told(follows: IfCantRespond, hhmm: Callable[[datetime], str]) -> str | None:
    if not follows.told or follows.told_at is None:
        return None
    return f"{_named(follows.told)} {'was' if len(follows.told) == 1 else 'were'} already told at {hhmm(follows.told_at)}."


def unable_confirmation(follows: IfCantRespond, hhmm: Callable[[datetime], str]) -> str:
    """What the answer page confirms for "can't respond": "DNS on-call will be told" only when an
    escalation follows; otherwise who was already told, or that nobody else is."""
    if follows.will_tell:
        return f"Can't respond — {_named(follows.will_tell)} will be told"
    return f"Noted: you can't respond. {_already_told(follows, hhmm) or NOBODY_TOLD}"


def unable_hint(follows: IfCantRespond, hhmm: Callable[[datetime], str]) -> str:
    """The line under the answer buttons: what tapping "can't respond" brings about."""
    if follows.will_tell:
        return f"Can't respond tells {_named(follows.will_tell)} at once."
    return f"Can't respond is noted; {_already_told(follows, hhmm) or 'no one else is told automatically for this alert.'}"


def team_line_view(line: TeamLine, local: Callable[..., str]) -> dict[str, str]:
    """One team's line on an activation page: notified (and why, for an escalation), delivered, answered
    with how it stands against the deadline, and its escalation. ``local(moment, pattern)`` formats a time."""
    notified = f"{local(line.notified_at)} ({line.step}, {line.protocol})"
    if line.escalated_from:
        why = "answered can't respond" if line.escalated_because == "cant_respond" else "did not ack"
        notified += f", because {line.escalated_from} {why}"
    if line.ack_deadline is not None:
        notified += f"; ack by {local(line.ack_deadline)}"
    if line.delivery is None:
        delivery = "no delivery outcome"
    else:
        when = f" at {local(line.delivered_at)}" if line.delivered_at else ""
        delivery = f"{line.delivery}{when}, {line.reached} of {line.recipients} phones"
    if line.escalated_at is not None:
        escalation = f"escalated at {local(line.escalated_at)}" + (" (it answered can't respond)" if line.cant_respond else "")
    elif line.escalation_cancelled:
        escalation = "escalation cancelled"
    else:
        escalation = ""
    return {"team": line.team, "notified": notified, "delivery": delivery, "answer": _answer_text(line, local),
            "timing": ACK_TIMING.get(line.ack_state or "", ""), "escalation": escalation}


def _answer_text(line: TeamLine, local: Callable[..., str]) -> str:
    """The team's answers in the order given (an ack may follow a "can't respond"), or why there is none."""
    answers = []
    if line.answered_at is not None:
        label = RESPONSE_LABEL.get(line.response or "", line.response or "")
        answers.append((line.answered_at, f"{label} at {local(line.answered_at)} (+{line.minutes_to_ack or 0:.1f} min)"))
    if line.declined_at is not None:
        answers.append((line.declined_at, f"{RESPONSE_LABEL['unable']} at {local(line.declined_at)}"))
    if answers:
        return "; then ".join(text for _, text in sorted(answers))
    if line.ack_state == AWAITING and line.ack_deadline is not None:
        return f"awaiting (deadline {local(line.ack_deadline, '%H:%M')})"
    return "no answer"


def _teams_of(review: ActivationReview) -> list[str]:
    return list(dict.fromkeys(line.team for line in review.teams))


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


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
    and status, and the answers given through ack links.
    """
    app = FastAPI(title="Vigil", docs_url=None, redoc_url=None, openapi_url=None)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = WebMetrics(registry)

    def hhmm(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%H:%M}"

    async def in_store(call: Callable[..., T], *args: Any) -> T:
        try:
            return await run_in_threadpool(call, *args)
        except Exception as exc:  # noqa: BLE001 - any store failure is "try again" to the person holding the phone
            log.warning("ack_web.store_failed", call=call.__name__, error=type(exc).__name__)
            raise _Refusal(503, "Try again", UNAVAILABLE, answer="failed") from exc

    async def checked(token: str) -> AckClaim:
        try:
            claim = signer.verify(token, clock())
        except AckTokenError as exc:
            log.info("ack_web.refused", reason=exc.reason, token_id=exc.token_id)
            result = "expired" if exc.reason == "expired" else "forged"  # malformed counts as forged
            if exc.reason == "expired" and exc.expires_at is not None:
                raise _Refusal(410, "Link expired", f"This link expired at {hhmm(exc.expires_at)}", answer=result) from None
            raise _Refusal(403, "Link not valid", NOT_VALID, answer=result) from None
        if not await in_store(store.team_alerted, claim.activation_id, claim.team):
            # The review store fills from the timeline after the alert has gone out (and lags while the
            # database is down): a link made moments ago gets "try again", not a refusal it did not earn.
            if clock() - (claim.expires_at - signer.ttl) < RECORDING_GRACE:
                log.info("ack_web.not_yet_recorded", token_id=claim.token_id)
                raise _Refusal(503, "Try again", NOT_YET_RECORDED, answer="failed")
            log.info("ack_web.refused", reason="team_not_alerted", token_id=claim.token_id)
            raise _Refusal(403, "Link not valid", NOT_ALERTED, answer="other_team")
        return claim

    async def what_follows(claim: AckClaim) -> IfCantRespond:
        # read before anything is recorded: a store that fails here is "try again", never a lost answer
        return if_cant_respond(await in_store(store.records, claim.activation_id), claim.team)

    def used(claim: AckClaim, use: AckUse) -> _Refusal:
        log.info("ack_web.refused", reason="already_used", token_id=claim.token_id)
        label = LABELS.get(use.response, use.response)
        return _Refusal(409, "Already answered", f"This link was already used at {hhmm(use.used_at)} ({label})", answer="used")

    @app.exception_handler(_Refusal)
    async def refused(request: Request, exc: _Refusal) -> HTMLResponse:
        return _page("message.html", exc.status, heading=exc.heading, message=exc.message, tone="refused")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    @app.get("/metrics")
    async def metrics_page() -> Response:
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.get("/ack/{token}", response_class=HTMLResponse)
    async def ack_page(token: str) -> HTMLResponse:
        claim = await checked(token)
        earlier = await in_store(store.ack_token_use, claim.token_id)
        if earlier is not None:
            raise used(claim, earlier)
        expires = claim.expires_at.astimezone(zone)
        return _page(
            "ack.html",
            team=claim.team,
            activation=claim.activation_id[:12],
            expires=f"{expires:%H:%M %Z, %a %d %b}",
            choices=CHOICES,
            unable_hint=unable_hint(await what_follows(claim), hhmm),
        )

    async def posted_response(request: Request) -> str:
        # a label: one of the three answers, never what a client made up
        try:
            value = (await request.form()).get("response")
        except Exception:  # noqa: BLE001 - an unreadable form is just not an answer
            return "invalid"
        return value if isinstance(value, str) and value in CONFIRMATIONS else "invalid"

    @app.post("/ack/{token}", response_class=HTMLResponse)
    async def ack_answer(token: str, request: Request) -> HTMLResponse:
        try:
            page = await record_answer(token, request)
        except _Refusal as refusal:
            if refusal.answer is not None:
                metrics.answer(await posted_response(request), refusal.answer)
            raise
        metrics.answer(await posted_response(request), "ok")
        return page

    async def record_answer(token: str, request: Request) -> HTMLResponse:
        claim = await checked(token)
        response = (await request.form()).get("response")
        if response not in CONFIRMATIONS:
            allowed = ", ".join(CONFIRMATIONS)
            raise _Refusal(400, "Unknown answer", f"Unknown answer: response must be one of {allowed}")
        confirmation = unable_confirmation(await what_follows(claim), hhmm) if response == "unable" else CONFIRMATIONS[response]
        earlier = await in_store(store.claim_ack_token, claim, response, clock())
        if earlier is not None:
            raise used(claim, earlier)
        message = AckMessage(ref=claim.ref, team=claim.team, response=response, recipient=claim.recipient, token_id=claim.token_id)
        try:
            await publish_ack(message)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the answer is not on the topic: let them retry
            log.warning("ack_web.publish_failed", token_id=claim.token_id, error=type(exc).__name__)
            await in_store(store.release_ack_token, claim.token_id)
            raise _Refusal(503, "Not recorded", RETRY, answer="failed") from exc
        except BaseException:
            # Cancelled mid-publish: the answer may not be out; a second ack is harmless, a lost one is not.
            await asyncio.shield(run_in_threadpool(store.release_ack_token, claim.token_id))
            raise
        log.info("ack_web.answered", token_id=claim.token_id, activation_id=claim.activation_id, team=claim.team, response=response)
        return _page("message.html", heading="Thank you", message=confirmation, tone="ok")

    codec = SessionCodec(session_key(session_secret) if session_secret is not None else secrets.token_bytes(32))
    _add_review(app, store, clock, review_clock or clock, zone, codec, trusted_user_header, neighborhoods)

    # added last, so outermost: it sees the status every other layer settled on
    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        try:
            response = await call_next(request)
        except Exception:
            metrics.request(_route_of(request), 500)
            raise
        metrics.request(_route_of(request), response.status_code)
        return response

    return app


def _route_of(request: Request) -> str:
    """The matched route's template (``/ack/{token}``), never the path itself: a path may hold an ack
    token, and every distinct path would be a new series."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


_UNCHANGED = object()


def _add_review(
    app: FastAPI,
    store: ReviewStore,
    clock: Callable[[], datetime],
    review_clock: Callable[[], datetime],
    zone: tzinfo,
    codec: SessionCodec,
    trusted_user_header: str | None,
    neighborhoods: Mapping[str, Any] | None,
) -> None:
    """The review's routes, its session handling and its audit trail, on ``app``."""

    def local(moment: datetime, pattern: str = "%H:%M:%S") -> str:
        return moment.astimezone(zone).strftime(pattern)

    def today() -> date:
        return review_clock().astimezone(zone).date()

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def app_path(request: Request) -> str:
        path, prefix = request.url.path, root(request)
        return path[len(prefix):] if prefix and path.startswith(prefix) else path

    def city() -> Mapping[str, Any]:
        return neighborhoods if neighborhoods is not None else load_neighborhoods()

    async def db(call: Callable[..., T], *args: Any, passthrough: tuple[type[Exception], ...] = ()) -> T:
        try:
            return await run_in_threadpool(call, *args)
        except passthrough:
            raise
        except Exception as exc:  # noqa: BLE001 - to the reviewer any store failure is "try again"; the log has the type
            log.warning("review_web.store_failed", call=getattr(call, "__name__", "?"), error=type(exc).__name__)
            raise _Refusal(503, "Try again", REVIEW_UNAVAILABLE) from exc

    async def audit(username: str | None, action: str, target: str | None, detail: str | None = None) -> None:
        # the store bounds these columns; an over-long typed username or path must not turn a refusal into a 503
        await db(store.audit, _clip(username, 100), action, _clip(target, 200), clock(), detail)

    @app.exception_handler(_Redirect)
    async def redirected(request: Request, exc: _Redirect) -> RedirectResponse:
        return RedirectResponse(exc.location, status_code=303)

    @app.middleware("http")
    async def sessions(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.session = codec.decode(request.cookies.get(SESSION_COOKIE), clock())
        request.state.new_session = _UNCHANGED
        response = await call_next(request)
        change = request.state.new_session
        cookie = {"path": f"{root(request)}/", "httponly": True, "samesite": "lax", "secure": request.url.scheme == "https"}
        if change is None:
            response.delete_cookie(SESSION_COOKIE, **cookie)
        elif change is not _UNCHANGED:
            response.set_cookie(SESSION_COOKIE, codec.encode(change), max_age=int(codec.lifetime.total_seconds()), **cookie)
        return response

    def login_url(request: Request) -> str:
        if request.method != "GET":
            return f"{root(request)}/login"  # a form posted after the session ended: no page to come back to
        target = app_path(request) + (f"?{request.url.query}" if request.url.query else "")
        return f"{root(request)}/login?next={quote(target, safe='')}"

    async def viewer(request: Request) -> Viewer:
        """The signed-in user, or a redirect to the sign-in page (a 403 for an unknown single sign-on user)."""
        session: Session | None = request.state.session
        claimed = request.headers.get(trusted_user_header) if trusted_user_header else None
        if claimed is not None:
            name = claimed.strip()
            user = await db(store.user, name) if 0 < len(name) <= 100 else None
            if user is None or user.disabled:
                await audit(name or None, "sign_in_failed", app_path(request), "single sign-on header: unknown or disabled user")
                raise _Refusal(403, "Not a review user", NOT_A_USER)
            if session is not None and session.via == "sso" and session.username == user.username:
                return Viewer(user, session)
            fresh = new_session(user.username, "sso", clock())
            request.state.new_session = fresh
            await audit(user.username, "sign_in", app_path(request), "single sign-on")
            return Viewer(user, fresh)
        # a single sign-on session is only as good as the proxy's word on this very request
        if session is not None and session.username and session.via == "password":
            user = await db(store.user, session.username)
            if user is not None and not user.disabled:
                return Viewer(user, session)
            request.state.new_session = None
        raise _Redirect(login_url(request))

    async def checked_form(request: Request, who: Viewer) -> Any:
        form = await request.form()
        if not who.session.csrf_ok(form.get("csrf")):
            await audit(who.user.username, "refused", app_path(request), "csrf token missing or wrong")
            raise _Refusal(403, "Form expired", FORM_EXPIRED)
        return form

    def render(request: Request, who: Viewer, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return _page(
            template, status, root=root(request), me=who.user, csrf=who.session.csrf, today=today().isoformat(),
            flag_labels=FLAG_LABELS, outcome_labels=OUTCOMES, outcome_choices=tuple(OUTCOMES.items()), no_location=NO_LOCATION,
            **context,
        )

    def load_range(user: User, first: date, last: date) -> list[ActivationReview]:
        ids = store.activations_opened(day_bounds(first, zone)[0], day_bounds(last, zone)[1])
        return [r for r in reviews_of(store.records_for(ids), zone, now=review_clock()) if may_see(user, r)]

    async def load_activation(who: Viewer, activation_id: str) -> ActivationReview:
        records = await db(store.records, activation_id) if len(activation_id) <= 100 else []
        if not any(isinstance(r, ActivationDecided) for r in records):
            raise _Refusal(404, "Not found", NO_SUCH_ACTIVATION)
        review = review_of(records, zone, now=review_clock())
        if not may_see(who.user, review):
            await audit(who.user.username, "refused", activation_id, f"activation not visible to role {who.user.role} team {who.user.team}")
            raise _Refusal(403, "Not your team's activation", NOT_YOURS)
        return review

    def activation_view(review: ActivationReview, user: User, current: Mapping[tuple[str, str], OutcomeRow],
                        notes: Sequence[NoteRow] = (), *, map_width: int = MAP_WIDTH,
                        errors: Mapping[str, str] | None = None, drafts: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
        errors, drafts = errors or {}, drafts or {}
        svg = None
        if review.cell is not None:
            try:
                svg = neighborhood_map_svg(city(), review.cell, review.neighborhood, map_width)
            except ValueError:
                log.warning("review_web.map_failed", activation_id=review.id)
        outcomes = []
        for team in _teams_of(review):
            row = current.get((review.id, team))
            chosen, reason = drafts.get(team, (row.outcome, row.reason or "") if row else ("", ""))
            outcomes.append({"team": team, "current": row, "recorded_at": local(row.recorded_at, "%a %d %b %H:%M") if row else "",
                             "can_record": may_record_for(user, team), "error": errors.get(team), "chosen": chosen, "reason": reason})
        return {
            "review": review,
            "kind": KIND_LABEL[review.kind],
            "opened": local(review.opened_at, "%a %d %b %Y, %H:%M:%S %Z"),
            "time": local(review.opened_at, "%H:%M"),
            "day": local(review.opened_at, "%Y-%m-%d"),
            "teams": _teams_of(review),
            "steps": [{"time": local(step.at), "what": step.what, "text": step.text,
                       "plus": "" if step.minutes_since_previous is None else f"+{step.minutes_since_previous:.1f}"} for step in review.steps],
            "lines": [team_line_view(line, local) for line in review.teams],
            "outcomes": outcomes,
            "notes": [{"author": n.author, "text": n.text, "at": local(n.at, "%a %d %b %H:%M")} for n in notes],
            "map": svg,
        }

    async def activation_response(request: Request, who: Viewer, review: ActivationReview, status: int = 200, *,
                                  errors: Mapping[str, str] | None = None, drafts: Mapping[str, tuple[str, str]] | None = None,
                                  note_error: str | None = None, note_draft: str = "") -> HTMLResponse:
        current = await db(store.outcomes, [review.id])
        notes = await db(store.notes, review.id)
        # drawing the map is CPU work: off the event loop
        view = await run_in_threadpool(lambda: activation_view(review, who.user, current, notes, errors=errors, drafts=drafts))
        return render(request, who, "activation.html", status, a=view, note_max=NOTE_MAX_CHARS, note_error=note_error, note_draft=note_draft)

    def back_to(request: Request, review: ActivationReview, anchor: str = "") -> RedirectResponse:
        return RedirectResponse(f"{root(request)}/activation/{quote(review.id, safe='')}{anchor}", status_code=303)

    # --- sign-in

    def login_page(request: Request, session: Session, target: str, status: int = 200, error: str | None = None,
                   username: str = "") -> HTMLResponse:
        return _page("login.html", status, root=root(request), csrf=session.csrf, next=target, error=error, username=username)

    throttle = SignInThrottle(store)

    def client_address(request: Request) -> str:
        # uvicorn puts the real client here when the proxy in front is trusted (FORWARDED_ALLOW_IPS)
        return request.client.host if request.client else "unknown"

    def anonymous(request: Request) -> Session:
        # the sign-in form's CSRF token lives in a session of nobody, replaced by a new one at sign-in
        session: Session | None = request.state.session
        if session is None or session.username is not None:
            session = new_session(None, "anonymous", clock())
            request.state.new_session = session
        return session

    @app.get("/", response_class=RedirectResponse)
    async def home(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{root(request)}/review/{today().isoformat()}", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        try:
            await viewer(request)
            return RedirectResponse(f"{root(request)}{target}", status_code=303)
        except _Redirect:
            pass
        return login_page(request, anonymous(request), target)

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        target = safe_next(str(form.get("next") or ""))
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        session: Session | None = request.state.session
        if session is None or session.username is not None or not session.csrf_ok(form.get("csrf")):
            await audit(username or None, "refused", "/login", "sign-in form without a valid csrf token")
            # no new cookie here: a cross-site post must not be able to replace (sign out) someone's session
            raise _Refusal(403, "Form expired", FORM_EXPIRED)
        typed, client, now = _clip(username, 100) or None, client_address(request), clock()
        # checked before the password, for any typed name alike: a lockout must not tell whether a username exists
        lockout = await db(throttle.current, typed, client, now)
        if lockout is not None:
            await db(throttle.refused, typed, client, lockout, now)
            page = login_page(request, session, target, 429, lockout.message(now), username[:100])
            page.headers["Retry-After"] = str(lockout.retry_after(now))
            return page
        # bounded before scrypt: a megabyte "password" must not buy a megabyte of hashing
        user = await db(store.check_password, username, password) if 0 < len(username) <= 100 and len(password) <= 1024 else None
        if user is None:
            if await db(throttle.failed, typed, client, now) is not None:
                log.warning("review_web.sign_in_locked", client=client)
            return login_page(request, session, target, 401, WRONG_PASSWORD, username[:100])
        request.state.new_session = new_session(user.username, "password", clock())
        await audit(user.username, "sign_in", "/login")
        log.info("review_web.signed_in", username=user.username, role=user.role)
        return RedirectResponse(f"{root(request)}{target}", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> RedirectResponse:
        who = await viewer(request)
        await checked_form(request, who)
        await audit(who.user.username, "sign_out", "/logout")
        request.state.new_session = None
        return RedirectResponse(f"{root(request)}/login", status_code=303)

    # --- pages

    @app.get("/review/{day}", response_class=HTMLResponse)
    async def day_page(day: str, request: Request) -> HTMLResponse:
        who = await viewer(request)
        when = parse_day(day)
        reviews = await db(load_range, who.user, when, when)
        current = await db(store.outcomes, [r.id for r in reviews])
        rows = [activation_view_light(r, current) for r in reviews]
        await audit(who.user.username, "view_day", when.isoformat())
        return render(request, who, "day.html", day=when.isoformat(), day_label=f"{when:%A %d %B %Y}",
                      previous_day=(when - timedelta(days=1)).isoformat(), next_day=(when + timedelta(days=1)).isoformat(),
                      activations=rows)

    def activation_view_light(review: ActivationReview, current: Mapping[tuple[str, str], OutcomeRow]) -> dict[str, Any]:
        return {"review": review, "time": local(review.opened_at, "%H:%M"), "kind": KIND_LABEL[review.kind], "teams": _teams_of(review),
                "outcomes": [{"team": t, "current": current.get((review.id, t))} for t in _teams_of(review)]}

    @app.get("/review/{day}/packet", response_class=HTMLResponse)
    async def packet(day: str, request: Request) -> HTMLResponse:
        who = await viewer(request)
        when = parse_day(day)
        reviews = await db(load_range, who.user, when, when)
        current = await db(store.outcomes, [r.id for r in reviews])
        notes = {r.id: await db(store.notes, r.id) for r in reviews}
        views = await run_in_threadpool(
            lambda: [activation_view(r, who.user, current, notes[r.id], map_width=420) for r in reviews])
        await audit(who.user.username, "view_packet", when.isoformat())
        return render(request, who, "packet.html", day=when.isoformat(), day_label=f"{when:%A %d %B %Y}", activations=views,
                      printed=local(clock(), "%a %d %b %Y %H:%M %Z"))

    @app.get("/activation/{activation_id}", response_class=HTMLResponse)
    async def activation_page(activation_id: str, request: Request) -> HTMLResponse:
        who = await viewer(request)
        review = await load_activation(who, activation_id)
        await audit(who.user.username, "view_activation", review.id)
        return await activation_response(request, who, review)

    @app.post("/activation/{activation_id}/outcome", response_class=HTMLResponse)
    async def record_outcome(activation_id: str, request: Request) -> Response:
        who = await viewer(request)
        form = await checked_form(request, who)
        review = await load_activation(who, activation_id)
        team = str(form.get("team") or "")
        outcome = str(form.get("outcome") or "")
        reason = str(form.get("reason") or "").strip()
        if team not in _teams_of(review):
            raise _Refusal(400, "Unknown team", "That team was not alerted about this activation")
        if not may_record_for(who.user, team):
            await audit(who.user.username, "refused", review.id, f"outcome for another team: {team}")
            raise _Refusal(403, "Not your team", NOT_YOUR_TEAM)
        error = None
        if outcome not in OUTCOMES:
            error = "Choose an outcome"
        elif outcome == "unable" and not reason:
            error = "Say why the team was unable: a reason is required for unable"
        elif len(reason) > REASON_MAX_CHARS:
            error = f"The reason is at most {REASON_MAX_CHARS} characters"
        else:
            try:
                await db(store.record_outcome, review.id, team, outcome, reason or None, who.user.username, clock(),
                         passthrough=(ValueError,))
            except ValueError as exc:
                error = str(exc)
        if error is not None:
            return await activation_response(request, who, review, 400, errors={team: error}, drafts={team: (outcome, reason)})
        await audit(who.user.username, "record_outcome", review.id, f"team={team} outcome={outcome}")
        return back_to(request, review, f"#team-{quote(team, safe='')}")

    @app.post("/activation/{activation_id}/note", response_class=HTMLResponse)
    async def add_note(activation_id: str, request: Request) -> Response:
        who = await viewer(request)
        form = await checked_form(request, who)
        review = await load_activation(who, activation_id)
        text = str(form.get("text") or "").strip()
        error = None
        if not text:
            error = "A note cannot be empty"
        elif len(text) > NOTE_MAX_CHARS:
            error = f"A note is at most {NOTE_MAX_CHARS} characters, this one has {len(text)}"
        else:
            try:
                await db(store.add_note, review.id, who.user.username, text, clock(), passthrough=(ValueError,))
            except ValueError as exc:
                error = str(exc)
        if error is not None:
            return await activation_response(request, who, review, 400, note_error=error, note_draft=text)
        # the text stays out of the audit log: a note can say more about people than the log should
        await audit(who.user.username, "add_note", review.id, f"{len(text)} characters")
        return back_to(request, review, "#notes")

    @app.get("/summary", response_class=HTMLResponse)
    async def summary(request: Request) -> HTMLResponse:
        who = await viewer(request)
        first, last = parse_range(request.query_params.get("from"), request.query_params.get("to"), today())
        reviews = await db(load_range, who.user, first, last)
        current = await db(store.outcomes, [r.id for r in reviews])
        pairs = {(r.id, team) for r in reviews for team in _teams_of(r)}
        recorded = [row.outcome for key, row in current.items() if key in pairs]
        result = summarise(reviews, zone, recorded)

        def seconds(value: float | None) -> str:
            return "—" if value is None else f"{value:.1f} s"

        await audit(who.user.username, "view_summary", f"{first}..{last}")
        return render(request, who, "summary.html", s=result, start=first.isoformat(), end=last.isoformat(), seconds=seconds,
                      missing_outcomes=len(pairs) - len(recorded))

    async def export(request: Request, who: Viewer, first: date, last: date, name: str, target: str) -> Response:
        reviews = await db(load_range, who.user, first, last)
        current = await db(store.outcomes, [r.id for r in reviews])
        rows = csv_rows(reviews, zone, {key: (row.outcome, row.reason) for key, row in current.items()})
        await audit(who.user.username, "export_csv", target, f"{len(rows)} rows")
        return Response(csv_text(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/export/{day}.csv")
    async def export_day(day: str, request: Request) -> Response:
        who = await viewer(request)
        when = parse_day(day)
        return await export(request, who, when, when, f"vigil-review-{when}.csv", when.isoformat())

    @app.get("/export.csv")
    async def export_range(request: Request) -> Response:
        who = await viewer(request)
        first, last = parse_range(request.query_params.get("from"), request.query_params.get("to"), today())
        return await export(request, who, first, last, f"vigil-review-{first}_to_{last}.csv", f"{first}..{last}")


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
) -> None:
    """Serve the ack and review web app until cancelled or signalled, publishing acks to ``topics.acks``.

    Creates the review store's schema first. ``port`` 0 picks a free port; once serving, prints
    ``web listening on http://host:port`` and sets ``ready`` (if given) to that URL. Review session
    cookies are signed with a key derived from ``secret``, so they survive a restart and work across
    workers. ``trusted_user_header``: see ``create_web_app`` (only behind the proxy that sets it).
    ``review_clock``: the workers' clock when it is not the real one (see ``create_web_app``).
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
                             session_secret=secret, registry=registry, review_clock=review_clock)
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
