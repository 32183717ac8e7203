"""The worker consumer's commits across a rebalance (stream/runtime/consumer.py), driven through Faust's own code.

These run faust-streaming's real consumer machinery -- its fetch loop (``Consumer._drain_messages`` and
``getmany``), ``ack``, ``perform_seek``, ``resume_partitions``, ``resume_flow``, ``commit`` -- and its flow
control, in the order its table recovery calls them at the end of a rebalance (``Recovery.on_recovery_completed``:
``consumer.resume_partitions(source partitions)``, ``await consumer.perform_seek()``,
``app.flow_control.resume()``, ``consumer.resume_flow()``, with the consumer's flow already running since
the changelogs were read). Only the broker side is a fake (``FakeLog``), with aiokafka's semantics: a new
assignment starts fetching at the committed offset, a fetch answers from the position it was sent at, and
``seek_to_committed`` seeks only partitions whose committed offset is above 0. The agent's buffer is a queue
of Faust's flow control (cleared when the flow resumes, as every agent's channel queue is).

The invariant: every offset below a committed one was handled. The kill drill lost whole activations when it
did not hold (docs/chaos.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP as TopicPartition

from stream.runtime.consumer import VigilConsumer
from stream.runtime.transport import VigilApp

TOPIC = "events"
TP = TopicPartition(TOPIC, 0)


class FakeLog:
    """One partition on a broker, as aiokafka sees it: records, a committed offset, a fetch position.

    The timing is the drill's: the first fetch of a resumed partition answers at once; the second is sent
    before the seek to the committed offsets and its answer arrives after the end of the rebalance
    (``answer_late``), as a fetch overlapping the seek's OffsetFetch round trips does on a loaded machine."""

    def __init__(self, records: int, committed: int | None):
        self.records = [ConsumerRecord(TOPIC, 0, n, 0, 0, f"k{n}".encode(), f"v{n}".encode(), None, 2, 2, ()) for n in range(records)]
        self.committed = committed
        self.position = committed or 0  # a new assignment fetches from the committed offset
        self.fetches = 0
        self.second_fetch_sent = asyncio.Event()
        self.answer_late = asyncio.Event()
        self.commits: list[int] = []

    async def fetch(self, active: set[Any], batch: int = 3) -> dict:
        if TP not in active or self.position >= len(self.records):
            await asyncio.sleep(0.005)
            return {}
        records = self.records[self.position:self.position + batch]
        self.position += len(records)
        self.fetches += 1
        if self.fetches == 2:
            self.second_fetch_sent.set()
            await asyncio.wait_for(self.answer_late.wait(), timeout=5.0)
        return {TP: records}

    async def seek_to_committed(self) -> dict:
        # the OffsetFetch round trips; the second fetch, when there is one, is sent meanwhile
        try:
            await asyncio.wait_for(self.second_fetch_sent.wait(), timeout=0.3)
        except TimeoutError:
            pass
        if self.committed and self.committed > 0:  # aiokafka: `if offset and offset > 0: seek_to(...)`
            self.position = self.committed
        return {TP: self.committed}

    def commit(self, offset: int) -> None:
        self.committed = offset
        self.commits.append(offset)


class Agent:
    """An agent's buffer, fed as Faust's conductor feeds it, and the records the agent handled (acked)."""

    def __init__(self, app: VigilApp):
        self.app = app
        self.queue = app.FlowControlQueue(maxsize=4096, clear_on_resume=True)  # as every channel's queue (faust/channels.py)
        self.consumer: Any = None
        self.handled: list[int] = []

    async def deliver(self, message: Any) -> None:
        await self.app.flow_control.acquire()  # the conductor's on_message (faust/transport/conductor.py)
        self.queue.put_nowait(message)

    def take(self) -> Any:
        return self.queue.get_nowait() if not self.queue.empty() else None

    def handle_all(self) -> None:
        while (message := self.take()) is not None:
            self.handled.append(message.offset)
            self.consumer.ack(message)


