"""The worker's Kafka consumer: faust-streaming's aiokafka consumer with Vigil's fetch wait and with its
offset handling made safe across rebalances (docs/chaos.md, "what the runs found").

An offset is committed only when every record before it was handled. faust-streaming 0.15.3 breaks that in
three ways, each of which lost alerts in ``load_tests/chaos.py kill``:

1. **Records delivered before the seek, then dropped from the agents' buffers.** At the end of a
   rebalance Faust's table recovery resumes the source partitions, then seeks them to their committed
   offsets, then resumes its flow control, with the consumer's flow already running
   (``tables/recovery.py``, ``Recovery.on_recovery_completed``: ``consumer.resume_partitions(...)``,
   ``await consumer.perform_seek()``, ``app.flow_control.resume()``, ``consumer.resume_flow()``; the same
   in ``_resume_streams``). Records fetched right after the resume reach the agents' buffers; when the
   seek lands, ``perform_seek`` resets the read offset to the committed offset C; ``flow_control.resume()``
   then clears every agent's buffer (its queues are ``clear_on_resume``), dropping those records
   unhandled. The next record the fetch loop delivers, at X, is a jump from C, which ``_drain_messages``
   records as a *gap* C+1..X (``_add_gap``) that ``_new_offset`` counts as acked; the copies the seek
   fetches again are below the read offset and dropped (``DROPPED MESSAGE ROFF``). The commit then
   passes records nobody handled (traced in the kill drill: events 321..330 of partition 1, fetched at
   38.68-38.74 s, seek at 38.738 s, gap 319..331, commit 332 at 41.1 s, never decided).
   Here: source partitions stay paused from a rebalance until the seek has landed and Faust has resumed
   its flow (``resume_flow``, which it calls right after ``flow_control.resume()``).
2. **A head nobody knows.** ``Consumer.on_partitions_revoked`` forgets the committed offsets (and the acks)
   of every revoked partition before the streams are drained; an ack after that (the record an agent was
   still handling, an out-of-order delivery) was committed with no check at all, past records still in
   flight. And ``_new_offset`` lets the head record itself be passed (``min(acked) - committed > 1``).
   Here: nothing is committed for a partition whose committed offset is unknown, nor past its head, and a
   gap is never counted as acked (it holds the commit back and is logged as ``consumer.offset_gap``).
3. **Partitions without a committed offset have no head.** aiokafka's ``seek_to_committed`` only seeks
   partitions whose committed offset is above 0 (those stay at the fetch position), and Faust then knows no
   committed offset for them, so (2) would never let them commit. Here they are sought to their earliest
   offset (``consumer_auto_offset_reset='earliest'``), which becomes their head.

``stream.runtime.offset_trace`` logs every fetch, ack, gap, seek and commit when ``VIGIL_TRACE_OFFSETS=1``.
"""

from __future__ import annotations

from typing import Any

import structlog
from faust.transport.consumer import ensure_TPset
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport

log = structlog.get_logger(__name__)


