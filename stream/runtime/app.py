"""The Faust application: thin agents that decode, call the pure core, and produce.

Topics: ``cad.eido`` in; ``events``, ``intents``, ``timeline``, ``outcomes``, ``dlq`` inside.
At-least-once, agent concurrency 1 (faust #606), and our own consumer fetch wait instead of Faust's
hard-coded 1.5 s (Tansu holds a fetch for its whole wait even when data is there).

Metrics (stream.metrics.WorkerMetrics): the alert latency is measured without a clock of its own. Each
record an input causes carries that input's Kafka timestamp (events from cad.eido or hospital.arrivals,
intents from their events record, escalations from the tick that fired them), so dispatch observes "first
recipient reached − the intent record's timestamp". In stream-time mode timestamps are the scenario's,
and the latency is not observed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import faust
import structlog
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from notifiers.apprise_adapter import AppriseNotifier, RedeliveryPolicy
from reviews.store import ReviewStore
from stream.core.activations import Config, CoreState, Outcome, advance, handle_ack, handle_event, overdue, prune
from stream.core.state_codec import STATE_LIMIT_BYTES, fit_state, load_state
from stream.core.deployment import Deployment
from stream.model.events import AckMessage, CoreInput, DeadLetter, EventKind, NotificationIntent, ShootingEvent, Skipped, stable_id
from stream.ops.health import LoopHealth
from stream.feeds.ingest import excerpt, ingest_cad
from stream.ops.kafka import DEFAULT_PARTITIONS, Topics
from stream.ops.logs import bound_ids
from stream.ops.metrics import WorkerMetrics, install_faust_sensors
from stream.runtime.redelivery import REDELIVERY_HEADER, Redelivery
from stream.runtime.review_sink import TimelineWriter
from stream.model.timeline import AlertDelivered, TimelineRecord, decode_timeline

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
Decoded = TypeVar("Decoded", bound=BaseModel)
TICK = CoreInput(type="tick").model_dump_json().encode()
PRUNE_EVERY = timedelta(minutes=10)
JUST_BEFORE = timedelta(microseconds=1)  # escalations due strictly before an input fire before it, as in replay
LAG_EVERY_S = 5.0


def utc_now() -> datetime:
    """The wall clock, for the shell only; the core is always handed its ``now``."""
    return datetime.now(UTC)


def kafka_time(event: faust.types.EventT) -> float | None:
    """A record's Kafka timestamp (unix seconds), or None when it has none (-1 from the broker)."""
    timestamp = event.message.timestamp
    return timestamp if timestamp and timestamp > 0 else None


