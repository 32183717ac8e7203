"""The dispatch agent: every record of the intents topic through the delivery stages (notifiers/dispatch.py),
one task per intent, so a slow or failing phone holds up no other alert.

Records are acked by hand when their intent's delivery is recorded and on the broker. Faust commits only
up to the first unacked offset (see ``stream.runtime.app._Consumer``), so a crash re-reads every intent
whose delivery was not recorded, and the dispatch log (the table) skips the ones that were.

- At most ``concurrency`` deliveries run at once (back-pressure on the stream).
- An intent re-read (after a rebalance) while its delivery still runs is acked only when that delivery is
  recorded: a crash in between would otherwise leave a committed offset and no alert.
- A redelivery (an intent that reached nobody, produced again with a header) waits for its moment without
  holding a slot, and for the round that scheduled it to finish writing the log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import structlog

from notifiers.dispatch import Job, Pipeline
from notifiers.redelivery import Redelivery
from stream.model.events import NotificationIntent
from stream.ops.logs import bound_ids
from stream.ops.metrics import WorkerMetrics
from stream.runtime.clocks import AgentClock
from stream.runtime.outputs import DeadLetters, OutputLost, OutputPolicy, Outputs, halt
from stream.runtime.records import Received

log = structlog.get_logger(__name__)


@dataclass
class DispatchAgent:
    """Schedules the delivery stages for each intent record (see the module)."""

    dispatched: Mapping[str, str]  # the dispatch log the stages write (intent id → status)
    pipeline: Pipeline
    dead_letters: DeadLetters
    metrics: WorkerMetrics
    clock: AgentClock
    ack: Callable[[Received], Awaitable[Any]]  # acks a record (Faust's manual ack, in the worker)
    concurrency: int = 64
    policy: OutputPolicy = OutputPolicy()
    stop: Callable[[str], NoReturn] = halt
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # "intent#redelivery" → its delivery
    _jobs: dict[str, Job] = field(default_factory=dict)  # the same keys: what each delivery is
    _slots: asyncio.Semaphore | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        """The delivery slots (made on the running loop)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    async def receive(self, record: Received) -> None:
        """Take one record: start its delivery, or ack it at once (a duplicate, or dead-lettered)."""
        now = self.clock.now("dispatch", record.timestamp)
        try:
            intent = NotificationIntent.model_validate_json(record.value)
        except Exception as exc:  # noqa: BLE001 - an intent that does not decode is dead-lettered
            outputs = Outputs(self.policy)
            await self.dead_letters.failed(outputs, "dispatch", record.value, exc, now)
            await outputs.confirm_or_stop(self.stop, "dispatch")
            await self.ack(record)
            return
        redelivery = Redelivery.of(record)
        flight = f"{intent.intent_id}#{redelivery.attempt}"
        if flight in self.in_flight:
            log.info("dispatch.duplicate", activation_id=intent.activation_id, intent_id=intent.intent_id, attempt=redelivery.attempt)
            asyncio.create_task(self._ack_after(self.in_flight[flight], record))
            return
        if redelivery.attempt == 0 and self.dispatched.get(intent.intent_id) is not None:
            log.info("dispatch.duplicate", activation_id=intent.activation_id, intent_id=intent.intent_id, attempt=0)
            await self.ack(record)
            return
        holding = redelivery.attempt == 0
        if holding:
            await self.slots.acquire()  # back-pressure: at most ``concurrency`` deliveries at once
        job = Job(intent, record.value, redelivery, now, record.timestamp)
        # the task inherits this record's context, so its table writes go to the right changelog partition
        self._jobs[flight] = job
        self.in_flight[flight] = asyncio.create_task(self._deliver(record, job, flight, holding))

    def abandon_unsent(self) -> int:
        """Partitions are moving to other workers: abandon the deliveries that have reached no phone (waiting for
        their turn or on a rate limit, up to minutes in a flood). An abandoned delivery's record is acked, so
        that Faust's rebalance need not wait for it, but never committed (the partition is no longer this
        worker's): its next owner reads it and sends it. Returns how many were abandoned."""
        abandoned = 0
        for flight, task in list(self.in_flight.items()):
            job = self._jobs.get(flight)
            if job is not None and self.pipeline.unsent(job) and not task.done():
                task.cancel()
                abandoned += 1
        return abandoned

    async def finish(self, timeout: float = 5.0) -> None:
        """Abandon what reached no phone (``abandon_unsent``), and wait a while for the others, which would be
        sent again where their partition goes."""
        self.abandon_unsent()
        pending = list(self.in_flight.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def _deliver(self, record: Received, job: Job, flight: str, holding: bool) -> None:
        # this task's own context: its log lines (the notifier's too) carry this intent's ids only
        with bound_ids(activation_id=job.intent.activation_id, intent_id=job.intent.intent_id):
            started = time.perf_counter()
            try:
                if not holding:
                    await self._wait_turn(job)
                    await self.slots.acquire()
                    holding = True
                outputs = Outputs(self.policy)
                await self.pipeline.run(job, outputs)
                await outputs.confirm()
            except asyncio.CancelledError:
                log.info("dispatch.abandoned_unsent", attempt=job.redelivery.attempt)
                await self.ack(record)
                raise
            except OutputLost as exc:
                self.stop(f"dispatch: {exc}")  # the record stays unacked: its delivery is read again
            except Exception as exc:  # noqa: BLE001 - a delivery bug dead-letters the intent, never stops the agent
                outputs = Outputs(self.policy)
                await self.dead_letters.failed(outputs, "dispatch", record.value, exc, job.at)
                await outputs.confirm_or_stop(self.stop, "dispatch")
            finally:
                self.metrics.stage("dispatch", time.perf_counter() - started)
                self.in_flight.pop(flight, None)
                self._jobs.pop(flight, None)
                if holding:
                    self.slots.release()
            await self.ack(record)

    async def _wait_turn(self, job: Job) -> None:
        """A redelivery waits for its moment, and for the round that scheduled it to have written the log."""
        await asyncio.sleep(max(0.0, job.redelivery.not_before - time.time()))
        previous = self.in_flight.get(f"{job.intent.intent_id}#{job.redelivery.attempt - 1}")
        if previous is not None:
            await asyncio.wait([previous])

    async def _ack_after(self, delivery: asyncio.Task[None], record: Received) -> None:
        await asyncio.wait([delivery])
        await self.ack(record)
