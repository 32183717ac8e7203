"""Standdowns through a real worker and broker: published on the standdowns topic (as `vigil standdown` and the
web do), a stood-down team's next alert goes to DNS on-call at once, saying why; when the standdown ends, DNS is
told, and the team's next alert goes to the team again. Drills are labelled DRILL on the phone."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaProducer

from stream.core.standdowns import Standdown
from stream.runtime.ingest import DRILL_HEADER
from tests.helpers import JORDAN, as_bytes, shooting

pytestmark = pytest.mark.integration
TEAM = "vi-north-nearnorth"


def worker_now(pipeline) -> datetime:
    """The worker's clock now: what it wrote to its ready file, plus the wall time since (it runs at rate 1)."""
    ready = pipeline.worker.ready_file
    return datetime.fromisoformat(ready.read_text()) + timedelta(seconds=time.time() - ready.stat().st_mtime)


async def publish(pipeline, standdown: Standdown) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(pipeline.topics.standdowns, standdown.model_dump_json().encode(), key=standdown.id.encode())
    finally:
        await producer.stop()


def new_messages(pipeline, before: int, count: int, timeout: float = 30.0) -> list[dict]:
    return pipeline.wait_for_messages(before + count, timeout)[before:]


async def test_a_standdown_redirects_the_next_alert_to_dns_and_ends_on_time(pipeline) -> None:
    now = worker_now(pipeline)
    standdown = Standdown(id="sd-it-1", team=TEAM, reason="funeral", by="dns1", created_at=now, starts=now - timedelta(minutes=1),
                          ends=now + timedelta(hours=2))
    await publish(pipeline, standdown)
    time.sleep(1.0)  # the workers' feed reads it within a fetch
    before = len(pipeline.messages())
    await pipeline.produce(as_bytes(shooting("IT-SD-1", JORDAN)))
    new = new_messages(pipeline, before, 2)
    time.sleep(1.0)  # a third (wrong) alert would land now
    new = pipeline.messages()[before:]
    assert sorted(m["recipient"] for m in new) == ["dns-oncall-lead", "gvi-outreach-lead"]
    dns = next(m for m in new if m["recipient"] == "dns-oncall-lead")
    assert f"{TEAM} is stood down until" in dns["body"] and "(funeral)" in dns["body"]

    ends = worker_now(pipeline) + timedelta(seconds=3)
    await publish(pipeline, standdown.model_copy(update={"ended_at": ends, "ended_by": "dns2"}))
    before = len(pipeline.messages())
    notice = new_messages(pipeline, before, 1, timeout=20)
    assert [(m["recipient"], m["title"]) for m in notice] == [("dns-oncall-lead", f"VIGIL on-call: {TEAM} is back on alerts")]
    assert f"(funeral) ended at {ends.astimezone(ZoneInfo('America/Chicago')):%H:%M}" in notice[0]["body"]

    before = len(pipeline.messages())
    await pipeline.produce(as_bytes(shooting("IT-SD-2", JORDAN)))
    again = new_messages(pipeline, before, 3)  # the team, GVI, and DNS for the retaliation watch (P7)
    assert f"{TEAM}-lead" in {m["recipient"] for m in again}


async def test_a_drill_is_labelled_drill_on_the_phone(pipeline) -> None:
    before = len(pipeline.messages())
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(pipeline.topics.cad, as_bytes(shooting("IT-DRILL-1", (44.9485, -93.2350))), key=b"cad",
                                     headers=[(DRILL_HEADER, b"1")])
    finally:
        await producer.stop()
    new = new_messages(pipeline, before, 1)
    assert new and all(m["title"].startswith("DRILL ") and m["body"].startswith("DRILL") for m in new)
