"""HTTP ingest for CAD systems that push EIDO: ``POST /ingest/eido`` with a bearer token.

A document is checked with the same ``ingest_cad`` the worker runs, so a CAD system learns at once
that a document is unusable (400) instead of it vanishing into the dead-letter topic. A usable one
is produced, as the exact bytes received, to the CAD topic; the 202 goes out only after the broker
acknowledged it, so a CAD system that sees 202 may forget the document.

Slow clients are bounded (docs/security.md, "Listeners and slow clients"): a request's headers must arrive
within ``header_timeout_s`` of the connection opening (or of its last answer), its body within
``BODY_TIMEOUT_S`` (else 408); at most ``max_connections`` at once, the longest-silent shed for a new one.
/metrics is not served here but on a port of its own (``serve``: 127.0.0.1 by default).
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime

import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter

from stream.feeds.classify import Classification
from stream.feeds.eido import MAX_DOCUMENT_BYTES
from stream.feeds.ingest import ingest_cad
from stream.model.events import DeadLetter
from stream.ops.connections import ConnectionSlots, Throttle, effective_cap
from stream.ops.http import start_site
from stream.ops.kafka import Topics
from stream.ops.metrics import NAMESPACE, FeedMetrics, IngestMetrics, add_process_metrics
from stream.ops.probes import serve_metrics

log = structlog.get_logger(__name__)

SOURCE = "http"
RETRY_AFTER_S = 5
NO_TOKENS = "no ingest tokens: set VIGIL_INGEST_TOKENS to one or more comma-separated tokens"
HEADER_TIMEOUT_S = 10.0  # a CAD system sends its request's headers at once; a slow client holds a descriptor 10 s at most
BODY_TIMEOUT_S = 30.0  # 1 MB (the largest document) within 30 s: 35 KB/s, far below any CAD link
MAX_CONNECTIONS = 128  # a city's CAD systems open a few each; the longest-silent is closed past this


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
        *,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        body_timeout_s: float = BODY_TIMEOUT_S,
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
        self._metrics = IngestMetrics(registry)
        self._feeds = FeedMetrics(registry)
        self._refused = Counter(
            "http_ingest_refused", "HTTP ingest requests refused before ingest, by status.", ["status"],
            namespace=NAMESPACE, registry=registry,
        )
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.slots = ConnectionSlots(effective_cap(max_connections, "http_ingest"), "http_ingest", registry)
        self._refused_lines: dict[int, Throttle] = {}
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
        try:
            offered = credential.strip().encode()
        except UnicodeEncodeError:
            return False  # bytes that are not UTF-8 (aiohttp keeps them as surrogates): no token looks like that
        # Compare against every token, without stopping at a match, so timing says nothing about which.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(offered, token)
        return matched

    def _refuse(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        self._refused.labels(str(status)).inc()
        # one line a minute per status at most: a scanner's thousand bad tokens are one line (and the counter)
        if (count := self._refused_lines.setdefault(status, Throttle()).hit()) is not None:
            log.info("http_ingest.refused", status=status, times=count)
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
            async with asyncio.timeout(self.body_timeout_s):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            # A chunked body has no Content-Length: aiohttp stops reading past client_max_size; answer in our form.
            return self._refuse(413, too_large)
        except TimeoutError:
            refused = self._refuse(408, f"body not received within {self.body_timeout_s:g} s")
            refused.force_close()  # the rest of the body may still come: this connection cannot carry another request
            return refused

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

    def app(self) -> web.Application:
        """The aiohttp application."""
        application = web.Application(client_max_size=MAX_DOCUMENT_BYTES)
        application.router.add_post("/ingest/eido", self._ingest)
        application.router.add_get("/healthz", self._healthz)
        return application

    async def start(self) -> str:
        """Connect the producer, then serve; binds a free port when ``port`` is 0. Returns the base URL."""
        timeout_ms = int(self.produce_timeout_s * 1000)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=timeout_ms)
        await self._producer.start()
        try:
            self._runner, self.port = await start_site(self.app(), self.host, self.port, header_timeout_s=self.header_timeout_s,
                                                       slots=self.slots)
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


async def serve(bootstrap: str, topics: Topics, tokens: frozenset[str], classification: Classification, host: str, port: int,
                metrics_host: str = "127.0.0.1", metrics_port: int | None = None, **limits: float) -> None:
    """Run an ingest server (with its own metrics registry) until cancelled, then stop it cleanly. /metrics is
    served on ``metrics_host:metrics_port`` (0: a free port, logged; None: not served), never on the ingest
    port, which CAD systems reach: the counters tell anyone who can read them when incidents come in.
    ``limits``: ``max_connections``, ``header_timeout_s``, ``body_timeout_s`` of ``EidoIngestServer``."""
    registry = CollectorRegistry()
    add_process_metrics(registry)
    server = EidoIngestServer(bootstrap, topics, tokens, classification, registry, host=host, port=port, **limits)  # type: ignore[arg-type]
    await server.start()
    if metrics_port is not None:
        serve_metrics(registry, metrics_host, metrics_port)
    log.info("http_ingest.started", host=host, port=server.port, max_connections=server.slots.cap,
             header_timeout_s=server.header_timeout_s, body_timeout_s=server.body_timeout_s)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
