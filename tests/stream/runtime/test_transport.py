"""The Faust app's revoke, in-process: Faust's own ``App._on_partitions_revoked`` with the dispatch agent wired
in as the worker wires it."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP as TopicPartition

from notifiers.dispatch import pipeline
from stream.runtime.records import Received
from stream.runtime.transport import VigilApp
from tests.stream.runtime.fakes import FakeTopic
from tests.stream.runtime.test_dispatch import SOON, HeldPhones, Rig, intent

INTENTS = TopicPartition("intents", 0)


class AssignedConsumer:
    """What Faust's revoke asks of the consumer before it waits: an assignment, and a flow to stop."""

    def assignment(self) -> set[Any]:
        return {INTENTS}

    def stop_flow(self) -> None:
        pass

    def pause_partitions(self, tps: Any) -> None:
        pass


async def test_a_revoke_abandons_held_deliveries_before_faust_waits_for_the_records_in_flight(monkeypatch) -> None:
    # Faust waits for every record an agent has begun (wait_empty) before its on_partitions_revoked signal: a
    # delivery held by a rate limit held the revoke for as long, the group went on without the worker, and
    # the partition's next owner sent it too (kill drill, seed 2: 8 duplicates)
    rig = Rig(HeldPhones())
    rig.agent.pipeline = pipeline(rig.log, rig.phones, rig.intents, FakeTopic("outcomes"), rig.timeline, SOON)
    app = VigilApp("test-revoke", broker="kafka://127.0.0.1:1", web_enabled=False)
    app.consumer = AssignedConsumer()  # type: ignore[assignment]
    app.before_revoke.append(rig.agent.abandon_unsent)  # as stream.runtime.app wires the dispatch agent
    waited: list[int] = []

    async def wait_empty(consumer: Any, logger: Any) -> None:  # Faust's: until every record begun is acked
        async def acked() -> None:
            while len(rig.acked) < 1:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(acked(), timeout=2.0)
        waited.append(len(rig.acked))

    async def nothing(*args: Any) -> None:
        pass

    monkeypatch.setattr(app, "_consumer_wait_empty", wait_empty)
    monkeypatch.setattr(app, "_producer_flush", nothing)
    monkeypatch.setattr(app.tables, "on_partitions_revoked", lambda revoked: None)
    await rig.agent.receive(Received(intent(1)))
    await asyncio.sleep(0.01)  # held by the phone's rate limit
    await app._on_partitions_revoked({INTENTS})
    assert waited == [1] and rig.phones.got == [] and rig.log == {}
    await asyncio.sleep(0.01)
    assert rig.agent.in_flight == {}
