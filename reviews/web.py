"""The ack web service: the page behind the link in an alert, and the answer it publishes.

``GET /ack/{token}`` shows a phone-sized page with three buttons; ``POST /ack/{token}`` records the
answer once (the review store's ``ack_tokens`` table makes the link single use) and publishes an
``AckMessage`` to the acks topic. If publishing fails the use is released, so the person can tap
again. Tokens are capabilities: the service never logs one (only its token id), sends
``Referrer-Policy: no-referrer`` and forbids caching, and uvicorn's access log (which has the path)
is off.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool

from notifiers.ack_links import AckClaim, AckSigner, AckTokenError
from reviews.store import AckUse, ReviewStore
from stream.events import AckMessage
from stream.kafka import Topics

log = structlog.get_logger(__name__)

T = TypeVar("T")

CHOICES: tuple[tuple[str, str], ...] = (("ack", "Acknowledge"), ("on_my_way", "On my way"), ("unable", "Can't respond"))
LABELS = dict(CHOICES)
CONFIRMATIONS = {
    "ack": "Acknowledged — thank you",
    "on_my_way": "On my way — recorded",
    "unable": "Can't respond — DNS on-call will be told",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # the token is in the URL: it must not leak to another site through Referer, or sit in a cache
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
NOT_VALID = "This link is not valid"
NOT_ALERTED = "This link is not for a team alerted about this activation"
RETRY = "Could not record your answer, please try again"
UNAVAILABLE = "Vigil cannot check this link right now, please try again"

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
)


class _Refusal(Exception):
    """A request answered with a plain message and a status code instead of the page."""

    def __init__(self, status: int, heading: str, message: str):
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(**context), status_code=status)


def create_web_app(
    signer: AckSigner,
    store: ReviewStore,
    publish_ack: Callable[[AckMessage], Awaitable[None]],
    clock: Callable[[], datetime],
    *,
    zone: tzinfo = UTC,
) -> FastAPI:
    """The ack web app; times on its pages are shown in ``zone`` (the deployment's local time)."""
    app = FastAPI(title="Vigil acks", docs_url=None, redoc_url=None, openapi_url=None)

    def hhmm(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%H:%M}"

    async def in_store(call: Callable[..., T], *args: Any) -> T:
        try:
            return await run_in_threadpool(call, *args)
        except Exception as exc:  # noqa: BLE001 - any store failure is "try again" to the person holding the phone
            log.warning("ack_web.store_failed", call=call.__name__, error=type(exc).__name__)
            raise _Refusal(503, "Try again", UNAVAILABLE) from exc

    async def checked(token: str) -> AckClaim:
        try:
            claim = signer.verify(token, clock())
        except AckTokenError as exc:
            log.info("ack_web.refused", reason=exc.reason, token_id=exc.token_id)
            if exc.reason == "expired" and exc.expires_at is not None:
                raise _Refusal(410, "Link expired", f"This link expired at {hhmm(exc.expires_at)}") from None
            raise _Refusal(403, "Link not valid", NOT_VALID) from None
        if not await in_store(store.team_alerted, claim.activation_id, claim.team):
            log.info("ack_web.refused", reason="team_not_alerted", token_id=claim.token_id)
            raise _Refusal(403, "Link not valid", NOT_ALERTED)
        return claim

    def used(claim: AckClaim, use: AckUse) -> _Refusal:
        log.info("ack_web.refused", reason="already_used", token_id=claim.token_id)
        label = LABELS.get(use.response, use.response)
        return _Refusal(409, "Already answered", f"This link was already used at {hhmm(use.used_at)} ({label})")

    @app.exception_handler(_Refusal)
    async def refused(request: Request, exc: _Refusal) -> HTMLResponse:
        return _page("message.html", exc.status, heading=exc.heading, message=exc.message, tone="refused")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

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
        )

    @app.post("/ack/{token}", response_class=HTMLResponse)
    async def ack_answer(token: str, request: Request) -> HTMLResponse:
        claim = await checked(token)
        response = (await request.form()).get("response")
        if response not in CONFIRMATIONS:
            allowed = ", ".join(CONFIRMATIONS)
            raise _Refusal(400, "Unknown answer", f"Unknown answer: response must be one of {allowed}")
        earlier = await in_store(store.claim_ack_token, claim, response, clock())
        if earlier is not None:
            raise used(claim, earlier)
        message = AckMessage(ref=claim.ref, team=claim.team, response=response, recipient=claim.recipient, token_id=claim.token_id)
        try:
            await publish_ack(message)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the answer is not on the topic: let them retry
            log.warning("ack_web.publish_failed", token_id=claim.token_id, error=type(exc).__name__)
            await in_store(store.release_ack_token, claim.token_id)
            raise _Refusal(503, "Not recorded", RETRY) from exc
        except BaseException:
            # Cancelled mid-publish: the answer may not be out; a second ack is harmless, a lost one is not.
            await asyncio.shield(run_in_threadpool(store.release_ack_token, claim.token_id))
            raise
        log.info("ack_web.answered", token_id=claim.token_id, activation_id=claim.activation_id, team=claim.team, response=response)
        return _page("message.html", heading="Thank you", message=CONFIRMATIONS[response], tone="ok")

    return app


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
) -> None:
    """Serve the ack web app until cancelled or signalled, publishing acks to ``topics.acks``.

    Creates the review store's schema first. ``port`` 0 picks a free port; once serving, prints
    ``web listening on http://host:port`` and sets ``ready`` (if given) to that URL.
    """
    try:
        signer = AckSigner(secret, base_url)
        store = ReviewStore(db_url)
        await asyncio.to_thread(store.create_schema)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=int(publish_timeout_s * 1000))
        await producer.start()
    except BaseException as exc:
        _not_ready(ready, exc)
        raise
    try:
        async def publish(message: AckMessage) -> None:
            # Keyed by ref, like every other ack: one activation's acks stay in order on one partition.
            sent = producer.send_and_wait(topics.acks, message.model_dump_json().encode(), key=message.ref.encode())
            await asyncio.wait_for(sent, publish_timeout_s * 2)  # a hard bound in case the client's own timeouts stack up

        app = create_web_app(signer, store, publish, lambda: datetime.now(UTC), zone=zone)
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
