"""The ingest agents: CAD documents and hospital arrivals in, shooting events out, keyed by jurisdiction.

CAD sends every incident, and nearly all are not shootings (98% of a year's documents): they are parsed,
counted and dropped. So the CAD agent takes records in batches (``take_events``), handles each, then
confirms the batch's few outputs on the broker once (stream/runtime/outputs.py): the shell costs a
batch what it used to cost a record, and no input is acked before what it decided is on the broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import structlog

from stream.feeds.classify import Classification
from stream.feeds.ingest import ingest_cad
from stream.model.events import CoreInput, DeadLetter, EventKind, IngestOutcome, ShootingEvent, Skipped
from stream.model.sinks import Sink
from stream.ops.logs import bound_ids
from stream.ops.metrics import WorkerMetrics
from stream.runtime.clocks import AgentClock
from stream.runtime.outputs import DeadLetters, OutputPolicy, Outputs, halt
from stream.runtime.records import Received

log = structlog.get_logger(__name__)


@dataclass
class CadIngest:
    """EIDO documents to shooting events on the events topic; non-shootings counted and dropped, bad documents
    dead-lettered with their reason."""

    classification: Classification
    events: Sink
    dead_letters: DeadLetters
    metrics: WorkerMetrics
    clock: AgentClock
    policy: OutputPolicy = OutputPolicy()
    stop: Callable[[str], NoReturn] = halt

    async def handle(self, batch: Sequence[Received]) -> None:
        """Handle a batch; returns once everything it decided is on the broker (else the worker stops)."""
        started = time.perf_counter()
        outputs = Outputs(self.policy)
        results: list[IngestOutcome] = []
        for record in batch:
            result = await self._one(record, outputs)
            if result is not None:
                results.append(result)
        await outputs.confirm_or_stop(self.stop, "cad ingest")
        if batch:
            self.metrics.feeds.seen("cad", self.clock.arrived(batch[-1].timestamp))
        self.metrics.ingest.count_all("eido", results)
        self.metrics.stage("ingest", time.perf_counter() - started, len(batch))

    async def _one(self, record: Received, outputs: Outputs) -> IngestOutcome | None:
        now = self.clock.now("ingest", record.timestamp)
        try:
            result = ingest_cad(record.value, self.classification, now)
        except Exception as exc:  # noqa: BLE001 - a parser bug dead-letters the document, never stops the agent
            await self.dead_letters.failed(outputs, "ingest", record.value, exc, now)
            return None
        if isinstance(result, Skipped):
            return result  # not a shooting: dropped by design, never an error
        if isinstance(result, DeadLetter):
            log.warning("ingest.dead_letter", reason=result.reason, detail=result.detail)
            await self.dead_letters.reject(outputs, result, "ingest")
            return result
        if record.header(DRILL_HEADER) == b"1":  # `vigil produce --drill`: labelled DRILL all the way to the phones
            result = result.model_copy(update={"drill": True})
        with bound_ids(event_id=result.event_id, ref=result.ref):
            log.info("ingest.shooting", kind=result.kind.value, source=result.source, drill=result.drill)
        await _put_event(outputs, self.events, result, self.clock.carried(record.timestamp, now))
        return result


DRILL_HEADER = "vigil-drill"  # a CAD record with this header set to 1 is a drill (ShootingEvent.drill)


@dataclass
class HospitalIngest:
    """Arrivals the MLLP listener already parsed and stripped of identity: their shape checked again, then on
    to the events topic."""

    jurisdiction: str
    events: Sink
    dead_letters: DeadLetters
    metrics: WorkerMetrics
    clock: AgentClock
    policy: OutputPolicy = OutputPolicy()
    stop: Callable[[str], NoReturn] = halt

    async def handle(self, record: Received) -> None:
        """Handle one arrival; returns once its event (or dead letter) is on the broker."""
        started = time.perf_counter()
        now = self.clock.now("hospital_ingest", record.timestamp)
        self.metrics.feeds.seen("hospital", self.clock.arrived(record.timestamp))
        outputs = Outputs(self.policy)
        try:
            arrival = ShootingEvent.model_validate_json(record.value)
            if arrival.kind is not EventKind.GSW_ARRIVAL or arrival.jurisdiction != self.jurisdiction:
                raise ValueError(f"not a {self.jurisdiction} gsw_arrival record")
        except Exception as exc:  # noqa: BLE001 - a bad record is dead-lettered with its reason
            await self.dead_letters.failed(outputs, "hospital_ingest", record.value, exc, now)
        else:
            # One clock for every time of an activation: the listener stamped its own (wall) clock, which is not
            # the worker's under --clock-start or --stream-time; the CAD path is stamped by the worker too.
            arrival = arrival.model_copy(update={"received_at": now})
            with bound_ids(event_id=arrival.event_id, ref=arrival.ref):
                log.info("ingest.arrival", hospital=arrival.hospital)
            await _put_event(outputs, self.events, arrival, self.clock.carried(record.timestamp, now))
        await outputs.confirm_or_stop(self.stop, "hospital ingest")
        self.metrics.stage("ingest", time.perf_counter() - started)


async def _put_event(outputs: Outputs, events: Sink, event: ShootingEvent, timestamp: float | None) -> None:
    # keyed by jurisdiction: one city's events stay in order on one partition
    await outputs.put(events, event.jurisdiction.encode(), CoreInput(type="event", event=event).model_dump_json().encode(), timestamp)
