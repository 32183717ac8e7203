"""HTTP ingest: real HTTP against a real Kafka-protocol broker, every answer checked exactly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import uuid4

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from stream.devtools.broker import EmbeddedBroker, free_port
from stream.feeds.eido import MAX_DOCUMENT_BYTES
from stream.feeds.eido_builder import build_eido
from stream.feeds.http_ingest import EidoIngestServer, serve, tokens_from_env
from stream.ops.kafka import Topics, ensure_topics
from tests.helpers import as_bytes, shooting

TOKEN = "s3cret-token"
OTHER_TOKEN = "second-cad-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
NO_TOKENS = "no ingest tokens: set VIGIL_INGEST_TOKENS to one or more comma-separated tokens"
UNAUTHORIZED = {"error": "missing or invalid bearer token"}
TOO_LARGE = {"error": f"body over {MAX_DOCUMENT_BYTES} bytes"}


@dataclass
class Running:
    """A started ingest server and what it writes to."""

    url: str
    bootstrap: str
    topics: Topics
    registry: CollectorRegistry
    http: aiohttp.ClientSession

    async def post(self, body: bytes, headers: dict[str, str] = JSON) -> tuple[int, dict, aiohttp.ClientResponse]:
        """POST to /ingest/eido; the status, the JSON answer and the response."""
        async with self.http.post(f"{self.url}/ingest/eido", data=body, headers=headers) as response:
            return response.status, await response.json(), response

    async def records(self, count: int, timeout: float = 15.0) -> list:
        """The first ``count`` records on the CAD topic (all partitions), read from the beginning."""
        consumer = AIOKafkaConsumer(
            self.topics.cad, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", group_id=None, fetch_max_wait_ms=50
        )
        await consumer.start()
        found: list = []
        try:
            deadline = time.monotonic() + timeout
            while len(found) < count and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                found.extend(m for msgs in batches.values() for m in msgs)
        finally:
            await consumer.stop()
        return found

    async def produced(self) -> int:
        """How many records the CAD topic holds: the sum of its partitions' end offsets, no waiting."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await consumer.start()
        try:
            await consumer.topics()  # fills the metadata that partitions_for_topic reads
            partitions = [TopicPartition(self.topics.cad, p) for p in consumer.partitions_for_topic(self.topics.cad) or ()]
            assert partitions, "the CAD topic exists"
            return sum((await consumer.end_offsets(partitions)).values())
        finally:
            await consumer.stop()


async def _start(bootstrap: str, classification, **kw: object) -> tuple[EidoIngestServer, Topics, CollectorRegistry]:
    topics = Topics(prefix=f"h{uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, topics)
    registry = CollectorRegistry()
    server = EidoIngestServer(bootstrap, topics, frozenset({TOKEN, OTHER_TOKEN}), classification, registry, **kw)  # type: ignore[arg-type]
    await server.start()
    return server, topics, registry


@pytest.fixture
async def ingest(kafka_bootstrap: str, deployment) -> AsyncIterator[Running]:
    """An ingest server on a free port, with topics and a metrics registry of its own."""
    server, topics, registry = await _start(kafka_bootstrap, deployment.classification)
    try:
        async with aiohttp.ClientSession() as http:
            yield Running(server.base_url, kafka_bootstrap, topics, registry, http)
    finally:
        await server.stop()


async def test_person_shot_is_accepted_only_once_the_record_is_on_the_topic(ingest: Running) -> None:
    body = as_bytes(shooting("MPLS-H1"))
    status, answer, _ = await ingest.post(body)
    assert status == 202
    [record] = await ingest.records(1)
    assert answer == {
        "accepted": True, "incident": "MPLS-H1", "topic": ingest.topics.cad, "partition": record.partition, "offset": record.offset
    }
    assert (record.key, record.value) == (b"MPLS-H1", body)
    assert await ingest.produced() == 1


async def test_second_token_is_accepted_too_and_charset_is_allowed(ingest: Running) -> None:
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}", "Content-Type": "application/json; charset=utf-8"}
    status, answer, _ = await ingest.post(as_bytes(shooting("MPLS-H2")), headers)
    assert (status, answer["incident"]) == (202, "MPLS-H2")


