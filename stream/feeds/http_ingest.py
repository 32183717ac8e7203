"""HTTP ingest for CAD systems that push EIDO: ``POST /ingest/eido`` with a bearer token.

A document is checked with the same ``ingest_cad`` the worker runs, so a CAD system learns at once
that a document is unusable (400) instead of it vanishing into the dead-letter topic. A usable one
is produced, as the exact bytes received, to the CAD topic; the 202 goes out only after the broker
acknowledged it, so a CAD system that sees 202 may forget the document.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime

import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from stream.feeds.classify import Classification
from stream.feeds.eido import MAX_DOCUMENT_BYTES
from stream.feeds.ingest import ingest_cad
from stream.model.events import DeadLetter
from stream.ops.http import start_site
from stream.ops.kafka import Topics
from stream.ops.metrics import NAMESPACE, FeedMetrics, IngestMetrics, add_process_metrics

log = structlog.get_logger(__name__)

SOURCE = "http"
RETRY_AFTER_S = 5
NO_TOKENS = "no ingest tokens: set VIGIL_INGEST_TOKENS to one or more comma-separated tokens"


def tokens_from_env(value: str | None) -> frozenset[str]:
    """The accepted bearer tokens from a comma-separated ``VIGIL_INGEST_TOKENS``; blanks are ignored.

    Raises ``ValueError`` when there are none: the service must never run open.
    """
    tokens = frozenset(t.strip() for t in (value or "").split(",") if t.strip())
    if not tokens:
        raise ValueError(NO_TOKENS)
    return tokens


def _error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class EidoIngestServer:
    """An aiohttp server that checks pushed EIDO documents and produces the usable ones to Kafka."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        tokens: frozenset[str],
        classification: Classification,
        registry: CollectorRegistry,
        host: str = "127.0.0.1",
        port: int = 0,
        produce_timeout_s: float = 10.0,
    ):
        if not tokens:
            raise ValueError(NO_TOKENS)
        self.bootstrap = bootstrap
        self.topics = topics
        self.host = host
        self.port = port
        self.produce_timeout_s = produce_timeout_s
        self._tokens = tuple(t.encode() for t in tokens)
        self._classification = classification
        self._registry = registry
        self._metrics = IngestMetrics(registry)
        self._feeds = FeedMetrics(registry)
        self._refused = Counter(
            "http_ingest_refused", "HTTP ingest requests refused before ingest, by status.", ["status"],
            namespace=NAMESPACE, registry=registry,
        )
        self._producer: AIOKafkaProducer | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The server's HTTP address."""
        return f"http://{self.host}:{self.port}"

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return False
        offered = credential.strip().encode()
        # Compare against every token, without stopping at a match, so timing says nothing about which.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(offered, token)
        return matched

    def _refuse(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        self._refused.labels(str(status)).inc()
        log.info("http_ingest.refused", status=status)
        response = _error(status, message)
        response.headers.update(headers or {})
        return response

    async def _ingest(self, request: web.Request) -> web.Response:
        # Auth first: an unauthenticated caller must not get us to read (or even size-check) a body.
        if not self._authorized(request):
            return self._refuse(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
        # aiohttp reports a missing Content-Type as application/octet-stream; say "none" instead.
        declared = "Content-Type" in request.headers
        if not declared or request.content_type != "application/json":
            got = request.content_type if declared else "none"
            return self._refuse(415, f"expected Content-Type application/json, got {got}")
        too_large = f"body over {MAX_DOCUMENT_BYTES} bytes"
        if request.content_length is not None and request.content_length > MAX_DOCUMENT_BYTES:
            return self._refuse(413, too_large)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            # A chunked body has no Content-Length: aiohttp stops reading past client_max_size; answer in our form.
            return self._refuse(413, too_large)

        try:
            outcome = ingest_cad(body, self._classification, datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - a parser bug: answer in our form, not aiohttp's bare 500
            log.exception("http_ingest.failed")
            return _error(500, "internal_error", detail=f"the EIDO parser failed ({type(exc).__name__}); the document was not accepted")
        if isinstance(outcome, DeadLetter):
            # Answered, not produced: the caller has to fix the document and send it again.
            self._metrics.count(SOURCE, outcome)
            log.info("http_ingest.rejected", reason=outcome.reason)
            return _error(400, outcome.reason, detail=outcome.detail)

        incident = outcome.ref
        assert self._producer is not None, "start() first"
        try:
            # Keyed by incident: every version of one incident lands on one partition, in order.
            sent = await asyncio.wait_for(
                self._producer.send_and_wait(self.topics.cad, value=body, key=incident.encode()),
                self.produce_timeout_s * 2,  # a hard bound in case the client's own timeouts stack up
            )
        except (KafkaError, TimeoutError) as exc:
            # Not counted as an ingest outcome: the caller will resend, and would be counted twice.
            log.warning("http_ingest.broker_unavailable", error=type(exc).__name__)
            return self._refuse(503, "broker unavailable, retry", {"Retry-After": str(RETRY_AFTER_S)})
        self._metrics.count(SOURCE, outcome)
        # the CAD feed's last record: this one is on the topic now (a refused document never reaches it)
        self._feeds.seen("cad")
        log.info("http_ingest.accepted", topic=sent.topic, partition=sent.partition, offset=sent.offset)
        return web.json_response(
            {"accepted": True, "incident": incident, "topic": sent.topic, "partition": sent.partition, "offset": sent.offset},
            status=202,
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _metrics_page(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self._registry))
        # Set whole: CONTENT_TYPE_LATEST carries parameters, which aiohttp's content_type= refuses.
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    def app(self) -> web.Application:
        """The aiohttp application."""
        application = web.Application(client_max_size=MAX_DOCUMENT_BYTES)
        application.router.add_post("/ingest/eido", self._ingest)
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics_page)
        return application

    async def start(self) -> str:
        """Connect the producer, then serve; binds a free port when ``port`` is 0. Returns the base URL."""
        timeout_ms = int(self.produce_timeout_s * 1000)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=timeout_ms)
        await self._producer.start()
        try:
            self._runner, self.port = await start_site(self.app(), self.host, self.port)
        except BaseException:
            await self.stop()
            raise
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (finishing requests in flight), then stop the producer."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def serve(bootstrap: str, topics: Topics, tokens: frozenset[str], classification: Classification, host: str, port: int) -> None:
    """Run an ingest server (with its own metrics registry) until cancelled, then stop it cleanly."""
    registry = CollectorRegistry()
    add_process_metrics(registry)
    server = EidoIngestServer(bootstrap, topics, tokens, classification, registry, host=host, port=port)
    await server.start()
    log.info("http_ingest.started", host=host, port=server.port)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
