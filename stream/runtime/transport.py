"""The Faust app, adjusted: its consumer is Vigil's (stream/runtime/consumer.py: our fetch wait, and offsets
committed only below records every one of which was handled, across rebalances), and side services (the
CAD consumer) start and stop with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import faust
from faust.transport.drivers.aiokafka import Transport

from stream.runtime.consumer import VigilTransport


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
        # called as a revoke begins, before Faust waits for every record in flight (see _on_partitions_revoked)
        self.before_revoke: list[Callable[[], None]] = []

    def _new_transport(self) -> Transport:
        return VigilTransport(self.conf.broker_consumer, self)

    async def _on_partitions_revoked(self, revoked: Any) -> None:
        """Run the ``before_revoke`` hooks, then Faust's revoke. Faust's waits for every record an agent has
        begun (``wait_empty``) before its ``on_partitions_revoked`` signal: a delivery held minutes by a rate
        limit held the revoke as long, the group went on without this worker, and the partition's next owner
        sent what this one then sent too (the kill drill's duplicates). The consumer has forgotten the revoked
        partitions' offsets by now, so what a hook acks is never committed here."""
        for hook in self.before_revoke:
            hook()
        await super()._on_partitions_revoked(revoked)

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