async def test_non_shooting_is_accepted_and_produced_for_the_worker_to_drop(ingest: Running) -> None:
    body = as_bytes(build_eido("MPLS-H3", "2026-07-04T22:00:00-05:00", apco="MVA", lat=44.96, lon=-93.27))
    status, answer, _ = await ingest.post(body)
    assert (status, answer["accepted"], answer["incident"]) == (202, True, "MPLS-H3")
    [record] = await ingest.records(1)
    assert (record.key, record.value) == (b"MPLS-H3", body)


async def test_invalid_json_is_a_400_naming_the_problem_and_is_not_produced(ingest: Running) -> None:
    status, answer, _ = await ingest.post(b"not json")
    assert status == 400
    assert answer == {"error": "invalid_json", "detail": "EIDO is not valid JSON (Expecting value: line 1 column 1 (char 0))"}
    assert await ingest.produced() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Authorization": "Bearer wrong-token", "Content-Type": "application/json"},
        {"Authorization": f"Basic {TOKEN}", "Content-Type": "application/json"},
        {"Authorization": "Bearer ", "Content-Type": "application/json"},
        {"Authorization": f"Bearer {TOKEN}x", "Content-Type": "application/json"},
    ],
    ids=["no-token", "wrong-token", "wrong-scheme", "empty-token", "token-prefix"],
)
async def test_missing_or_wrong_token_is_a_401(ingest: Running, headers: dict[str, str]) -> None:
    status, answer, response = await ingest.post(as_bytes(shooting()), headers)
    assert (status, answer, response.headers["WWW-Authenticate"]) == (401, UNAUTHORIZED, "Bearer")
    assert await ingest.produced() == 0


async def test_auth_is_checked_before_content_type_and_size(ingest: Running) -> None:
    status, answer, _ = await ingest.post(b"x" * (MAX_DOCUMENT_BYTES + 1), {"Content-Type": "text/plain"})
    assert (status, answer) == (401, UNAUTHORIZED)


async def test_wrong_content_type_is_a_415(ingest: Running) -> None:
    status, answer, _ = await ingest.post(as_bytes(shooting()), {**AUTH, "Content-Type": "text/plain"})
    assert (status, answer) == (415, {"error": "expected Content-Type application/json, got text/plain"})
    assert await ingest.produced() == 0


async def test_missing_content_type_is_a_415(ingest: Running) -> None:
    url = f"{ingest.url}/ingest/eido"
    async with ingest.http.post(url, data=as_bytes(shooting()), headers=AUTH, skip_auto_headers=["Content-Type"]) as response:
        assert "Content-Type" not in response.request_info.headers
        assert (response.status, await response.json()) == (415, {"error": "expected Content-Type application/json, got none"})


async def test_oversized_body_is_a_413_by_content_length(ingest: Running) -> None:
    status, answer, _ = await ingest.post(b" " * (MAX_DOCUMENT_BYTES + 1))
    assert (status, answer) == (413, TOO_LARGE)


async def test_oversized_chunked_body_is_a_413_in_our_json_form(ingest: Running) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield b" " * 100_000

    async with ingest.http.post(f"{ingest.url}/ingest/eido", data=chunks(), headers=JSON) as response:
        assert "Content-Length" not in response.request_info.headers
        assert (response.status, await response.json()) == (413, TOO_LARGE)


async def test_document_of_exactly_the_limit_is_accepted_and_produced(ingest: Running) -> None:
    doc = shooting("MPLS-H5")
    doc["padding"] = ""
    doc["padding"] = "x" * (MAX_DOCUMENT_BYTES - len(as_bytes(doc)))
    body = as_bytes(doc)
    assert len(body) == MAX_DOCUMENT_BYTES
    status, answer, _ = await ingest.post(body)
    assert (status, answer["incident"]) == (202, "MPLS-H5")
    [record] = await ingest.records(1)
    assert record.value == body


