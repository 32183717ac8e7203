"""`vigil hl7-listen`: an MLLP listener for emergency-department ADT feeds.

Framing: <VT> message <FS><CR>; several messages per connection, answered in order. A message is
acknowledged AA only after the broker acknowledged its record (or it was a well-formed message Vigil
does not act on); AR with the reason when it can never be processed (its redacted dead letter is on
the broker); AE when Vigil could not write to the broker, so the hospital's interface engine retries.

Connections are bounded (docs/security.md, "Listeners and slow clients"): only allowed sender addresses
(``allow_from``, loopback by default); optionally TLS; a connection silent for ``idle_timeout_s`` between
messages is closed, and so is one that started a frame and has not finished it within ``frame_deadline_s``
(no ACK: the engine resends); at most ``max_connections`` at once, the longest-silent shed for a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter

from stream.feeds.classify import Classification
from stream.feeds.hl7 import Hl7Message, hl7_ack_fields, redacted_excerpt, split_message
from stream.feeds.hl7 import ingest_hl7 as parse_adt
from stream.model.events import DeadLetter, ShootingEvent
from stream.ops.connections import (
    LOOPBACK,
    AddressAllowList,
    ConnectionSlots,
    Throttle,
    bytes_waiting,
    effective_cap,
    quiet_accept_errors,
)
from stream.ops.kafka import Topics
from stream.ops.metrics import NAMESPACE, FeedMetrics, IngestMetrics

log = structlog.get_logger(__name__)

DISCARD_S = 5.0
DISCARD_BYTES = 64 * 2**20
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
# The largest frame the listener reads. An ED registration (ADT^A04) is 1-4 KB; one with dozens of NK1, IN1,
# AL1, OBX and DG1 segments stays under 30 KB; ADT carries no embedded documents (those come as ORU/MDM). 128 KiB
# holds four times the largest with room, and bounds what a half-sent frame can pin: a StreamReader buffers up
# to twice its limit, so 256 KiB per connection, 16 MiB at the default cap (it was about 2 MB each at 1 MB).
FRAME_LIMIT_BYTES = 128 * 1024
IDLE_TIMEOUT_S = 300.0  # an engine that sends nothing for 5 minutes reconnects for its next message
FRAME_DEADLINE_S = 30.0  # a frame's first byte to its end block; a LAN sends 128 KiB in milliseconds
TLS_HANDSHAKE_S = 10.0
# EDs of a city, an engine or two each, and their test systems: 64 is many times what they hold
MAX_CONNECTIONS = 64


def frame(message: str) -> bytes:
    """An MLLP frame around a message."""
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


def build_ack(original: Hl7Message | None, code: str, text: str, now: datetime) -> str:
    """An ACK for ``original`` (or for an unreadable message): MSA-1 ``code``, MSA-3 ``text``."""
    sending_app, sending_facility, control_id, trigger, version = hl7_ack_fields(original)
    clean = text.replace("|", "/").replace("^", "/").replace("~", "-").replace("\\", "/").replace("&", "+")[:200]
    segments = [
        "|".join(["MSH", "^~\\&", "VIGIL", "VIGIL", sending_app, sending_facility, now.strftime("%Y%m%d%H%M%S+0000"), "",
                  f"ACK^{trigger}^ACK", "V" + uuid.uuid4().hex[:19], "P", version]),
        "|".join(["MSA", code, control_id, clean]),
    ]
    if code != "AA":
        segments.append("|".join(["ERR", "", "", "207^Application internal error^HL70357" if code == "AE" else "101^Required field missing^HL70357", "E", "", "", "", clean]))
    return "\r".join(segments) + "\r"


async def _discard_rest(reader: asyncio.StreamReader) -> None:
    """Read and drop what the sender still sends, until it hangs up (or a few seconds, or 64 MB, pass).

    Closing a socket with unread input makes the kernel reset the connection, and a reset can destroy the
    AR already sent before a busy sender reads it: the sender would never learn why."""
    left = DISCARD_BYTES
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(DISCARD_S):
            while left > 0 and (chunk := await reader.read(65536)):
                left -= len(chunk)


class MllpListener:
    """Accepts MLLP connections, parses each ADT message, produces PHI-free records, and ACKs."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        classification: Classification,
        secret: bytes,
        registry: CollectorRegistry,
        host: str = "127.0.0.1",
        port: int = 2575,
        produce_timeout_s: float = 10.0,
        *,
        allow_from: AddressAllowList | None = None,
        tls: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        frame_deadline_s: float = FRAME_DEADLINE_S,
    ):
        self.bootstrap = bootstrap
        self.topics = topics
        self.classification = classification
        self.secret = secret
        self.host = host
        self.port = port
        self.produce_timeout_s = produce_timeout_s
        self.metrics = IngestMetrics(registry)
        self.feeds = FeedMetrics(registry)
        self.acks = Counter("hl7_acks", "ACKs sent by the MLLP listener, by code.", ["code"], namespace=NAMESPACE, registry=registry)
        self.allow_from = allow_from or AddressAllowList(LOOPBACK)
        self.tls = tls
        self.idle_timeout_s = idle_timeout_s
        self.frame_deadline_s = frame_deadline_s
        self.slots = ConnectionSlots(effective_cap(max_connections, "hl7"), "hl7", registry)
        self._not_allowed = Throttle()
        self._restore_loop_handler: Callable[[], None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Connect the producer and start listening; returns the bound port."""
        timeout_ms = int(self.produce_timeout_s * 1000)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=timeout_ms, linger_ms=0)
        await self._producer.start()
        self._restore_loop_handler = quiet_accept_errors(asyncio.get_running_loop(), "hl7")
        self._server = await asyncio.start_server(self._connection, self.host, self.port, limit=FRAME_LIMIT_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.allow_from.open_to_all:
            log.warning("hl7.open_to_all", allow_from=str(self.allow_from),
                        hint="any host that reaches this port can report a gunshot arrival; list the engines' networks in --allow-from")
        log.info("hl7.listening", host=self.host, port=self.port, tls=self.tls is not None, allow_from=str(self.allow_from),
                 max_connections=self.slots.cap, idle_timeout_s=self.idle_timeout_s, frame_deadline_s=self.frame_deadline_s)
        return self.port

    async def stop(self) -> None:
        """Stop accepting, then close the producer."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._restore_loop_handler is not None:
            self._restore_loop_handler()
            self._restore_loop_handler = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        slot = writer.transport  # the TCP transport: TLS wraps it, aborting it ends either
        peer = writer.get_extra_info("peername")
        if not self.allow_from.allows(peer):
            self._refuse_address(peer)
            slot.abort()  # at once: no ACK, no TLS handshake, nothing read from a sender not listed
            return
        if not self.slots.admit(slot, slot.abort, bytes_waiting(slot)):
            return
        try:
            if self.tls is None or await self._start_tls(writer):
                await self._exchange(reader, writer, slot)
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self.slots.release(slot)
            writer.close()

    def _refuse_address(self, peer: object) -> None:
        self.slots.closed("address")
        if (count := self._not_allowed.hit()) is not None:
            address = peer[0] if isinstance(peer, tuple) and peer else str(peer)
            log.warning("hl7.address_not_allowed", peer=address, times=count, allow_from=str(self.allow_from))

    async def _start_tls(self, writer: asyncio.StreamWriter) -> bool:
        """The TLS handshake, after the address check; False (counted) when it fails or takes too long."""
        assert self.tls is not None
        try:
            await writer.start_tls(self.tls, ssl_handshake_timeout=TLS_HANDSHAKE_S)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            self.slots.closed("tls")
            log.debug("hl7.tls_failed", error=type(exc).__name__)
            return False
        return True

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: object) -> None:
        """Answer frame after frame until the peer hangs up, goes idle, or stalls in a frame."""
        while True:
            try:
                block = await self._next_frame(reader, slot)
            except asyncio.LimitOverrunError:
                await self._reply(writer, build_ack(None, "AR", f"message over {FRAME_LIMIT_BYTES} bytes", datetime.now(UTC)), "AR")
                await _discard_rest(reader)
                return  # the rest of the stream cannot be re-framed reliably
            if block is None:
                return
            start = block.find(START_BLOCK)
            payload = block[start + 1 : -len(END_BLOCK)] if start >= 0 else block[: -len(END_BLOCK)]
            with self.slots.busy(slot):  # never shed while its message is on the way to the broker
                code, ack = await self.handle(payload)
                await self._reply(writer, ack, code)

    async def _next_frame(self, reader: asyncio.StreamReader, slot: object) -> bytes | None:
        """The next block up to its end block; None when the peer hung up, stayed silent past the idle
        timeout, or started a frame and did not finish it by the frame deadline (closed without an ACK, so
        an engine that stalled resends; AR would tell it never to)."""
        reason = "idle"
        try:
            async with asyncio.timeout(self.idle_timeout_s):
                first = await reader.readexactly(1)
            self.slots.active(slot)
            reason = "deadline"
            async with asyncio.timeout(self.frame_deadline_s):
                return first + await reader.readuntil(END_BLOCK)
        except asyncio.IncompleteReadError:
            return None  # the peer closed the connection
        except TimeoutError:
            self.slots.closed(reason)
            return None

    async def _reply(self, writer: asyncio.StreamWriter, ack: str, code: str) -> None:
        self.acks.labels(code).inc()
        writer.write(frame(ack))
        await writer.drain()

    async def handle(self, payload: bytes) -> tuple[str, str]:
        """Process one message's bytes; returns the ACK code and the ACK message."""
        now = datetime.now(UTC)
        # every ADT message counts: hospitals send many that are not shootings, and they show the feed is alive
        self.feeds.seen("hospital", now.timestamp())
        try:
            outcome = parse_adt(payload, self.classification, self.secret, now)
        except Exception as exc:  # noqa: BLE001 - a parser bug must still get the sender an answer
            # Without this the connection dies with no ACK and the interface engine resends the same message
            # forever; as the worker's agents do, the failure becomes a dead letter (and AR) with its reason.
            log.exception("hl7.parse_failed")
            outcome = DeadLetter(source="hl7", reason="internal_error", detail=f"the HL7 adapter failed ({type(exc).__name__})",
                                 excerpt=redacted_excerpt(payload.decode("utf-8", errors="replace")), received_at=now)
        self.metrics.count("hl7", outcome)
        text = payload.decode("utf-8", errors="replace")
        try:
            original: Hl7Message | None = split_message(text)
        except Exception:  # noqa: BLE001 - an unreadable header still gets an ACK
            original = None
        if isinstance(outcome, DeadLetter):
            if not await self._produce(self.topics.dlq, b"hl7", outcome.model_dump_json().encode()):
                return "AE", build_ack(original, "AE", "could not record the rejection; retry", now)
            self.feeds.dead_letter("hl7", outcome.reason)
            log.warning("hl7.rejected", reason=outcome.reason)
            return "AR", build_ack(original, "AR", f"{outcome.reason}: {outcome.detail}", now)
        if isinstance(outcome, ShootingEvent):
            if not await self._produce(self.topics.hospital_arrivals, outcome.incident_id.encode(), outcome.model_dump_json().encode()):
                return "AE", build_ack(original, "AE", "broker unavailable; retry", now)
            log.info("hl7.arrival", ref=outcome.ref, hospital=outcome.hospital, intent=outcome.intent)
            return "AA", build_ack(original, "AA", "gunshot-wound arrival recorded", now)
        return "AA", build_ack(original, "AA", f"accepted, no action: {outcome.reason}", now)

    async def _produce(self, topic: str, key: bytes, value: bytes) -> bool:
        assert self._producer is not None
        try:
            await asyncio.wait_for(self._producer.send_and_wait(topic, value, key=key), timeout=self.produce_timeout_s)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure to write means "not acknowledged"
            log.error("hl7.produce_failed", topic=topic, error=type(exc).__name__)
            return False


async def serve(listener: MllpListener) -> None:
    """Run a listener until cancelled."""
    await listener.start()
    try:
        await asyncio.Event().wait()
    finally:
        await listener.stop()


async def send_framed(host: str, port: int, messages: list[str], timeout: float = 15.0) -> list[str]:
    """Send messages over one MLLP connection and return their ACKs (a minimal client, for the demo)."""
    reader, writer = await asyncio.open_connection(host, port)
    acks = []
    try:
        for message in messages:
            writer.write(frame(message))
            await writer.drain()
            block = await asyncio.wait_for(reader.readuntil(END_BLOCK), timeout)
            acks.append(block.lstrip(START_BLOCK)[: -len(END_BLOCK)].decode("utf-8", errors="replace"))
    finally:
        writer.close()
    return acks
