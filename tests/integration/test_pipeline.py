"""The whole path on real parts: EIDO on the broker → real worker → Apprise → phone inbox → review store."""

from __future__ import annotations

import json
import time

import pytest

from stream.core.activations import activation_id_for
from stream.feeds.eido_builder import build_eido
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, as_bytes, shooting

pytestmark = pytest.mark.integration

# The tests share one worker: shootings are placed over 1 km apart so that none is a retaliation watch
# (P7: a person shot within 1,000 m and 72 h of another) of an earlier test's.
CAMDEN = (45.0400, -93.3000)
POWDERHORN = (44.9405, -93.2530)
DOWNTOWN = (44.9790, -93.2720)


def _timeline_kinds(pipeline, activation_id: str, want: int, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    kinds: list[str] = []
    while time.monotonic() < deadline:
        kinds = [r.kind for r in pipeline.store.records(activation_id)]
        if len(kinds) >= want:
            break
        time.sleep(0.1)
    return kinds


async def test_person_shot_alerts_exactly_the_covering_team_and_is_recorded(pipeline) -> None:
    before = len(pipeline.messages())
    await pipeline.produce(as_bytes(shooting("IT-JORDAN-1", JORDAN)))
    pipeline.wait_for_messages(before + 2)
    time.sleep(1.0)  # a third (wrong) alert would land now
    new = pipeline.messages()[before:]
    activation = activation_id_for("minneapolis", "eido", "IT-JORDAN-1")
    # P2: the covering street team on shift (Saturday evening on the worker's clock) and gvi-outreach
    assert sorted((m["recipient"], m["title"]) for m in new) == [
        ("gvi-outreach-lead", "VIGIL GVI: Person shot - Jordan"), ("vi-north-nearnorth-lead", "VIGIL: Person shot - Jordan")]
    assert all(f"Ref {activation}" in m["body"] for m in new)
    kinds = _timeline_kinds(pipeline, activation, want=7)
    # and F2: the street team's family contact, a task due in 48 hours
    assert sorted(kinds) == ["decided", "delivery", "delivery", "event_received", "intent", "intent", "task"]
    tasks = [(r.team, r.task_kind) for r in pipeline.store.records(activation) if r.kind == "task"]
    assert tasks == [("vi-north-nearnorth", "family_contact")]
    deliveries = {(r.team, r.status) for r in pipeline.store.records(activation) if r.kind == "delivery"}
    assert deliveries == {("vi-north-nearnorth", "delivered"), ("gvi-outreach", "delivered")}


async def test_non_shooting_call_produces_no_alert(pipeline) -> None:
    before = len(pipeline.messages())
    traffic = build_eido("IT-MVA-1", "2026-07-04T22:05:00-05:00", apco="MVA", internal_text="Motor Vehicle Accident (P)", lat=JORDAN[0], lon=JORDAN[1])
    # same key: the worker reads the non-shooting before the marker shooting behind it
    await pipeline.produce(as_bytes(traffic), as_bytes(shooting("IT-MARKER-1", MIDTOWN_PHILLIPS)))
    pipeline.wait_for_messages(before + 2)
    time.sleep(1.0)
    new = pipeline.messages()[before:]
    assert sorted(m["recipient"] for m in new) == ["gvi-outreach-lead", "vi-south-phillips-lead"]
    assert pipeline.store.records(activation_id_for("minneapolis", "eido", "IT-MVA-1")) == []


async def test_cad_resend_does_not_alert_twice(pipeline) -> None:
    before = len(pipeline.messages())
    first = shooting("IT-RESEND-1", CAMDEN, updated_at="2026-07-04T23:00:00-05:00")
    resend = shooting("IT-RESEND-1", CAMDEN, updated_at="2026-07-04T23:04:00-05:00")
    await pipeline.produce(as_bytes(first), as_bytes(resend), as_bytes(shooting("IT-MARKER-2", POWDERHORN)))
    pipeline.wait_for_messages(before + 4)
    time.sleep(1.0)
    new = pipeline.messages()[before:]
    resent = activation_id_for("minneapolis", "eido", "IT-RESEND-1")
    assert sorted(m["recipient"] for m in new if f"Ref {resent}" in m["body"]) == ["gvi-outreach-lead", "vi-north-camden-lead"]
    assert len(new) == 4  # two teams for the re-sent shooting, once each; two for the marker
    # both versions are in the review timeline
    assert _timeline_kinds(pipeline, resent, want=6).count("event_received") == 2


async def test_malformed_document_is_dead_lettered_with_its_reason(pipeline) -> None:
    before = len(pipeline.messages())
    await pipeline.produce(b'{"incidentComponent": {"$id": "IT-BAD-1"', as_bytes(shooting("IT-MARKER-3", DOWNTOWN)))
    pipeline.wait_for_messages(before + 1)
    letters = [json.loads(raw) for raw in await pipeline.read_topic(pipeline.topics.dlq)]
    bad = [letter for letter in letters if "IT-BAD-1" in letter["excerpt"]]
    assert len(bad) == 1
    assert (bad[0]["source"], bad[0]["reason"]) == ("eido", "invalid_json")
    assert pipeline.worker.alive()


def test_worker_probes_answer_from_its_running_loop(pipeline) -> None:
    """/healthz and /readyz beside /metrics: the loop beats (stream/ops/health.py) and the partitions are held."""
    import urllib.request

    base = pipeline.worker.metrics_url().removesuffix("/metrics")
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as live:
        assert live.status == 200
        assert live.read().decode().startswith("event loop beat ")
    with urllib.request.urlopen(f"{base}/readyz", timeout=5) as ready:
        assert ready.status == 200
        assert ready.read().decode().startswith("ready: event loop beat ")
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as scrape:
        assert "vigil_event_loop_delay_seconds " in scrape.read().decode()