async def test_metrics_count_outcomes_and_refusals(ingest: Running) -> None:
    assert (await ingest.post(as_bytes(shooting("MPLS-H6"))))[0] == 202
    assert (await ingest.post(as_bytes(build_eido("MPLS-H7", "2026-07-04T22:00:00-05:00", apco="MVA"))))[0] == 202
    assert (await ingest.post(b"{"))[0] == 400
    assert (await ingest.post(b"{}", {"Content-Type": "application/json"}))[0] == 401
    assert (await ingest.post(b"{}", {**AUTH, "Content-Type": "text/plain"}))[0] == 415
    lines = set(generate_latest(ingest.registry).decode().splitlines())
    assert {
        'vigil_ingest_received_total{source="http"} 3.0',
        'vigil_ingest_shootings_total{kind="person_shot",source="http"} 1.0',
        'vigil_ingest_filtered_total{reason="not_a_shooting",source="http"} 1.0',
        'vigil_ingest_rejected_total{reason="invalid_json",source="http"} 1.0',
        'vigil_http_ingest_refused_total{status="401"} 1.0',
        'vigil_http_ingest_refused_total{status="415"} 1.0',
    } <= lines


async def test_healthz(ingest: Running) -> None:
    async with ingest.http.get(f"{ingest.url}/healthz") as response:
        assert (response.status, await response.json()) == (200, {"ok": True})


@pytest.mark.parametrize(
    ("value", "tokens"),
    [("a", {"a"}), ("a,b", {"a", "b"}), (" a , ,b,, ", {"a", "b"}), ("a,a", {"a"})],
)
def test_tokens_from_env(value: str, tokens: set[str]) -> None:
    assert tokens_from_env(value) == frozenset(tokens)


@pytest.mark.parametrize("value", [None, "", " ", ", ,"])
def test_tokens_from_env_refuses_to_run_open(value: str | None) -> None:
    with pytest.raises(ValueError) as info:
        tokens_from_env(value)
    assert str(info.value) == NO_TOKENS


def test_server_without_tokens_refuses_to_exist(deployment) -> None:
    with pytest.raises(ValueError, match="no ingest tokens"):
        EidoIngestServer("127.0.0.1:9", Topics(), frozenset(), deployment.classification, CollectorRegistry())


async def test_broker_gone_is_a_503_with_retry_after(deployment) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    server = None
    try:
        server, _, registry = await _start(bootstrap, deployment.classification, produce_timeout_s=2)
        broker.stop()
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            async with http.post(f"{server.base_url}/ingest/eido", data=as_bytes(shooting("MPLS-H8")), headers=JSON) as response:
                assert (response.status, await response.json()) == (503, {"error": "broker unavailable, retry"})
                assert response.headers["Retry-After"] == "5"
            assert time.monotonic() - started < 10
        assert registry.get_sample_value("vigil_http_ingest_refused_total", {"status": "503"}) == 1
        assert registry.get_sample_value("vigil_ingest_received_total", {"source": "http"}) is None
    finally:
        if server is not None:
            await server.stop()
        broker.stop()


async def test_serve_runs_until_cancelled_then_stops(kafka_bootstrap: str, deployment) -> None:
    topics = Topics(prefix=f"h{uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, topics)
    port = free_port()
    task = asyncio.create_task(serve(kafka_bootstrap, topics, frozenset({TOKEN}), deployment.classification, "127.0.0.1", port))
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"{url}/healthz") as response:
                    assert response.status == 200
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("serve() did not start listening")
        async with http.post(f"{url}/ingest/eido", data=as_bytes(shooting("MPLS-H9")), headers=JSON) as response:
            assert response.status == 202
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(f"{url}/healthz"):
                pass



# --- slow clients, odd credentials, the metrics port (issue 15; docs/security.md)