def running_clock(start: datetime, rate: float = 1.0) -> Clock:
    """A clock that starts at ``start`` and runs ``rate`` times the real pace (the demo replays an
    evening live; drills and tests run deadlines faster)."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=(time.monotonic() - began) * rate)


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


class VigilApp(faust.App):
    """A Faust app whose consumers use ``fetch_max_wait_ms`` from Vigil's settings."""

    fetch_max_wait_ms: int = 10

    def _new_transport(self) -> Transport:
        return VigilTransport(self.conf.broker_consumer, self)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs to run."""

    bootstrap: str
    db_url: str
    data_dir: Path
    app_id: str = "vigil"
    topics: Topics = Topics()
    partitions: int = DEFAULT_PARTITIONS
    fetch_max_wait_ms: int = 10
    ready_file: Path | None = None
    clock_start: datetime | None = None  # demos and drills: the worker's clock starts here and runs
    clock_rate: float = 1.0  # drills and tests: how many times faster than real time it runs
    # Replays and drills through real workers: the clock is the input records' timestamps (stream time,
    # as Kafka Streams' stream-time punctuation), never the wall; a driver sends timestamped ticks.
    stream_time: bool = False
    dispatch_concurrency: int = 64  # intents being delivered at once (a slow phone delays no other)
    redelivery: RedeliveryPolicy = RedeliveryPolicy()  # an intent that reached nobody is sent again (gateway outages)
    # where tables keep their state locally: memory (tests, demo: rebuilt from the changelog at start) or
    # rocksdb:// (production: kept in data_dir, so a restart reads only the changelog's tail)
    table_store: str = "memory://"
    # /metrics for Prometheus, served from a thread of its own: None serves nothing, 0 picks a free port
    # (written to ``<ready_file>.metrics``)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # Faust's own sensors (vigil_faust_*): off by default, they cost the alert path. Measured with
    # load_tests/bench_e2e at 200 CAD events/s: p99 130-143 ms with them, 60-68 ms without.
    faust_sensors: bool = False


def build_app(
    settings: WorkerSettings,
    deployment: Deployment,
    notifier: AppriseNotifier,
    store: ReviewStore,
    clock: Clock = utc_now,
    registry: CollectorRegistry | None = None,
    metrics: WorkerMetrics | None = None,
    health: LoopHealth | None = None,
) -> VigilApp:
    """Build the Faust app and its agents around the given core config, notifier and store.

    Metrics go to ``metrics`` (give the same object to the notifier as its observer), else to new ones on
    ``registry``; Faust's own sensors go to the same registry. With ``health``, a task on the loop beats
    every second and the first completed rebalance marks the worker ready (the /healthz and /readyz probes)."""
    app = VigilApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store=settings.table_store,
        datadir=str(settings.data_dir),
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_rebalance_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        producer_linger=0.0,
        web_enabled=False,
        table_cleanup_interval=3600.0,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    if settings.clock_start is not None:
        clock = running_clock(settings.clock_start, settings.clock_rate)
    if metrics is None:
        metrics = WorkerMetrics(registry if registry is not None else CollectorRegistry())
    if settings.faust_sensors:
        install_faust_sensors(app, metrics.registry)

    cad_topic = app.topic(settings.topics.cad, value_type=bytes, key_type=bytes)
    hospital_topic = app.topic(settings.topics.hospital_arrivals, value_type=bytes, key_type=bytes)
    events_topic = app.topic(settings.topics.events, value_type=bytes, key_type=bytes)
    intents_topic = app.topic(settings.topics.intents, value_type=bytes, key_type=bytes)
    timeline_topic = app.topic(settings.topics.timeline, value_type=bytes, key_type=bytes)
    outcomes_topic = app.topic(settings.topics.outcomes, value_type=bytes, key_type=bytes)
    dlq_topic = app.topic(settings.topics.dlq, value_type=bytes, key_type=bytes)

    # intent id → delivery status; its changelog makes "never send twice" survive a restart.
    dispatched = app.Table("dispatched-intents", partitions=settings.partitions, key_type=str, value_type=str)

    async def dead_letter(stage: str, raw: bytes, exc: Exception) -> None:
        # An agent that raises stops consuming for good: anything unexpected becomes a dead letter.
        log.exception("stage.failed", stage=stage)
        letter = DeadLetter(source=stage, reason=f"{stage}_failed", detail=f"{type(exc).__name__}: {exc}"[:500], excerpt=excerpt(raw), received_at=clock())
        await dlq_topic.send(key=stage.encode(), value=letter.model_dump_json().encode())
        metrics.feeds.dead_letter(stage, letter.reason)

    async def decode_or_dead_letter(stage: str, raw: bytes, model: type[Decoded]) -> Decoded | None:
        # an internal record that does not decode is dead-lettered, never allowed to stop the agent
        try:
            return model.model_validate_json(raw)
        except Exception as exc:  # noqa: BLE001 - see dead_letter
            await dead_letter(stage, raw, exc)
            return None

    stream_time: dict[str, float] = {}  # agent → latest record timestamp seen (stream time only runs forward)

    def now_of(agent: str, event: faust.types.EventT) -> datetime:
        """The moment an agent handles a record: the worker's clock, or in stream-time mode the latest
        record timestamp that agent has seen."""
        if not settings.stream_time:
            return clock()
        latest = max(stream_time.get(agent, 0.0), event.message.timestamp or 0.0)
        stream_time[agent] = latest
        return datetime.fromtimestamp(latest, UTC)

    def carried(event: faust.types.EventT, now: datetime) -> float | None:
        """The timestamp of what an input record causes: in stream-time mode its moment;
        otherwise the input's own Kafka timestamp, carried on to the intents so that dispatch measures
        the alert latency from the input's arrival on Kafka."""
        return now.timestamp() if settings.stream_time else kafka_time(event)

    def arrived(event: faust.types.EventT) -> float | None:
        # in stream-time mode record timestamps are the scenario's: the feed is alive now, on the wall clock
        return None if settings.stream_time else kafka_time(event)

    @app.agent(cad_topic, concurrency=1)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            with metrics.timed("ingest"):
                raw, now = event.value, now_of("ingest", event)
                metrics.feeds.seen("cad", arrived(event))
                try:
                    result = ingest_cad(raw, deployment.classification, now)
                except Exception as exc:  # noqa: BLE001 - see dead_letter
                    await dead_letter("ingest", raw, exc)
                    continue
                metrics.ingest.count("eido", result)
                if isinstance(result, Skipped):
                    continue  # not a shooting: dropped by design, never an error
                if isinstance(result, DeadLetter):
                    log.warning("ingest.dead_letter", reason=result.reason, detail=result.detail)
                    await dlq_topic.send(key=result.source.encode(), value=result.model_dump_json().encode())
                    metrics.feeds.dead_letter("ingest", result.reason)
                else:
                    with bound_ids(event_id=result.event_id, ref=result.ref):
                        log.info("ingest.shooting", kind=result.kind.value, source=result.source)
                        # keyed by jurisdiction: one city's events stay in order on one partition
                        await events_topic.send(key=result.jurisdiction.encode(),
                                                value=CoreInput(type="event", event=result).model_dump_json().encode(),
                                                timestamp=carried(event, now))

    @app.agent(hospital_topic, concurrency=1)
    async def hospital_ingest(stream: faust.StreamT[bytes]) -> None:
        # The MLLP listener already parsed and stripped the message; this re-checks the record's shape.
        async for event in stream.events():
            with metrics.timed("ingest"):
                raw, now = event.value, now_of("hospital_ingest", event)
                metrics.feeds.seen("hospital", arrived(event))
                try:
                    arrival = ShootingEvent.model_validate_json(raw)
                    if arrival.kind is not EventKind.GSW_ARRIVAL or arrival.jurisdiction != deployment.jurisdiction:
                        raise ValueError(f"not a {deployment.jurisdiction} gsw_arrival record")
                except Exception as exc:  # noqa: BLE001 - see dead_letter
                    await dead_letter("hospital_ingest", raw, exc)
                    continue
                with bound_ids(event_id=arrival.event_id, ref=arrival.ref):
                    log.info("ingest.arrival", hospital=arrival.hospital)
                    await events_topic.send(key=arrival.jurisdiction.encode(),
                                            value=CoreInput(type="event", event=arrival).model_dump_json().encode(),
                                            timestamp=carried(event, now))

    # The core's state per jurisdiction, in a table whose changelog lets a successor take over open
    # activations and deadlines. Decoded states are cached while the table holds the very bytes we wrote.
    core_table = app.Table("core-state", partitions=settings.partitions, key_type=str, value_type=bytes)
    decoded: dict[str, tuple[bytes, CoreState]] = {}
    config = Config(deployment.coverage, deployment.protocols)
    acks_topic = app.topic(settings.topics.acks, value_type=bytes, key_type=bytes)
    jurisdiction_key = deployment.jurisdiction.encode()

    def state_of(jurisdiction: str) -> CoreState:
        raw = core_table.get(jurisdiction)
        cached = decoded.get(jurisdiction)
        if cached is not None and cached[0] is raw:
            return cached[1]
        state = load_state(raw)
        decoded[jurisdiction] = (raw, state)  # type: ignore[assignment]
        return state

    # intents handed to the producer since the last save; the save waits until the broker has them
    intents_sending: list[Any] = []

    async def publish(outcome: Outcome, input_timestamp: float | None) -> None:
        # intents first: the alert path does not wait for the bookkeeping behind it
        for intent in outcome.intents:
            # stream time: the intent's own moment; otherwise its input's arrival on Kafka (for the latency)
            timestamp = intent.created_at.timestamp() if settings.stream_time else input_timestamp
            intents_sending.append(await intents_topic.send(key=intent.intent_id.encode(), value=intent.model_dump_json().encode(),
                                                            timestamp=timestamp))
        for entry in outcome.timeline:
            await timeline_topic.send(key=entry.activation_id.encode(), value=entry.model_dump_json().encode())

    last_prune: dict[str, datetime] = {}

    async def save(jurisdiction: str, state: CoreState) -> None:
        if intents_sending:
            # The save holds the event loop for milliseconds, and the producer that sends the intents runs
            # on the same loop: saving first held the alerts back by as long (up to ~25 ms measured at 200
            # CAD events/s). Waiting costs the alerts nothing, the next input a broker round trip; and the
            # state never reaches the changelog before the intents it decided reach the broker.
            sending, intents_sending[:] = list(intents_sending), []
            for failed in await asyncio.gather(*sending, return_exceptions=True):
                if isinstance(failed, BaseException):
                    log.error("intent.send_failed", error=type(failed).__name__)
        raw, shed = fit_state(state)
        if shed or len(raw) > STATE_LIMIT_BYTES:
            log.error("core_state.too_large", jurisdiction=jurisdiction, shed=shed, bytes=len(raw), activations=len(state.activations))
        core_table[jurisdiction] = raw
        decoded[jurisdiction] = (raw, state)

    @app.agent(events_topic, concurrency=1)
    async def activations(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            raw = event.value
            try:
                item = CoreInput.model_validate_json(raw)
                jurisdiction = item.event.jurisdiction if item.event else deployment.jurisdiction
                state, now = state_of(jurisdiction), now_of("activations", event)
                # escalations due strictly before an input fire before it (an ack at the deadline is in time)
                moment = now if item.type == "tick" else now - JUST_BEFORE
                due = advance(state, moment, config)
                outcome = Outcome()
                if item.type == "event" and item.event is not None:
                    outcome = handle_event(state, item.event, now, config)
                elif item.type == "ack" and item.ack is not None:
                    outcome = handle_ack(state, item.ack.ref, item.ack.team, now, config, item.ack.response)
                    if outcome.problem:
                        log.warning("ack.refused", problem=outcome.problem, ref=item.ack.ref, team=item.ack.team)
            except Exception as exc:  # noqa: BLE001 - see dead_letter
                await dead_letter("activation", raw, exc)
                continue
            # Publish, then save. The alert does not wait for the state's JSON; and should the worker
            # die in between, the input comes again, the unsaved state makes the same intents (same ids)
            # and dispatch sends none twice, where saving first would have made the retry a duplicate.
            input_timestamp = kafka_time(event)  # an escalation's input is the tick that fired it
            await publish(due, input_timestamp)
            await publish(outcome, input_timestamp)
            pruned = 0
            if now - last_prune.get(jurisdiction, now - PRUNE_EVERY) >= PRUNE_EVERY:
                pruned, last_prune[jurisdiction] = prune(state, now), now
            if due.intents or due.timeline or outcome.intents or outcome.timeline or pruned:
                await save(jurisdiction, state)  # a tick that changes nothing writes nothing
            metrics.decided(due, state)
            metrics.decided(outcome, state)
            metrics.core_state(jurisdiction, len(state.activations), overdue(state, moment))
            escalated: dict[str, list[NotificationIntent]] = {}
            for intent in due.intents:
                escalated.setdefault(intent.activation_id, []).append(intent)
            for activation_id, fired in escalated.items():
                with bound_ids(activation_id=activation_id):
                    log.info("escalation.fired", teams=[i.team for i in fired], escalated=[i.escalated_team for i in fired])
            with bound_ids(activation_id=outcome.activation_id):
                if item.type == "event":
                    log.info("activation.decided", event_id=item.event.event_id if item.event else None,
                             teams=[i.team for i in outcome.intents])
                elif item.type == "ack":
                    log.info("ack.handled", team=item.ack.team if item.ack else None,
                             response=item.ack.response if item.ack else None, escalated=[i.team for i in outcome.intents])
            metrics.stage("activation", time.perf_counter() - started)

    @app.agent(acks_topic, concurrency=1)
    async def acks(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            raw, now = event.value, now_of("acks", event)
            ack = await decode_or_dead_letter("acks", raw, AckMessage)
            if ack is None:
                continue
            await events_topic.send(key=jurisdiction_key, value=CoreInput(type="ack", ack=ack).model_dump_json().encode(),
                                    timestamp=carried(event, now))

    if not settings.stream_time:

        @app.timer(interval=1.0)
        async def clock_tick() -> None:
            # through the partitioned events topic: the owner of the jurisdiction's state fires its escalations
            await events_topic.send(key=jurisdiction_key, value=TICK)

    # Delivery runs as one task per intent, so a slow or failing phone holds up no other alert. Records
    # are acked by hand when their delivery is recorded; Faust commits only up to the first unacked
    # offset, so a crash re-reads every intent whose delivery was not recorded (and the table skips the
    # ones that were).
    in_flight: dict[str, asyncio.Task[None]] = {}
    slots = asyncio.Semaphore(settings.dispatch_concurrency)

    redelivery_rnd = random.Random()

    async def deliver(intent: NotificationIntent, at: datetime, event: faust.types.EventT, redelivery: Redelivery) -> None:
        input_timestamp = kafka_time(event)
        delivery = await notifier.send(intent)
        if delivery.status == "failed":
            # Nobody reached (a gateway down longer than the notifier's retries): the intent goes back on its
            # topic to be sent again in a moment, and only then is this record acked (a crash in between
            # re-reads this one; the table's "retrying:N" lets exactly one of the two through).
            first_failed_at = redelivery.first_failed_at or time.time()
            if settings.redelivery.allows(first_failed_at, time.time()):
                following = Redelivery(redelivery.attempt + 1, first_failed_at,
                                       time.time() + settings.redelivery.delay(redelivery.attempt + 1, redelivery_rnd))
                # the original timestamp: the latency still counts from the input's arrival, outage included
                sent = await intents_topic.send(key=event.key, value=event.value, timestamp=input_timestamp,
                                                headers={REDELIVERY_HEADER: following.encode()})
                await sent
                dispatched[intent.intent_id] = following.status
                log.warning("dispatch.redelivery_scheduled", attempt=following.attempt,
                            failing_for_s=round(time.time() - first_failed_at, 1))
                return
            log.error("dispatch.redelivery_gave_up", attempts=redelivery.attempt + 1, failing_for_s=round(time.time() - first_failed_at, 1))
        # in stream-time mode the intent's timestamp is a scenario moment, not its input's arrival
        if not settings.stream_time and input_timestamp and delivery.reached_at is not None:
            metrics.latency(delivery.reached_at - input_timestamp)
        dispatched[intent.intent_id] = delivery.status
        record = AlertDelivered(
            entry_id=stable_id("tl", intent.activation_id, "delivery", intent.intent_id),
            activation_id=intent.activation_id,
            at=at,
            intent_id=intent.intent_id,
            team=intent.team,
            status=delivery.status,  # type: ignore[arg-type]
            recipients=delivery.recipients,
        )
        payload = record.model_dump_json().encode()
        await outcomes_topic.send(key=intent.intent_id.encode(), value=payload)
        await timeline_topic.send(key=intent.activation_id.encode(), value=payload)

    @app.agent(intents_topic, concurrency=1)
    async def dispatch(stream: faust.StreamT[bytes]) -> None:
        manual = stream.noack()

        async def run(event: faust.types.EventT, intent: NotificationIntent, at: datetime, redelivery: Redelivery, flight: str,
                      holding: bool) -> None:
            # this task's own context: its log lines (the notifier's too) carry this intent's ids only
            with bound_ids(activation_id=intent.activation_id, intent_id=intent.intent_id):
                started = time.perf_counter()
                try:
                    if not holding:  # a redelivery waits its turn without a slot, then takes one
                        await asyncio.sleep(max(0.0, redelivery.not_before - time.time()))
                        # the round that scheduled this one may still be writing "retrying:N" after producing it
                        previous = in_flight.get(f"{intent.intent_id}#{redelivery.attempt - 1}")
                        if previous is not None:
                            await asyncio.wait([previous])
                        if dispatched.get(intent.intent_id) != redelivery.expected_status:
                            log.info("dispatch.duplicate", attempt=redelivery.attempt)
                            return
                        await slots.acquire()
                        holding = True
                    await deliver(intent, at, event, redelivery)
                except Exception as exc:  # noqa: BLE001 - see dead_letter
                    await dead_letter("dispatch", event.value, exc)
                finally:
                    metrics.stage("dispatch", time.perf_counter() - started)
                    in_flight.pop(flight, None)
                    if holding:
                        slots.release()
                    await manual.ack(event)

        async def ack_after(delivery: asyncio.Task[None], event: faust.types.EventT) -> None:
            await asyncio.wait([delivery])
            await manual.ack(event)

        async for event in manual.events():
            intent = await decode_or_dead_letter("dispatch", event.value, NotificationIntent)
            redelivery = Redelivery.of(event)
            # a first record goes through when the intent was never handled; redelivery N only when the
            # table says the intent waits for exactly that one
            flight = f"{intent.intent_id}#{redelivery.attempt}" if intent is not None else ""
            # (a redelivery's table check waits for its turn: see run)
            if intent is not None and flight in in_flight:
                # re-read (after a rebalance) while its delivery still runs: acked only once that delivery is
                # recorded, for a crash in between would otherwise leave a committed offset and no alert
                log.info("dispatch.duplicate", activation_id=intent.activation_id, intent_id=intent.intent_id, attempt=redelivery.attempt)
                asyncio.create_task(ack_after(in_flight[flight], event))
                continue
            if intent is None or (redelivery.attempt == 0 and dispatched.get(intent.intent_id) is not None):
                if intent is not None:
                    log.info("dispatch.duplicate", activation_id=intent.activation_id, intent_id=intent.intent_id, attempt=redelivery.attempt)
                await manual.ack(event)
                continue
            holding = redelivery.attempt == 0
            if holding:
                await slots.acquire()  # back-pressure: at most dispatch_concurrency deliveries at once
            # the task inherits this event as its context, so its table write goes to the right changelog partition
            in_flight[flight] = asyncio.create_task(run(event, intent, now_of("dispatch", event), redelivery, flight, holding))

    @app.on_partitions_revoked.connect
    async def _finish_deliveries(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # a delivery under way when its partition moves to another worker would be sent there again
        pending = list(in_flight.values())
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    @app.on_partitions_revoked.connect
    async def _forget_state_gauges(sender: Any, revoked: Any, **kwargs: Any) -> None:
        metrics.forget_core_states()

    async def hand_back(event: faust.types.EventT) -> None:
        # the same record again at the partition's end, and only once the broker has it (see stream.review_sink)
        sent = await timeline_topic.send(key=event.key, value=event.value)
        await sent

    @app.agent(timeline_topic, concurrency=1)
    async def review_sink(stream: faust.StreamT[bytes]) -> None:
        # Records are acked once stored: a database outage keeps them waiting (and retried with backoff)
        # while the sink goes on taking records, so the consumer every agent shares never stalls.
        writer = TimelineWriter(store, ack=stream.ack, hand_back=hand_back, flowing=app.flow_control.is_active)
        async for events in stream.noack_take(200, within=0.2):
            started = time.perf_counter()
            batch: list[tuple[faust.types.EventT, TimelineRecord | None]] = []
            for event in events:
                try:
                    batch.append((event, decode_timeline(event.value)))
                except Exception as exc:  # noqa: BLE001 - see dead_letter
                    await dead_letter("review_sink", event.value, exc)
                    batch.append((event, None))
            await writer.write(batch)
            metrics.stage("review_sink", time.perf_counter() - started, len(events))

    # the agents' input topics; changelogs are left out (a worker writes its own, and reads them only to recover)
    source_topics = {settings.topics.cad, settings.topics.hospital_arrivals, settings.topics.events, settings.topics.intents,
                     settings.topics.acks, settings.topics.timeline}

    @app.timer(interval=LAG_EVERY_S)
    async def consumer_lag() -> None:
        # highwater − position: what the consumer has not fetched yet (records Faust fetched and still
        # buffers are not in it; vigil_faust_topic_partition_offset_commited has the committed offsets)
        lags: dict[tuple[str, int], int] = {}
        try:
            assigned = [tp for tp in app.consumer.assignment() if tp.topic in source_topics]
            for tp in assigned:
                try:
                    position = await asyncio.wait_for(app.consumer.position(tp), timeout=1.0)
                    highwater = app.consumer.highwater(tp)
                except Exception:  # noqa: BLE001 - a partition moving away mid-rebalance: 0 until next time
                    position = highwater = None
                lags[(tp.topic, tp.partition)] = (highwater - position) if position is not None and highwater is not None else 0
        except Exception as exc:  # noqa: BLE001 - a gauge must never stop the worker
            log.debug("consumer_lag.unavailable", error=type(exc).__name__)
            return
        metrics.lag(lags)

    if health is not None:
        loop_health = health

        # wall-clock, also under --stream-time: it tells whether the loop runs, not what time the records say
        @app.timer(interval=loop_health.beat_every)
        async def heartbeat() -> None:
            loop_health.beat()

        @app.on_rebalance_complete.connect
        async def _mark_health_ready(sender: Any, **kwargs: Any) -> None:
            loop_health.mark_ready()

    if settings.ready_file is not None:
        ready_file = settings.ready_file

        @app.on_rebalance_complete.connect
        async def _mark_ready(sender: Any, **kwargs: Any) -> None:
            ready_file.write_text(clock().isoformat(), encoding="utf-8")

    return app
