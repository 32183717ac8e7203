"""The Faust app: topics, tables and the agents wired together; each agent's logic is a module of its own.

Topics: ``cad.eido`` and ``hospital.arrivals`` in; ``acks`` from `vigil web` (answers and board actions);
``standdowns`` (compacted, read whole by every worker: stream/runtime/standdown_feed.py); ``events``, ``intents``,
``timeline``, ``outcomes``, ``dlq`` inside. CAD documents are read by a consumer and thread of their own
(stream/runtime/cad_consumer.py), off the alert path's event loop; the other topics by Faust agents. At-least-once, agent concurrency 1 (faust #606), and our own
consumer (stream/runtime/transport.py). Every agent confirms what an input decided on the broker before
the input is acked (stream/runtime/outputs.py).

Metrics (stream/ops/metrics.py): the alert latency is measured without a clock of its own. Each record an
input causes carries that input's Kafka timestamp (events from cad.eido or hospital.arrivals, intents from
their events record, escalations from the tick that fired them), so dispatch observes "first recipient
reached − the intent record's timestamp". In stream-time mode timestamps are the scenario's, and the
latency is not observed.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from notifiers.dispatch import Notifier, pipeline
from notifiers.redelivery import RedeliveryPolicy
from stream.core.deployment import Deployment
from stream.core.state import Config
from stream.model.events import CoreInput
from stream.model.sinks import Sink
from stream.ops.health import LoopHealth
from stream.ops.kafka import DEFAULT_PARTITIONS, Topics
from stream.ops.metrics import WorkerMetrics, install_faust_sensors
from stream.ops.topics import TABLES
from stream.runtime.acks import AckForwarder
from stream.runtime.activation import ActivationAgent
from stream.runtime.cad_consumer import CadConsumer, CadConsumerSettings
from stream.runtime.clocks import AgentClock, Clock, running_clock, utc_now
from stream.runtime.dispatch import DispatchAgent
from stream.runtime.ingest import CadIngest, HospitalIngest
from stream.runtime.outputs import DeadLetters, Outputs, halt
from stream.runtime.records import Received
from stream.runtime.review_sink import ReviewSink, TimelineStore, TimelineWriter
from stream.runtime.standdown_feed import StanddownFeed
from stream.runtime.transport import VigilApp

CORE_STATE_TABLE, DISPATCHED_TABLE = TABLES  # their changelogs are provisioned by name (stream/ops/topics.py)
TICK = CoreInput(type="tick").model_dump_json().encode()
LAG_EVERY_S = 5.0
READY_WAIT_S = 60.0  # how long "ready" waits for the CAD consumer to join (then says ready anyway: the probes tell)


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
    ingest_batch: int = 2000  # CAD records read at once (a backlog drains in batches; a single call is not held)
    # replicas of the topics the worker makes (stream/ops/topics.py); None: from the cluster's size
    replication: int | None = None
    # start even when a topic would lose acknowledged records on a broker's loss (stream/runtime/worker.py)
    allow_unsafe_topics: bool = False


def build_app(
    settings: WorkerSettings,
    deployment: Deployment,
    notifier: Notifier,
    store: TimelineStore,
    clock: Clock = utc_now,
    registry: CollectorRegistry | None = None,
    metrics: WorkerMetrics | None = None,
    health: LoopHealth | None = None,
    channels: Mapping[str, tuple[str, ...]] | None = None,
) -> VigilApp:
    """Build the Faust app and its agents around the given core config, notifier and store. ``channels``
    (person → their channels, from the contacts file) lets teams with rosters page their people.

    Metrics go to ``metrics`` (give the same object to the notifier as its observer), else to new ones on
    ``registry``; Faust's own sensors go to the same registry. With ``health``, a task on the loop beats
    every second and the first completed rebalance marks the worker ready (the /healthz and /readyz probes)."""
    app = new_app(settings)
    if settings.clock_start is not None:
        clock = running_clock(settings.clock_start, settings.clock_rate)
    if metrics is None:
        metrics = WorkerMetrics(registry if registry is not None else CollectorRegistry())
    if settings.faust_sensors:
        install_faust_sensors(app, metrics.registry)
    topics = {name: app.topic(getattr(settings.topics, name), value_type=bytes, key_type=bytes)
              for name in ("hospital_arrivals", "acks", "events", "intents", "timeline", "outcomes", "dlq")}
    agent_clock = AgentClock(clock, settings.stream_time)
    dead_letters = DeadLetters(topics["dlq"], metrics.feeds)
    cad = _cad_consumer(app, settings, deployment, metrics, clock)
    _ingest_agents(app, deployment, topics, dead_letters, metrics, agent_clock)
    feed = StanddownFeed(settings.bootstrap, settings.topics.standdowns, settings.fetch_max_wait_ms)
    app.side_services.append(feed)
    _activation_agent(app, settings, deployment, topics, dead_letters, metrics, agent_clock, channels or {}, feed)
    _dispatch_agent(app, settings, notifier, topics, dead_letters, metrics, agent_clock)
    _review_sink_agent(app, store, topics, dead_letters, metrics, agent_clock)
    _timers(app, settings, deployment, topics["events"], metrics, health, clock, cad.ready)
    return app


def new_app(settings: WorkerSettings) -> VigilApp:
    """The Faust app with Vigil's settings (at-least-once, raw bytes, short group timeouts for Tansu)."""
    app = VigilApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store=settings.table_store,
        datadir=str(settings.data_dir),
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        # the worker makes its topics first (stream/runtime/worker.py); this is for any Faust still makes
        topic_replication_factor=settings.replication or 1,
        # a record counts as sent once every in-sync replica has it (Faust's default, said here on purpose)
        producer_acks=-1,
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
        # an output the broker cannot take must fail in seconds, not Faust's 20 minutes: the agents confirm
        # what an input decided before acking it, and stop the worker when it does not arrive
        producer_request_timeout=30.0,
        # Faust checks a recovered table against the changelog's end offset, which Tansu reports short
        # (the last batch's base offset + 1; docs/library-notes.md): it crashed workers in the kill drill.
        # The check guards state kept on disk; memory tables are rebuilt from the changelog whole.
        recovery_consistency_check=not settings.table_store.startswith("memory"),
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app