class VigilConsumerThread(AIOKafkaConsumerThread):
    """aiokafka's consumer thread with the fetch wait from Vigil's settings."""

    def _create_worker_consumer(self, transport: Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts; Faust passes a fixed 1500 ms.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer


class VigilConsumer(Consumer):
    """Faust's aiokafka consumer; commits only offsets below which every record was handled (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (1) True from each rebalance until the seek to the committed offsets has landed; source partitions
        # Faust resumes meanwhile wait in _held_until_seek
        self._seek_due = True
        self._rebalances = 0
        self._held_until_seek: set[Any] = set()

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return VigilConsumerThread(self, loop=self.loop, beacon=self.beacon)

    # --- (1) no record reaches a stream before the seek --------------------------------------------------

    def _positions_stale(self) -> None:
        self._seek_due = True
        self._rebalances += 1

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._positions_stale()
        # a partition whose buffer was full is fetched whether paused or not (getmany's _buffered_partitions)
        self._buffered_partitions.difference_update(ensure_TPset(revoked))
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        self._positions_stale()
        # acks that came after a revoke (a delivery abandoned or finished while its partition moved) belong to
        # records that are read again from the committed offset: left here, they could carry a later commit
        # past a re-read record still in flight
        for tp in ensure_TPset(assigned):
            self._acked.pop(tp, None)
            self._acked_index.pop(tp, None)
        await super().on_partitions_assigned(assigned, generation_id)

    def resume_partitions(self, tps: Any) -> None:
        tps = ensure_TPset(tps)
        if self._seek_due:
            held = {tp for tp in tps if not self._is_changelog_tp(tp)}
            self._held_until_seek |= held
            tps = tps - held
        super().resume_partitions(tps)

    def pause_partitions(self, tps: Any) -> None:
        tps = ensure_TPset(tps)
        self._held_until_seek -= tps
        super().pause_partitions(tps)

    async def perform_seek(self) -> None:
        rebalances = self._rebalances
        # The seek that ends a rebalance comes right after Faust asked to resume the source partitions (held
        # here). Faust also seeks from getmany when a fetch returns while its flow is stopped, in the middle of
        # a rebalance, when the group may not answer committed offsets yet: that one settles nothing.
        ends_rebalance = bool(self._held_until_seek)
        await super().perform_seek()
        if not ends_rebalance:
            return
        await self._seek_uncommitted()
        if rebalances == self._rebalances:  # no rebalance began while seeking: positions are the committed ones
            self._seek_due = False

    def resume_flow(self) -> None:
        # The held partitions go on only now: Faust resumes its flow control just before this
        # (``app.flow_control.resume()``), and that clears every agent's buffer. A record delivered between
        # the seek and this point would be dropped unhandled, with the read offset already past it.
        super().resume_flow()
        if not self._seek_due and self._held_until_seek:
            held, self._held_until_seek = self._held_until_seek, set()
            assigned = self.assignment()
            self.resume_partitions({tp for tp in held if tp in assigned})  # no longer held: straight through

    # --- (3) partitions without a committed offset ------------------------------------------------------

    async def _seek_uncommitted(self) -> None:
        # Faust's perform_seek stores a committed offset of 0 as None, and aiokafka did not seek those
        unsought = [tp for tp in self.assignment() if not self._is_changelog_tp(tp) and not self._committed_offset.get(tp)]
        if not unsought:
            return
        earliest = await self.earliest_offsets(*unsought)
        starts = {tp: max(int(earliest.get(tp) or 0), 0) for tp in unsought}
        await self.seek_wait(starts)
        for tp, start in starts.items():
            self._committed_offset[tp] = start  # the head: nothing before it to wait for
            self._read_offset[tp] = start or None

    # --- (2) never past the head ------------------------------------------------------------------------

    def _new_offset(self, tp: Any) -> int | None:
        acked, committed = self._acked[tp], self._committed_offset[tp]
        if not acked:
            return None
        if committed is None:
            # revoked (Faust forgot the head, and the acks before it) or not sought yet: the next owner, or
            # the seek, starts from the last commit; a commit now could pass a record still in flight
            return None
        if min(acked) > committed:
            # the head record (the committed offset is the next to read) is still being handled: Faust's own
            # check (min(acked) - committed > 1) let C+1.. be committed past C
            return None
        return super()._new_offset(tp)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        # Faust counts a jump in the offsets it delivers as acked (for compacted topics and transaction
        # markers). Vigil's source topics have neither, so a jump only ever means records that were not
        # delivered (as in (1)): it must hold the commit back, never carry it past them.
        log.error("consumer.offset_gap", topic=tp.topic, partition=tp.partition, first=offset_from, last=offset_to,
                  committed=self._committed_offset.get(tp))


class VigilTransport(Transport):
    """The aiokafka transport with Vigil's consumer."""

    Consumer = VigilConsumer