def harness(log: FakeLog, consumer_cls: type = VigilConsumer) -> tuple[Any, Agent]:
    """A consumer of ``consumer_cls`` whose broker side is ``log``, and the agent it feeds."""

    class Harness(consumer_cls):  # type: ignore[misc, valid-type]
        async def _getmany(self, active_partitions: Any, timeout: float) -> dict:
            return await log.fetch(set(active_partitions or ()))

        async def seek_to_committed(self) -> dict:
            return await log.seek_to_committed()

        async def seek_wait(self, partitions: Any) -> None:
            for tp, offset in partitions.items():
                log.position = offset
                self._read_offset[tp] = offset if offset > 0 else None

        async def _seek(self, partition: Any, offset: int) -> None:
            log.position = offset

        async def earliest_offsets(self, *partitions: Any) -> dict:
            return {tp: 0 for tp in partitions}

        async def _commit(self, offsets: Any) -> bool:
            log.commit(offsets[TP])
            return True

        def assignment(self) -> set:
            return {TP}

        def highwater(self, tp: Any) -> int:
            return len(log.records)

    app = VigilApp("test-consumer-offsets", broker="kafka://127.0.0.1:1", web_enabled=False)
    app.topics.acking_topics.add(TOPIC)  # what subscribing an agent to the topic does (Conductor._update_indices)
    agent = Agent(app)

    async def on_assigned(assigned: Any, generation_id: int = 0) -> None:
        consumer.pause_partitions(assigned)  # App._on_partitions_assigned pauses every assigned partition

    async def on_revoked(revoked: Any) -> None:  # App._on_partitions_revoked
        consumer.stop_flow()
        app.flow_control.suspend()
        consumer.pause_partitions(revoked)
        app.flow_control.clear()

    consumer = Harness(app.transport, callback=agent.deliver, on_partitions_revoked=on_revoked, on_partitions_assigned=on_assigned)
    agent.consumer = consumer
    return consumer, agent


class _Fetcher:
    """What ``_drain_messages`` asks of Faust's fetcher service: whether it was stopped."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()


async def rebalance(consumer: Any, log: FakeLog, generation: int) -> None:
    """The consumer's side of a rebalance that keeps the partition, in Faust's order."""
    app = consumer.app
    app.consumer_generation_id = generation
    await consumer.on_partitions_assigned({TP}, generation)
    # Recovery._restart_recovery: the changelogs are read with the flow running ("Resuming flow...")
    app.flow_control.resume()
    consumer.resume_flow()
    # Recovery.on_recovery_completed
    consumer.resume_partitions({TP})
    await consumer.perform_seek()
    app.flow_control.resume()
    consumer.resume_flow()
    log.answer_late.set()


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def run(log: FakeLog, body: Any) -> tuple[Any, Agent]:
    consumer, agent = harness(log)
    drain = asyncio.create_task(consumer._drain_messages(_Fetcher()))
    try:
        await rebalance(consumer, log, generation=1)
        await body(consumer, agent)
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
    return consumer, agent


def unhandled_below_commit(log: FakeLog, agent: Agent, first: int) -> list[int]:
    return [offset for offset in range(first, max(log.commits, default=first)) if offset not in agent.handled]


async def test_every_record_below_a_commit_was_handled_after_a_rebalance() -> None:
    """The kill drill's lost activations: records fetched right after the resume, before the seek lands, are
    dropped from the agent's buffer when Faust resumes its flow; the commit must never pass them."""
    log = FakeLog(records=20, committed=5)  # records 0..4 were handled before this rebalance

    async def body(consumer: Any, agent: Agent) -> None:
        async def agent_runs() -> bool:
            agent.handle_all()
            return bool(agent.handled) and agent.handled[-1] == 19

        deadline = asyncio.get_running_loop().time() + 3.0
        while not await agent_runs() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await consumer.commit()

    _, agent = await run(log, body)
    assert log.commits, "nothing committed"
    lost = unhandled_below_commit(log, agent, first=5)
    assert not lost, f"committed {log.commits[-1]}, but records {lost} were never handled (handled: {agent.handled})"