def _cad_consumer(app: VigilApp, settings: WorkerSettings, deployment: Deployment, metrics: WorkerMetrics, clock: Clock) -> CadConsumer:
    """The CAD ingest on a consumer and thread of its own (stream/runtime/cad_consumer.py), started and stopped
    with the app (a side service: it joins its group while the app joins its own)."""
    names = settings.topics

    def make_ingest(sink: Callable[[str], Sink]) -> CadIngest:
        # the thread's own clock object: stream time is per agent, and this one lives on another thread
        return CadIngest(deployment.classification, sink(names.events), DeadLetters(sink(names.dlq), metrics.feeds), metrics,
                         AgentClock(clock, settings.stream_time))

    consumer = CadConsumer(CadConsumerSettings(settings.bootstrap, names.cad, f"{settings.app_id}.cad-ingest", settings.app_id,
                                               settings.ingest_batch, settings.fetch_max_wait_ms), make_ingest,
                           on_lag=lambda lags: metrics.lag(lags, consumer="cad"))

    app.side_services.append(consumer)
    return consumer


def _ingest_agents(app: VigilApp, deployment: Deployment, topics: dict[str, Any], dead_letters: DeadLetters,
                   metrics: WorkerMetrics, clock: AgentClock) -> None:
    hospital = HospitalIngest(deployment.jurisdiction, topics["events"], dead_letters, metrics, clock)
    acks = AckForwarder(topics["events"], dead_letters, deployment.jurisdiction, clock)

    @app.agent(topics["hospital_arrivals"], concurrency=1)
    async def hospital_ingest(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(hospital.handle, Received.of(event), "hospital_ingest", dead_letters)

    @app.agent(topics["acks"], concurrency=1)
    async def forward_acks(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(acks.handle, Received.of(event), "acks", dead_letters)


def _activation_agent(app: VigilApp, settings: WorkerSettings, deployment: Deployment, topics: dict[str, Any],
                      dead_letters: DeadLetters, metrics: WorkerMetrics, clock: AgentClock, channels: Mapping[str, tuple[str, ...]],
                      feed: StanddownFeed) -> None:
    # The core's state per jurisdiction, in a table whose changelog lets a successor take over open
    # activations and deadlines.
    table = app.Table(CORE_STATE_TABLE, partitions=settings.partitions, key_type=str, value_type=bytes)
    config = Config(deployment.coverage, deployment.protocols, rosters=deployment.rosters, channels=channels)
    agent = ActivationAgent(table, topics["intents"], topics["timeline"], dead_letters, config, deployment.jurisdiction, metrics, clock,
                            standdowns=feed.current)

    @app.agent(topics["events"], concurrency=1)
    async def activations(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await guarded(agent.handle, Received.of(event), "activation", dead_letters)

    @app.on_partitions_revoked.connect
    async def _forget_state_gauges(sender: Any, revoked: Any, **kwargs: Any) -> None:
        metrics.forget_core_states()


def _dispatch_agent(app: VigilApp, settings: WorkerSettings, notifier: Notifier, topics: dict[str, Any], dead_letters: DeadLetters,
                    metrics: WorkerMetrics, clock: AgentClock) -> None:
    # intent id → delivery status; its changelog makes "never send twice" survive a restart
    dispatched = app.Table(DISPATCHED_TABLE, partitions=settings.partitions, key_type=str, value_type=str)
    stages = pipeline(dispatched, notifier, topics["intents"], topics["outcomes"], topics["timeline"], settings.redelivery,
                      latency=None if settings.stream_time else metrics.latency)
    acks: dict[str, Any] = {}

    async def ack(record: Received) -> None:
        await acks["stream"].ack(record.event)

    agent = DispatchAgent(dispatched, stages, dead_letters, metrics, clock, ack, settings.dispatch_concurrency)

    @app.agent(topics["intents"], concurrency=1)
    async def dispatch(stream: faust.StreamT[bytes]) -> None:
        manual = acks["stream"] = stream.noack()
        async for event in manual.events():
            await guarded(agent.receive, Received.of(event), "dispatch", dead_letters, ack)

    app.before_revoke.append(agent.abandon_unsent)  # before Faust waits for the records in flight

    @app.on_partitions_revoked.connect
    async def _finish_deliveries(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await agent.finish()


def _review_sink_agent(app: VigilApp, store: TimelineStore, topics: dict[str, Any], dead_letters: DeadLetters,
                       metrics: WorkerMetrics, clock: AgentClock) -> None:
    timeline = topics["timeline"]

    async def hand_back(event: Any) -> None:
        # the same record again at the partition's end, and only once the broker has it (see stream.runtime.review_sink)
        await (await timeline.send(key=event.key, value=event.value))

    acks: dict[str, Any] = {}

    async def ack(event: Any) -> None:
        await acks["stream"].ack(event)

    sink = ReviewSink(TimelineWriter(store, ack=ack, hand_back=hand_back, flowing=app.flow_control.is_active), dead_letters, metrics, clock)

    @app.agent(timeline, concurrency=1)
    async def review_sink(stream: faust.StreamT[bytes]) -> None:
        # Records are acked once stored: a database outage keeps them waiting (and retried with backoff)
        # while the sink goes on taking records, so the consumer every agent shares never stalls.
        acks["stream"] = stream
        async for events in stream.noack_take(200, within=0.2):
            await sink.handle([Received.of(event) for event in events])


def _timers(app: VigilApp, settings: WorkerSettings, deployment: Deployment, events: Any, metrics: WorkerMetrics,
            health: LoopHealth | None, clock: Clock, cad_ready: threading.Event) -> None:
    jurisdiction_key = deployment.jurisdiction.encode()
    if not settings.stream_time:

        @app.timer(interval=1.0)
        async def clock_tick() -> None:
            # through the partitioned events topic: the owner of the jurisdiction's state fires its escalations
            await events.send(key=jurisdiction_key, value=TICK)

    # the agents' input topics; changelogs are left out (a worker writes its own, and reads them only to recover)
    topics = settings.topics
    sources = {topics.hospital_arrivals, topics.events, topics.intents, topics.acks, topics.timeline}

    @app.timer(interval=LAG_EVERY_S)
    async def consumer_lag() -> None:
        lags = await _lags(app, sources)
        if lags is not None:
            metrics.lag(lags)

    @app.on_rebalance_complete.connect
    async def _settle_heap(sender: Any, **kwargs: Any) -> None:
        _once_cad_ready(app, cad_ready, freeze_heap)

    if health is not None:

        # wall-clock, also under --stream-time: it tells whether the loop runs, not what time the records say
        @app.timer(interval=health.beat_every)
        async def heartbeat() -> None:
            health.beat()

        @app.on_rebalance_complete.connect
        async def _mark_health_ready(sender: Any, **kwargs: Any) -> None:
            _once_cad_ready(app, cad_ready, health.mark_ready)

    if settings.ready_file is not None:
        ready_file = settings.ready_file

        @app.on_rebalance_complete.connect
        async def _mark_ready(sender: Any, **kwargs: Any) -> None:
            _once_cad_ready(app, cad_ready, lambda: ready_file.write_text(clock().isoformat(), encoding="utf-8"))


async def guarded(handle: Callable[[Received], Awaitable[None]], record: Received, stage: str, dead_letters: DeadLetters,
                   ack: Callable[[Received], Awaitable[None]] | None = None) -> None:
    """An agent's handling of one record, never raising out of the agent's loop: Faust would restart the agent
    and its stream would ack the record on the way out, skipping it without a word. The agents catch what they
    expect (bad records are dead-lettered, a broker that will not take an output stops the worker); anything
    else is a bug, and the record goes to the dead-letter topic with the error instead (then is acked by
    ``ack``, for a stream acked by hand)."""
    try:
        await handle(record)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        outputs = Outputs()
        await dead_letters.failed(outputs, stage, record.value, exc, utc_now())
        await outputs.confirm_or_stop(halt, stage)
        if ack is not None:
            await ack(record)


def freeze_heap() -> None:
    """Move everything the worker has built so far (config, H3 cell sets, Faust, aiokafka) out of the garbage
    collector's sight: a full collection walked all of it, 125-150 ms with the event loop stopped, the slowest
    alerts under load (load_tests/bench_e2e). What comes after is collected as before."""
    gc.collect()
    gc.freeze()


def _once_cad_ready(app: VigilApp, cad_ready: threading.Event, then: Callable[[], Any]) -> None:
    """Call ``then`` once the CAD consumer has joined its group too (in a task of its own: waiting for it must
    not hold up the app's rebalance)."""

    async def wait() -> None:
        await asyncio.to_thread(cad_ready.wait, READY_WAIT_S)
        then()

    app.add_future(wait())


async def _lags(app: VigilApp, sources: set[str]) -> dict[tuple[str, int], int] | None:
    """highwater − position per assigned partition: what the consumer has not fetched yet (records Faust
    fetched and still buffers are not in it)."""
    lags: dict[tuple[str, int], int] = {}
    try:
        for tp in [tp for tp in app.consumer.assignment() if tp.topic in sources]:
            try:
                position = await asyncio.wait_for(app.consumer.position(tp), timeout=1.0)
                highwater = app.consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - a partition moving away mid-rebalance: 0 until next time
                position = highwater = None
            lags[(tp.topic, tp.partition)] = (highwater - position) if position is not None and highwater is not None else 0
    except Exception:  # noqa: BLE001 - a gauge must never stop the worker (None: leave it as it was)
        return None
    return lags
