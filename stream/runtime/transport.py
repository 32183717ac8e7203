"""Faust, adjusted: our consumer's fetch wait instead of Faust's hard-coded 1.5 s (Tansu holds a fetch for its
whole wait even when data is there), and a commit that never passes an unacked record at a partition's head."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport


class _ConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts; Faust passes a fixed 1500 ms.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer


class _Consumer(Consumer):
    def _new_offset(self, tp: Any) -> int | None:
        # faust-streaming's head-gap check is off by one: with the committed offset C (the next to read)
        # unacked and C+1... acked, it commits past C. A delivery still running at the head (a slow or
        # rate-limited phone) was then committed, and lost if the worker died before it finished
        # (found by load_tests/chaos.py kill). Gaps Kafka itself leaves (compaction) go to Faust's own handling.
        acked, committed = self._acked[tp], self._committed_offset[tp]
        if acked and committed is not None and not self._gap[tp] and min(acked) > committed:
            return None
        return super()._new_offset(tp)

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class VigilTransport(Transport):
    """The aiokafka transport with Vigil's consumer (configurable fetch wait)."""

    Consumer = _Consumer


class SideService(Protocol):
    """Something that runs beside the app on a thread of its own (the CAD consumer): started with the app,
    stopped with it."""

    def start(self) -> None:
        """Start it (returns at once)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop it and wait (at most ``timeout``)."""


class VigilApp(faust.App):
    """A Faust app whose consumers use ``fetch_max_wait_ms`` from Vigil's settings, with side services that
    start as the app starts (not after its first rebalance and table recovery, as Faust's own services do:
    the CAD consumer joins its group while the app joins its own)."""

    fetch_max_wait_ms: int = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.side_services: list[SideService] = []

    def _new_transport(self) -> Transport:
        return VigilTransport(self.conf.broker_consumer, self)

    async def on_first_start(self) -> None:
        """Start the side services, then what Faust starts."""
        for service in self.side_services:
            service.start()
        await super().on_first_start()

    async def on_stop(self) -> None:
        """Stop the side services, then what Faust stops."""
        for service in self.side_services:
            await asyncio.to_thread(service.stop)
        await super().on_stop()