async def test_records_come_in_order_from_the_committed_offset_after_a_rebalance() -> None:
    """Each record reaches the agent once, in order, from the committed offset: none before the seek."""
    log = FakeLog(records=12, committed=5)

    async def body(consumer: Any, agent: Agent) -> None:
        await until(lambda: (agent.handle_all() or True) and bool(agent.handled) and agent.handled[-1] == 11)

    _, agent = await run(log, body)
    assert agent.handled == list(range(5, 12))


async def test_a_partition_without_a_committed_offset_is_read_from_its_start() -> None:
    """aiokafka does not seek a partition that has no committed offset; a rebalance that kept it would go
    on from where the fetcher stood, past the records it cleared from the agent's buffer."""
    log = FakeLog(records=8, committed=None)
    log.position = 4  # fetched 0..3 before the rebalance; nobody handled or committed them

    async def body(consumer: Any, agent: Agent) -> None:
        await until(lambda: (agent.handle_all() or True) and bool(agent.handled) and agent.handled[-1] == 7)
        await consumer.commit()

    _, agent = await run(log, body)
    assert agent.handled == list(range(8))
    assert log.commits == [8]


async def test_an_ack_after_the_revoke_commits_nothing() -> None:
    """Faust forgets a revoked partition's committed offset (and its acks) before the streams drain; an
    out-of-order ack then (a delivery finishing while the one before it still runs) must not be committed."""
    log = FakeLog(records=12, committed=5)

    async def body(consumer: Any, agent: Agent) -> None:
        await until(lambda: agent.queue.qsize() >= 3)
        in_flight = [agent.take() for _ in range(3)]  # 5, 6, 7 being delivered (dispatch runs them concurrently)
        await consumer.on_partitions_revoked({TP})
        consumer.ack(in_flight[2])  # 7 finishes first, while the revoke waits for the streams
        await consumer.commit()

    await run(log, body)
    assert log.commits == [], f"committed {log.commits} while 5 and 6 were still being delivered"


async def test_a_seek_in_the_middle_of_a_rebalance_releases_nothing() -> None:
    """Faust's getmany seeks when a fetch returns while its flow is stopped (the group may not answer
    committed offsets then); that seek must neither release the source partitions nor set their heads."""
    log = FakeLog(records=12, committed=5)
    consumer, agent = harness(log)
    drain = asyncio.create_task(consumer._drain_messages(_Fetcher()))
    try:
        consumer.app.consumer_generation_id = 1
        await consumer.on_partitions_assigned({TP}, 1)
        committed, log.committed = log.committed, None  # the group does not answer yet
        await consumer.perform_seek()  # getmany's seek, nothing held
        log.committed = committed
        assert consumer._committed_offset[TP] is None  # no head made up from a missing answer
        consumer.app.flow_control.resume()
        consumer.resume_flow()
        consumer.resume_partitions({TP})  # the recovery resumes the source partitions: still held
        await asyncio.sleep(0.1)
        assert agent.queue.empty() and log.fetches == 0, "a record was fetched before the rebalance's seek"
        await consumer.perform_seek()
        consumer.app.flow_control.resume()
        consumer.resume_flow()
        log.answer_late.set()
        await until(lambda: (agent.handle_all() or True) and bool(agent.handled) and agent.handled[-1] == 11)
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
    assert agent.handled == list(range(5, 12))


@pytest.mark.parametrize("acked, committed, expected", [
    ([5, 6, 7], 5, 8),      # the head and what follows: commit after them
    ([6, 7], 5, None),      # the head (5) still being handled: nothing
    ([7], None, None),      # the head unknown (revoked, or not sought yet): nothing
    ([3, 4, 5, 6], 5, 7),   # acks from before the last commit do not hold it back
])
def test_a_commit_never_passes_the_head(acked: list[int], committed: int | None, expected: int | None) -> None:
    consumer, _ = harness(FakeLog(records=10, committed=committed))
    consumer._acked[TP] = list(acked)
    consumer._acked_index[TP] = set(acked)
    consumer._committed_offset[TP] = committed
    assert consumer._filter_committable_offsets([TP]).get(TP) == expected