async def _raw(port: int, data: bytes, wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when the server ends the connection within ``seconds`` (whatever it says first)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_a_bearer_token_that_is_not_utf8_is_a_401_counted_as_refused(ingest: Running) -> None:
    """`Bearer t\\xf6k` answered 500 with a traceback in the log."""
    port = int(ingest.url.rsplit(":", 1)[1])
    answer = await _raw(port, b"POST /ingest/eido HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\xf6k\r\n"
                              b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"missing or invalid bearer token"' in answer
    assert ingest.registry.get_sample_value("vigil_http_ingest_refused_total", {"status": "401"}) == 1


async def test_metrics_are_not_served_on_the_ingest_port(ingest: Running) -> None:
    """The counters tell anyone who reaches the CAD-facing port when incidents come in."""
    assert (await ingest.post(as_bytes(shooting("MPLS-M1"))))[0] == 202
    async with ingest.http.get(f"{ingest.url}/metrics") as response:
        assert response.status == 404


async def test_serve_puts_metrics_on_their_own_port(kafka_bootstrap: str, deployment) -> None:
    topics = Topics(prefix=f"h{uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, topics)
    port, metrics_port = free_port(), free_port()
    task = asyncio.create_task(serve(kafka_bootstrap, topics, frozenset({TOKEN}), deployment.classification, "127.0.0.1", port,
                                     "127.0.0.1", metrics_port))
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                        assert response.status == 200
                        assert response.headers["Content-Type"].startswith("text/plain")  # Prometheus' text format
                        assert "vigil_http_ingest_connections " in await response.text()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("no /metrics on the metrics port")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_headers_sent_slowly_are_cut_off_at_the_header_timeout(kafka_bootstrap: str, deployment) -> None:
    """A slow client could hold a connection (a descriptor) for an hour sending its headers a byte at a time."""
    server, _, registry = await _start(kafka_bootstrap, deployment.classification, header_timeout_s=1.0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        writer.write(b"POST /ingest/eido HTTP/1.1\r\nHost: x\r\n")
        for _ in range(4):
            await asyncio.sleep(0.4)
            with contextlib.suppress(ConnectionError):
                writer.write(b"X")  # still sending: the timeout counts from the connection, not the last byte
        assert await _closed_within(reader, 3)
        assert time.monotonic() - started < 3
        writer.close()
    finally:
        await server.stop()


async def test_a_body_sent_too_slowly_is_a_408(kafka_bootstrap: str, deployment) -> None:
    server, _, registry = await _start(kafka_bootstrap, deployment.classification, body_timeout_s=1.0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /ingest/eido HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
    finally:
        await server.stop()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"body not received within 1 s"' in answer
    assert registry.get_sample_value("vigil_http_ingest_refused_total", {"status": "408"}) == 1


async def test_past_the_connection_cap_the_longest_silent_makes_room_and_cad_gets_its_202(ingest: Running) -> None:
    """Slow clients could hold every descriptor. The cap (128 by default) holds; a CAD system connecting
    is served, and the oldest silent connections are closed for it."""
    cap = 128  # MAX_CONNECTIONS, checked below
    port = int(ingest.url.rsplit(":", 1)[1])
    slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(cap)]
    await asyncio.sleep(0.2)  # past the 100 ms in which a connection that just spoke is not shed
    slow += [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    status, answer, _ = await ingest.post(as_bytes(shooting("MPLS-C1")))
    assert (status, answer["incident"]) == (202, "MPLS-C1")
    assert time.monotonic() - started < 2
    assert [await _closed_within(r, 0.5) for r, _ in slow[:6]] == [True] * 6
    assert not await _closed_within(slow[-1][0], 0.2)
    assert ingest.registry.get_sample_value("vigil_http_ingest_connections_closed_total", {"reason": "shed"}) >= 6
    for _, writer in slow:
        writer.close()
    from stream.feeds.http_ingest import MAX_CONNECTIONS

    assert MAX_CONNECTIONS == cap


async def test_refusals_are_counted_each_but_logged_once_a_minute(ingest: Running) -> None:
    """A scanner's thousand wrong tokens were a thousand log lines; the counter still counts each."""
    with capture_logs() as logs:
        for _ in range(20):
            assert (await ingest.post(b"{}", {"Authorization": "Bearer wrong", "Content-Type": "application/json"}))[0] == 401
    assert [(e["event"], e["status"], e["times"]) for e in logs if e["event"] == "http_ingest.refused"] == [("http_ingest.refused", 401, 1)]
    assert ingest.registry.get_sample_value("vigil_http_ingest_refused_total", {"status": "401"}) == 20
