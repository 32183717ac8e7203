"""A diagnostic trace of the worker consumer's offsets, for chaos runs (``VIGIL_TRACE_OFFSETS=1``).

One log line per record Faust hands to the streams (``offsets.fetched``: topic, partition, offset, the
consumer generation it was fetched in), per ack that counts towards a commit (``offsets.acked``, from a
sensor: Faust's compiled stream iterator acks without calling ``Consumer.ack``), per gap Faust sees in the
offsets it delivers (``offsets.gap``), per commit (``offsets.committed``), per seek to the committed offsets
(``offsets.seek``), per resume of source partitions and per rebalance callback. With the agents' own
lines (``ingest.shooting``, ``activation.decided``) this says which hop dropped an input and how: a record
fetched and never acked, acked without being handled, or committed past while it was still in flight.

Off unless the variable is set; it wraps methods of the worker's consumer class and adds a sensor, nothing else.
"""

from __future__ import annotations

import os
from typing import Any

import faust
import structlog
from faust.sensors import Sensor

log = structlog.get_logger("stream.offsets")
ENV = "VIGIL_TRACE_OFFSETS"


def _short(topic: str) -> str:
    # the chaos runs prefix every topic with the run's id: keep the last dotted part of the name
    return topic.rsplit(".", 1)[-1] if topic.startswith("chaos") else topic


class _AckSensor(Sensor):
    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        log.info("offsets.acked", t=_short(tp.topic), p=tp.partition, o=offset, gen=getattr(message, "generation_id", None))


def install(app: faust.App, consumer_cls: type | None = None) -> bool:
    """With ``VIGIL_TRACE_OFFSETS`` set: wrap the consumer class's offset methods (the worker's
    ``stream.runtime.consumer.VigilConsumer`` unless another is given) with trace lines, and add the ack sensor."""
    if os.environ.get(ENV, "") in ("", "0"):
        return False
    if consumer_cls is None:
        from stream.runtime.consumer import VigilConsumer as consumer_cls
    app.sensors.add(_AckSensor())
    original_to_message = consumer_cls._to_message
    original_commit = consumer_cls._commit
    original_seek = consumer_cls.perform_seek
    original_revoked = consumer_cls.on_partitions_revoked
    original_assigned = consumer_cls.on_partitions_assigned
    original_add_gap = consumer_cls._add_gap
    original_resume = consumer_cls.resume_partitions

    def _to_message(self: Any, tp: Any, record: Any) -> Any:
        message = original_to_message(self, tp, record)
        log.info("offsets.fetched", t=_short(tp.topic), p=tp.partition, o=record.offset, gen=message.generation_id,
                 flow=self.flow_active)
        return message

    async def _commit(self: Any, offsets: Any) -> bool:
        done = await original_commit(self, offsets)
        log.info("offsets.committed", ok=done, offsets={f"{_short(tp.topic)}:{tp.partition}": o for tp, o in offsets.items()})
        return done

    async def perform_seek(self: Any) -> None:
        await original_seek(self)
        log.info("offsets.seek", committed={f"{_short(tp.topic)}:{tp.partition}": o for tp, o in self._committed_offset.items()
                                            if not self._is_changelog_tp(tp)})

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        log.info("offsets.revoked", tps=sorted(f"{_short(tp.topic)}:{tp.partition}" for tp in revoked),
                 gen=self.app.consumer_generation_id)
        await original_revoked(self, revoked)
        log.info("offsets.revoked_done")

    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> None:
        log.info("offsets.assigned", tps=sorted(f"{_short(tp.topic)}:{tp.partition}" for tp in assigned), gen=generation_id)
        await original_assigned(self, assigned, generation_id)

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        log.warning("offsets.gap", t=_short(tp.topic), p=tp.partition, start=offset_from, end=offset_to,
                    committed=self._committed_offset.get(tp), read=self._read_offset.get(tp))
        await original_add_gap(self, tp, offset_from, offset_to)

    def resume_partitions(self: Any, tps: Any) -> None:
        names = sorted(f"{_short(tp.topic)}:{tp.partition}" for tp in tps if not self._is_changelog_tp(tp))
        if names:
            log.info("offsets.resume", tps=names)
        original_resume(self, tps)

    consumer_cls._add_gap = _add_gap
    consumer_cls.resume_partitions = resume_partitions
    consumer_cls._to_message = _to_message
    consumer_cls._commit = _commit
    consumer_cls.perform_seek = perform_seek
    consumer_cls.on_partitions_revoked = on_partitions_revoked
    consumer_cls.on_partitions_assigned = on_partitions_assigned
    return True
