"""The live board's actions through a real worker and broker, as `vigil web` publishes them on the acks topic: a
re-page reaches the team's phone again saying so; an answer on the team's behalf is recorded with who gave it;
a close is recorded by the worker that owns the activation."""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaProducer

from stream.core.activations import activation_id_for
from stream.model.events import AckMessage, BoardAction
from stream.model.timeline import AckRecorded, BoardActed
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, as_bytes, shooting

pytestmark = pytest.mark.integration


async def publish(pipeline, message: AckMessage | BoardAction) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(pipeline.topics.acks, message.model_dump_json().encode(), key=message.ref.encode())
    finally:
        await producer.stop()


def stored(pipeline, activation: str, kind: type, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in pipeline.store.records(activation) if isinstance(r, kind)]
        if found:
            return found
        time.sleep(0.1)
    return []


async def test_a_repage_reaches_the_team_again_and_an_answer_on_its_behalf_is_recorded(pipeline) -> None:
    before = len(pipeline.messages())
    await pipeline.produce(as_bytes(shooting("IT-BOARD-1", JORDAN)))
    pipeline.wait_for_messages(before + 2)
    activation = activation_id_for("minneapolis", "eido", "IT-BOARD-1")
    before = len(pipeline.messages())
    await publish(pipeline, BoardAction(action="repage", ref=activation, team="vi-north-nearnorth", by="dns1", request_id="req-1"))
    await publish(pipeline, BoardAction(action="repage", ref=activation, team="vi-north-nearnorth", by="dns1", request_id="req-1"))
    again = pipeline.wait_for_messages(before + 1)[before:]
    time.sleep(1.0)  # the same request again must not page twice
    again = pipeline.messages()[before:]
    assert [(m["recipient"], m["body"].splitlines()[0]) for m in again] == [("vi-north-nearnorth-lead", "Paged again by DNS.")]
    assert [(r.action, r.team, r.by) for r in stored(pipeline, activation, BoardActed)] == [("repage", "vi-north-nearnorth", "dns1")]

    await publish(pipeline, AckMessage(ref=activation, team="vi-north-nearnorth", response="on_my_way", by="dns1"))
    [answer] = stored(pipeline, activation, AckRecorded)
    assert (answer.team, answer.response, answer.by, answer.person) == ("vi-north-nearnorth", "on_my_way", "dns1", None)


async def test_a_close_reaches_the_worker_and_is_recorded(pipeline) -> None:
    before = len(pipeline.messages())
    await pipeline.produce(as_bytes(shooting("IT-BOARD-2", MIDTOWN_PHILLIPS)))
    pipeline.wait_for_messages(before + 2)
    activation = activation_id_for("minneapolis", "eido", "IT-BOARD-2")
    await publish(pipeline, BoardAction(action="close", ref=activation, by="dns1", request_id="req-2"))
    assert [(r.action, r.by) for r in stored(pipeline, activation, BoardActed)] == [("close", "dns1")]
    # that a close stops the escalation due 10 minutes later (of the worker's clock, which runs at real speed here)
    # is shown on the core: tests/stream/core/test_board_actions.py
