"""Logs: secrets and ack tokens never reach a line; ids bound in a task are on each of its lines only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import structlog

from stream.ops.logs import REDACTED, bound_ids, configure_logging, redact

TOKEN = "eyJhY3QiOiJhY3QtMTIzIn0.c2lnbmF0dXJlLXNlY3JldA"


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]) -> Iterator:
    """Vigil's logging, configured as the CLI does; returns a reader of the JSON lines written so far."""
    configure_logging("debug")

    def read() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    try:
        yield read
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def test_secret_like_keys_are_redacted_wherever_they_are() -> None:
    event = redact(None, "info", {
        "event": "x", "secret": "s1", "ack_secret": "s2", "VIGIL_HL7_SECRET": "s3", "password": "p", "new_password": "p2",
        "Authorization": "Bearer abc", "token": "t", "ingest_tokens": "a,b", "api_key": "k", "cookie": "c",
        "headers": {"authorization": "Bearer x", "accept": "text/html"}, "token_id": "ack-123", "reason": "expired",
    })
    for key in ("secret", "ack_secret", "VIGIL_HL7_SECRET", "password", "new_password", "Authorization", "token", "ingest_tokens",
                "api_key", "cookie"):
        assert event[key] == REDACTED, key
    assert event["headers"] == {"authorization": REDACTED, "accept": "text/html"}
    # the token's id is what the service logs instead of the token: it stays
    assert (event["token_id"], event["reason"], event["event"]) == ("ack-123", "expired", "x")


def test_ack_links_lose_their_token_in_every_string() -> None:
    event = redact(None, "info", {
        "event": f"posted to https://vigil.example.org/mpls/ack/{TOKEN}",
        "body": f"Person shot near Jordan.\nAnswer: https://vigil.example.org/ack/{TOKEN}?x=1",
        "links": [f"/ack/{TOKEN}", "/review/2026-07-04"],
        "nested": {"detail": f"GET /ack/{TOKEN} HTTP/1.1"},
        "attempts": 3,
    })
    assert event["event"] == "posted to https://vigil.example.org/mpls/ack/<redacted>"
    assert event["body"] == "Person shot near Jordan.\nAnswer: https://vigil.example.org/ack/<redacted>?x=1"
    assert event["links"] == ["/ack/<redacted>", "/review/2026-07-04"]
    assert event["nested"] == {"detail": "GET /ack/<redacted> HTTP/1.1"}
    assert event["attempts"] == 3
    assert TOKEN not in json.dumps(event)


def test_configured_logging_redacts_and_keeps_no_frame_locals(lines) -> None:
    log = structlog.get_logger("test")
    log.info("ack_web.answered", url=f"http://127.0.0.1:8600/ack/{TOKEN}", secret="hunter2", token_id="ack-1")

    def parse(message: str) -> None:
        patient = "DOE^JANE^Q"  # noqa: F841 - a local the traceback must not show
        raise ValueError("bad segment")

    try:
        parse("MSH|...")
    except ValueError:
        log.exception("stage.failed", stage="ingest")
    first, failed = lines()
    assert first["url"] == "http://127.0.0.1:8600/ack/<redacted>" and first["secret"] == REDACTED and first["token_id"] == "ack-1"
    assert failed["event"] == "stage.failed" and failed["exception"][0]["exc_value"] == "bad segment"
    assert "DOE^JANE" not in json.dumps(failed) and "MSH|" not in json.dumps(failed)


async def test_ids_bound_in_a_task_are_on_each_of_its_lines_only(lines) -> None:
    log = structlog.get_logger("test")

    async def deliver(activation_id: str, intent_id: str) -> None:
        with bound_ids(activation_id=activation_id, intent_id=intent_id, ref=None):
            log.info("dispatch.started")
            await asyncio.sleep(0.01)  # the other delivery runs and logs in between
            log.info("notify.sent", status="delivered")
        log.info("dispatch.after")

    await asyncio.gather(deliver("act-a", "int-a1"), deliver("act-b", "int-b1"))
    log.info("outside")
    found = lines()
    by_activation: dict[str | None, list[str]] = {}
    for line in found:
        by_activation.setdefault(line.get("activation_id"), []).append(line["event"])
        assert "ref" not in line  # None is left out
        if "activation_id" in line:
            assert line["intent_id"] == {"act-a": "int-a1", "act-b": "int-b1"}[line["activation_id"]]
    assert by_activation == {
        "act-a": ["dispatch.started", "notify.sent"],
        "act-b": ["dispatch.started", "notify.sent"],
        None: ["dispatch.after", "dispatch.after", "outside"],
    }
    # the order shows the two tasks interleaved: the binding is per task, not a shared global
    assert [line["event"] for line in found][:2] == ["dispatch.started", "dispatch.started"]


async def test_an_explicit_key_wins_over_a_bound_one(lines) -> None:
    log = structlog.get_logger("test")
    with bound_ids(activation_id="act-bound"):
        log.info("ack.handled", activation_id="act-explicit")
        log.info("escalation.fired")
    explicit, bound = lines()
    assert (explicit["activation_id"], bound["activation_id"]) == ("act-explicit", "act-bound")
