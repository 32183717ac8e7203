"""Vigil's Prometheus metrics, registered on an injected registry (each test gets a fresh one).

The names and labels are a contract: infra/prometheus (alert and recording rules) and the Grafana
dashboard read exactly these. Every metric is in the ``vigil`` namespace:

- ingest (worker, HL7 listener, HTTP ingest): ``vigil_ingest_received_total{source}``,
  ``vigil_ingest_shootings_total{source,kind}``, ``vigil_ingest_filtered_total{source,reason}``,
  ``vigil_ingest_rejected_total{source,reason}``
- feeds and dead letters (``FeedMetrics``): ``vigil_feed_last_message_timestamp_seconds{feed}``,
  ``vigil_dead_letters_total{stage,reason}``
- the worker (``WorkerMetrics``): ``vigil_stage_seconds{stage}``, ``vigil_alert_latency_seconds``,
  ``vigil_deliveries_total{channel,outcome}``, ``vigil_delivery_retries_total{channel}``,
  ``vigil_rate_limited_total{channel}``, ``vigil_intents_total{step}``, ``vigil_escalations_total``,
  ``vigil_acks_total{response,in_time}``, ``vigil_time_to_ack_seconds``, ``vigil_coverage_gaps_total``,
  ``vigil_open_activations``, ``vigil_acks_overdue``, ``vigil_consumer_lag{topic,partition}``,
  ``vigil_worker_assigned_partitions``, ``vigil_followups_open{kind}``, ``vigil_followups_overdue{kind}``,
  ``vigil_followups_created_total{kind}``, ``vigil_followups_completed_total{outcome}``,
  ``vigil_event_loop_delay_seconds`` and
  ``vigil_event_loop_heartbeat_age_seconds`` (stream/ops/health.py); Faust's own
  sensors as ``vigil_faust_*``
- the web service (``WebMetrics``): ``vigil_web_requests_total{route,status}``,
  ``vigil_ack_answers_total{response,result}``
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from stream.model.events import DeadLetter, IngestOutcome, NotificationIntent, ShootingEvent
from stream.model.timeline import AckRecorded, ActivationDecided, TaskClosed, TaskCreated, TaskOverdue, TimelineRecord

NAMESPACE = "vigil"
FAUST_PREFIX = "vigil_faust"
ALERT_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# a record takes about a millisecond on a stage; a delivery may take its whole retry budget (tens of seconds)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# deadlines are 10 and 15 minutes: the buckets are dense up to there and then reach the late ones
TIME_TO_ACK_BUCKETS = (15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600, 7200)
STAGES = ("ingest", "activation", "dispatch", "review_sink")
FEEDS = ("cad", "hospital")
DELIVERY_OUTCOMES = ("delivered", "failed", "timed_out")
ACK_RESULTS = ("ok", "confirm", "used", "expired", "forged", "other_team", "failed")


class Decision(Protocol):
    """What a core call decided, as the metrics read it (the core's ``Outcome``)."""

    @property
    def intents(self) -> Sequence[NotificationIntent]: ...

    @property
    def timeline(self) -> Sequence[TimelineRecord]: ...


class TaskLike(Protocol):
    """A follow-up task as the metrics read it (the core's ``Task``)."""

    @property
    def kind(self) -> str: ...

    @property
    def overdue_told(self) -> bool: ...

    @property
    def closed_at(self) -> datetime | None: ...


class WithTasks(Protocol):
    """An activation as the follow-up metrics read it: its tasks by id."""

    @property
    def tasks(self) -> Mapping[str, TaskLike]: ...


# (activation, team) -> (when the team was told, its ack deadline), or None for a team never told
NoticeLookup = Callable[[str, str], "tuple[datetime, datetime | None] | None"]


class IngestMetrics:
    """Messages received, shootings recognised, filtered (not shootings) and rejected, by source."""

    def __init__(self, registry: CollectorRegistry, namespace: str = NAMESPACE):
        self.received = Counter("ingest_received", "Messages received, by source.", ["source"], namespace=namespace, registry=registry)
        self.shootings = Counter("ingest_shootings", "Messages recognised as shootings, by source and kind.", ["source", "kind"], namespace=namespace, registry=registry)
        self.filtered = Counter("ingest_filtered", "Well-formed messages dropped (not a shooting), by source and reason.", ["source", "reason"], namespace=namespace, registry=registry)
        self.rejected = Counter("ingest_rejected", "Messages rejected to the dead-letter topic, by source and reason.", ["source", "reason"], namespace=namespace, registry=registry)

    def count(self, source: str, outcome: IngestOutcome) -> None:
        """Count one message and what became of it."""
        self.count_all(source, (outcome,))

    def count_all(self, source: str, outcomes: Sequence[IngestOutcome]) -> None:
        """Count a batch of messages and what became of them: one update per kind of result, not per message
        (a label lookup costs more than parsing an ordinary call's verdict)."""
        if not outcomes:
            return
        self.received.labels(source).inc(len(outcomes))
        tally: dict[tuple[Counter, str], int] = {}
        for outcome in outcomes:
            if isinstance(outcome, ShootingEvent):
                key = (self.shootings, outcome.kind.value)
            elif isinstance(outcome, DeadLetter):
                key = (self.rejected, outcome.reason)
            else:
                key = (self.filtered, outcome.reason)
            tally[key] = tally.get(key, 0) + 1
        for (metric, label), n in tally.items():
            metric.labels(source, label).inc(n)


class FeedMetrics:
    """What every process on the input side reports: when its feeds last delivered, and what it sent to
    the dead-letter topic."""

    def __init__(self, registry: CollectorRegistry, namespace: str = NAMESPACE):
        self.last_message = Gauge(
            "feed_last_message_timestamp_seconds", "Unix time of the last message seen on a feed (cad, hospital).", ["feed"],
            namespace=namespace, registry=registry,
        )
        self.dead_letters = Counter(
            "dead_letters", "Records sent to the dead-letter topic, by stage and reason.", ["stage", "reason"],
            namespace=namespace, registry=registry,
        )

    def seen(self, feed: str, at: float | None = None) -> None:
        """A message arrived on ``feed`` at unix time ``at`` (now when None)."""
        self.last_message.labels(feed).set(time.time() if at is None else at)

    def dead_letter(self, stage: str, reason: str) -> None:
        """One record went to the dead-letter topic."""
        self.dead_letters.labels(stage, reason).inc()


class WorkerMetrics:
    """The stream worker's metrics: its stages, the alert latency, deliveries, the core's decisions and
    state, and its consumer's lag. Also the notifier's ``DeliveryObserver``."""

    def __init__(self, registry: CollectorRegistry, namespace: str = NAMESPACE):
        self.registry = registry
        self.ingest = IngestMetrics(registry, namespace)
        self.feeds = FeedMetrics(registry, namespace)
        self.stage_seconds = Histogram(
            "stage_seconds", "Processing time per record, by stage (dispatch: the whole delivery of one intent).", ["stage"],
            namespace=namespace, registry=registry, buckets=STAGE_BUCKETS,
        )
        self.alert_latency = Histogram(
            "alert_latency_seconds", "From the input's arrival on Kafka to the first recipient reached, per intent.",
            namespace=namespace, registry=registry, buckets=ALERT_LATENCY_BUCKETS,
        )
        self.deliveries = Counter(
            "deliveries", "Recipients' delivery results (after retries), by channel and outcome; channel none for no_recipients.",
            ["channel", "outcome"], namespace=namespace, registry=registry,
        )
        self.retries = Counter("delivery_retries", "Send attempts after a recipient's first, by channel.", ["channel"],
                               namespace=namespace, registry=registry)
        self.rate_limited = Counter("rate_limited", "Sends held back by a recipient's rate limit, by channel.", ["channel"],
                                    namespace=namespace, registry=registry)
        self.intents = Counter("intents", "Notification intents decided, by step.", ["step"], namespace=namespace, registry=registry)
        self.escalations = Counter("escalations", "Escalation intents fired (a deadline passed, or a team can't respond).",
                                   namespace=namespace, registry=registry)
        self.acks = Counter("acks", "Answers recorded, by response and in_time (yes, no; none: the team had no deadline).",
                            ["response", "in_time"], namespace=namespace, registry=registry)
        self.time_to_ack = Histogram("time_to_ack_seconds", "From a team's alert to its first ack, in core time.",
                                     namespace=namespace, registry=registry, buckets=TIME_TO_ACK_BUCKETS)
        self.coverage_gaps = Counter("coverage_gaps", "Activations newly flagged coverage_gap.", namespace=namespace, registry=registry)
        self.open_activations = Gauge("open_activations", "Activations in the core state of the jurisdictions this worker owns.",
                                      namespace=namespace, registry=registry)
        self.acks_overdue = Gauge("acks_overdue", "Teams past their ack deadline, with no ack, whose escalation has not fired.",
                                  namespace=namespace, registry=registry)
        self.consumer_lag = Gauge("consumer_lag", "Records behind on an assigned partition (highwater - position).",
                                  ["topic", "partition"], namespace=namespace, registry=registry)
        self.assigned_partitions = Gauge("worker_assigned_partitions", "Partitions of the agents' topics assigned to this worker.",
                                         namespace=namespace, registry=registry)
        self.followups_open = Gauge("followups_open", "Open follow-up tasks in the core state of this worker's jurisdictions, by kind.",
                                    ["kind"], namespace=namespace, registry=registry)
        self.followups_overdue = Gauge(
            "followups_overdue", "Open follow-up tasks past due (the core has told dns-oncall), by kind.", ["kind"],
            namespace=namespace, registry=registry,
        )
        self.followups_created = Counter("followups_created", "Follow-up tasks made, by kind.", ["kind"], namespace=namespace, registry=registry)
        self.followups_completed = Counter(
            "followups_completed", "Follow-up tasks closed, by outcome (a correction of a closing counts again).", ["outcome"],
            namespace=namespace, registry=registry,
        )
        self._core: dict[str, tuple[int, int]] = {}  # jurisdiction → (open activations, overdue)
        self._tasks: dict[str, tuple[Tally[str], Tally[str]]] = {}  # jurisdiction → (open tasks, open overdue tasks) by kind
        self._kinds: set[str] = set()  # the task kinds exported so far
        self._lagging: dict[str, set[tuple[str, str]]] = {}  # consumer → its (topic, partition)s

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Observe the time the block takes as one record of ``stage``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(stage).observe(time.perf_counter() - started)

    def stage(self, stage: str, seconds: float, records: int = 1) -> None:
        """``records`` records took ``seconds`` together on ``stage`` (a batch: each its share)."""
        if records <= 0:
            return
        child = self.stage_seconds.labels(stage)
        for _ in range(records):
            child.observe(seconds / records)

    def latency(self, seconds: float) -> None:
        """One intent reached its first recipient ``seconds`` after its input arrived on Kafka."""
        # producers' clocks may be a little ahead of this host's: a negative latency is no latency
        self.alert_latency.observe(max(0.0, seconds))

    # --- the notifier's DeliveryObserver

    def delivered(self, channel: str, outcome: str) -> None:
        """One recipient's final result (delivered, failed or timed_out) on ``channel``."""
        self.deliveries.labels(channel, outcome).inc()

    def retried(self, channel: str) -> None:
        """One more attempt at a recipient on ``channel``."""
        self.retries.labels(channel).inc()

    def held_back(self, channel: str) -> None:
        """A send waited for a recipient's rate limit on ``channel``."""
        self.rate_limited.labels(channel).inc()

    def no_recipients(self) -> None:
        """An intent's team has nobody to send to."""
        self.deliveries.labels("none", "no_recipients").inc()

    # --- the core

    def decided(self, decision: Decision, notice: NoticeLookup) -> None:
        """Count what one core call produced: intents by step, escalations, answers (and the time to the
        first ack), and coverage gaps; ``notice`` tells when a team was told and its deadline, after the call."""
        for intent in decision.intents:
            self.intents.labels(intent.step).inc()
            if intent.step == "escalation":
                self.escalations.inc()
        for record in decision.timeline:
            if isinstance(record, ActivationDecided) and "coverage_gap" in record.new_flags:
                self.coverage_gaps.inc()
            elif isinstance(record, AckRecorded):
                told = notice(record.activation_id, record.team)
                in_time = "none" if told is None or told[1] is None else "yes" if record.within_deadline else "no"
                self.acks.labels(record.response, in_time).inc()
                if record.first and record.response != "unable" and told is not None:
                    self.time_to_ack.observe(max(0.0, (record.at - told[0]).total_seconds()))

    def core_state(self, jurisdiction: str, open_activations: int, overdue: int) -> None:
        """The state of one jurisdiction this worker owns, after an input."""
        self._core[jurisdiction] = (open_activations, overdue)
        self.open_activations.set(sum(o for o, _ in self._core.values()))
        self.acks_overdue.set(sum(d for _, d in self._core.values()))

    def followups(self, jurisdiction: str, decision: Decision, activations: Callable[[], Iterable[WithTasks]],
                  forgotten: Sequence[WithTasks] = ()) -> bool:
        """Count the tasks one core call made (by kind) and closed (by outcome), and recount the jurisdiction's open
        and overdue tasks from ``activations`` (the state after the call) only when they may have moved: the call made,
        told overdue or closed a task, forgot an activation that had tasks, or the jurisdiction is new to this worker
        (a start, a rebalance). Most inputs (ordinary calls, ticks, acks) touch no task and walk nothing: this is on
        the alert path. Returns whether it recounted."""
        moved = jurisdiction not in self._tasks or any(a.tasks for a in forgotten)
        for record in decision.timeline:
            if isinstance(record, TaskCreated):
                self.followups_created.labels(record.task_kind).inc()
                moved = True
            elif isinstance(record, TaskClosed):
                self.followups_completed.labels(record.outcome).inc()
                moved = True
            elif isinstance(record, TaskOverdue):
                moved = True
        if not moved:
            return False
        open_tasks, overdue_tasks = Tally[str](), Tally[str]()
        for activation in activations():
            for task in activation.tasks.values():
                if task.closed_at is None:
                    open_tasks[task.kind] += 1
                    if task.overdue_told:
                        overdue_tasks[task.kind] += 1
        self._tasks[jurisdiction] = (open_tasks, overdue_tasks)
        self._set_followups()
        return True

    def _set_followups(self) -> None:
        # every kind seen keeps its series, at zero when none is open: an alert resolves on 0, not on a vanished series
        open_tasks, overdue_tasks = Tally[str](), Tally[str]()
        for by_kind, overdue_by_kind in self._tasks.values():
            open_tasks.update(by_kind)
            overdue_tasks.update(overdue_by_kind)
        self._kinds |= open_tasks.keys()
        for kind in self._kinds:
            self.followups_open.labels(kind).set(open_tasks.get(kind, 0))
            self.followups_overdue.labels(kind).set(overdue_tasks.get(kind, 0))

    def forget_core_states(self) -> None:
        """Partitions are moving: report nothing until this worker handles an input again (the new owner
        reports the jurisdiction, and sums over workers must not count it twice)."""
        self._core.clear()
        self.open_activations.set(0)
        self.acks_overdue.set(0)
        self._tasks.clear()
        self._set_followups()

    def lag(self, lags: Mapping[tuple[str, int], int], consumer: str = "faust") -> None:
        """Set the lag of every (topic, partition) one of the worker's consumers has assigned (the Faust app's,
        or the CAD consumer's); drop the partitions it no longer has."""
        current = {(topic, str(partition)) for topic, partition in lags}
        for key in self._lagging.get(consumer, set()) - current:
            self.consumer_lag.remove(*key)
        for (topic, partition), behind in lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(max(0, behind))
        self._lagging[consumer] = current
        self.assigned_partitions.set(sum(len(partitions) for partitions in self._lagging.values()))


class WebMetrics:
    """The web service's requests, by route template (never the raw path: it may hold an ack token), and
    the answers given through ack links, by response and result."""

    def __init__(self, registry: CollectorRegistry, namespace: str = NAMESPACE):
        self.requests = Counter("web_requests", "HTTP requests, by route template and status.", ["route", "status"],
                                namespace=namespace, registry=registry)
        self.answers = Counter("ack_answers", "Answers posted through ack links, by response and result.", ["response", "result"],
                               namespace=namespace, registry=registry)

    def request(self, route: str, status: int) -> None:
        """One request answered."""
        self.requests.labels(route, str(status)).inc()

    def answer(self, response: str, result: str) -> None:
        """One answer posted: ok, used, expired, forged, other_team or failed."""
        self.answers.labels(response, result).inc()


def add_process_metrics(registry: CollectorRegistry) -> None:
    """The process's CPU, memory, open files and start time (``process_*``) on ``registry``."""
    ProcessCollector(registry=registry)


def install_faust_sensors(app: Any, registry: CollectorRegistry, prefix: str = FAUST_PREFIX) -> None:
    """Faust's own sensors (messages in and out, events, table operations, commits, rebalances) as
    ``<prefix>_*`` on ``registry``.

    faust.sensors.prometheus.setup_prometheus_sensors takes a registry, but also adds a /metrics page to
    Faust's web server, which Vigil runs disabled; so its monitor is installed directly. Call before the
    worker starts: the app adds its monitor to its sensors when it starts.
    """
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, prefix))


def metrics_port_file(ready_file: Path) -> Path:
    """Where a worker with a ready file writes the port its metrics are served on: ``<ready>.metrics``."""
    return ready_file.with_name(ready_file.name + ".metrics")
