"""The metrics helpers on fresh registries: names and labels exactly as the contract (infra/prometheus reads
them), the core's counters and gauges fed by the real core, the notifier's hooks, the web's counters."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from notifiers.ack_links import AckSigner
from notifiers.apprise_adapter import AppriseNotifier, RetryPolicy, load_recipients, write_contacts
from notifiers.inbox import PhoneInbox
from notifiers.rate_limit import RateLimit, RecipientRateLimiter
from reviews.store import ReviewStore
from reviews.web.app import create_metrics_app, create_web_app
from stream.core.activations import advance, handle_ack, handle_event, notice_times, overdue
from stream.core.state import Config, CoreState, Outcome
from stream.core.step import step
from stream.feeds.ingest import ingest_cad
from stream.model.events import AckMessage, CoreInput, NotificationIntent, TaskClose
from stream.ops.metrics import (
    ALERT_LATENCY_BUCKETS,
    FeedMetrics,
    IngestMetrics,
    WorkerMetrics,
    install_faust_sensors,
    metrics_port_file,
)
from stream.ops.probes import serve_metrics
from tests.helpers import HIAWATHA, JORDAN, as_bytes, shooting
from tests.rules.followups_fixture import with_followups

T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)  # 22:04 on a Saturday in Minneapolis: street teams on shift
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)


def _value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


def _names(registry: CollectorRegistry) -> set[str]:
    return {metric.name for metric in registry.collect()}


@pytest.fixture
def config(deployment) -> Config:
    """The bundled deployment's core config."""
    return Config(deployment.coverage, deployment.protocols)


def _shot(deployment, incident: str, where: tuple[float, float], at: datetime = T0):
    event = ingest_cad(as_bytes(shooting(incident, where, updated_at=at.isoformat())), deployment.classification, at)
    assert not hasattr(event, "reason"), event
    return event


# --- names and labels


def test_worker_metrics_have_the_contract_names_and_labels() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.feeds.seen("cad", 1_700_000_000.5)
    metrics.feeds.dead_letter("ingest", "invalid_json")
    metrics.stage("ingest", 0.002)
    metrics.latency(0.04)
    metrics.delivered("sms", "timed_out")
    metrics.retried("sms")
    metrics.held_back("push")
    metrics.no_recipients()
    metrics.core_state("minneapolis", 3, 1)
    metrics.lag({("cad.eido", 0): 7})

    assert _value(registry, "vigil_feed_last_message_timestamp_seconds", {"feed": "cad"}) == 1_700_000_000.5
    assert _value(registry, "vigil_dead_letters_total", {"stage": "ingest", "reason": "invalid_json"}) == 1
    assert _value(registry, "vigil_stage_seconds_count", {"stage": "ingest"}) == 1
    assert _value(registry, "vigil_alert_latency_seconds_count") == 1
    assert _value(registry, "vigil_deliveries_total", {"channel": "sms", "outcome": "timed_out"}) == 1
    assert _value(registry, "vigil_deliveries_total", {"channel": "none", "outcome": "no_recipients"}) == 1
    assert _value(registry, "vigil_delivery_retries_total", {"channel": "sms"}) == 1
    assert _value(registry, "vigil_rate_limited_total", {"channel": "push"}) == 1
    assert _value(registry, "vigil_open_activations") == 3
    assert _value(registry, "vigil_acks_overdue") == 1
    assert _value(registry, "vigil_consumer_lag", {"topic": "cad.eido", "partition": "0"}) == 7
    assert _value(registry, "vigil_worker_assigned_partitions") == 1
    # the unlabelled ones exist from the start, at zero: rate() and increase() need the zero
    assert _value(registry, "vigil_escalations_total") == 0
    assert _value(registry, "vigil_coverage_gaps_total") == 0
    assert _value(registry, "vigil_time_to_ack_seconds_count") == 0
    assert {"vigil_ingest_received", "vigil_ingest_shootings", "vigil_ingest_filtered", "vigil_ingest_rejected",
            "vigil_intents", "vigil_acks"} <= _names(registry)


def test_alert_latency_has_exactly_the_contract_buckets() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry).latency(0.07)
    (histogram,) = [m for m in registry.collect() if m.name == "vigil_alert_latency_seconds"]
    bounds = [s.labels["le"] for s in histogram.samples if s.name.endswith("_bucket")]
    assert bounds == [*(str(float(b)) for b in (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)), "+Inf"]
    assert ALERT_LATENCY_BUCKETS == (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
    assert _value(registry, "vigil_alert_latency_seconds_bucket", {"le": "0.05"}) == 0
    assert _value(registry, "vigil_alert_latency_seconds_bucket", {"le": "0.1"}) == 1


def test_a_negative_latency_is_counted_as_none() -> None:
    # a producer whose clock runs ahead of the worker's: counted, in the first bucket, not lost
    registry = CollectorRegistry()
    WorkerMetrics(registry).latency(-0.3)
    assert _value(registry, "vigil_alert_latency_seconds_bucket", {"le": "0.025"}) == 1
    assert _value(registry, "vigil_alert_latency_seconds_sum") == 0


def test_a_batch_gives_each_record_its_share_of_the_time() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.stage("review_sink", 0.4, records=4)
    metrics.stage("review_sink", 1.0, records=0)  # nothing to count
    assert _value(registry, "vigil_stage_seconds_count", {"stage": "review_sink"}) == 4
    assert _value(registry, "vigil_stage_seconds_sum", {"stage": "review_sink"}) == pytest.approx(0.4)
    assert _value(registry, "vigil_stage_seconds_bucket", {"stage": "review_sink", "le": "0.1"}) == 4


def test_timed_observes_the_block_even_when_it_leaves_early() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    for n in range(2):
        with metrics.timed("ingest"):
            time.sleep(0.01)
            if n == 0:
                continue
    assert _value(registry, "vigil_stage_seconds_count", {"stage": "ingest"}) == 2
    assert _value(registry, "vigil_stage_seconds_sum", {"stage": "ingest"}) >= 0.02


def test_ingest_and_feed_metrics_on_one_registry(deployment) -> None:
    registry = CollectorRegistry()
    ingest, feeds = IngestMetrics(registry), FeedMetrics(registry)
    ingest.count("hl7", _shot(deployment, "M-1", JORDAN))
    feeds.seen("hospital")
    assert _value(registry, "vigil_ingest_shootings_total", {"source": "hl7", "kind": "person_shot"}) == 1
    assert abs(_value(registry, "vigil_feed_last_message_timestamp_seconds", {"feed": "hospital"}) - time.time()) < 5


def test_lag_drops_partitions_no_longer_assigned() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.lag({("events", 0): 3, ("events", 1): 0, ("intents", 2): -1})
    assert _value(registry, "vigil_consumer_lag", {"topic": "intents", "partition": "2"}) == 0  # never negative
    metrics.lag({("events", 1): 5})
    assert _value(registry, "vigil_consumer_lag", {"topic": "events", "partition": "0"}) is None
    assert _value(registry, "vigil_consumer_lag", {"topic": "events", "partition": "1"}) == 5
    assert _value(registry, "vigil_worker_assigned_partitions") == 1


def test_core_state_gauges_sum_jurisdictions_and_are_forgotten_on_rebalance() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.core_state("minneapolis", 3, 1)
    metrics.core_state("st-paul", 2, 0)
    metrics.core_state("minneapolis", 4, 0)
    assert (_value(registry, "vigil_open_activations"), _value(registry, "vigil_acks_overdue")) == (6, 0)
    metrics.forget_core_states()
    assert (_value(registry, "vigil_open_activations"), _value(registry, "vigil_acks_overdue")) == (0, 0)


# --- the core's counters, fed by the real core


def test_decided_counts_intents_gaps_acks_and_time_to_ack(deployment, config: Config) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    state = CoreState()
    jordan = handle_event(state, _shot(deployment, "M-J", JORDAN), T0, config)
    metrics.decided(jordan, notice_times(state))
    hiawatha = handle_event(state, _shot(deployment, "M-H", HIAWATHA), T0 + timedelta(seconds=5), config)
    metrics.decided(hiawatha, notice_times(state))
    assert _value(registry, "vigil_intents_total", {"step": "initial"}) == 4
    assert _value(registry, "vigil_coverage_gaps_total") == 1  # Hiawatha has no street team
    # the same report again: nothing new, no second gap
    metrics.decided(handle_event(state, _shot(deployment, "M-H", HIAWATHA), T0 + timedelta(seconds=5), config), notice_times(state))
    assert _value(registry, "vigil_coverage_gaps_total") == 1

    street = next(i for i in jordan.intents if i.team.startswith("vi-"))
    metrics.decided(handle_ack(state, "M-J", street.team, T0 + timedelta(minutes=4), config, "on_my_way"), notice_times(state))
    metrics.decided(handle_ack(state, "M-J", street.team, T0 + timedelta(minutes=5), config, "ack"), notice_times(state))  # a second answer
    metrics.decided(handle_ack(state, "M-J", "gvi-outreach", T0 + timedelta(minutes=30), config, "ack"), notice_times(state))  # no deadline
    assert _value(registry, "vigil_acks_total", {"response": "on_my_way", "in_time": "yes"}) == 1
    assert _value(registry, "vigil_acks_total", {"response": "ack", "in_time": "yes"}) == 1
    assert _value(registry, "vigil_acks_total", {"response": "ack", "in_time": "none"}) == 1
    # first acks only: 4 minutes for the street team, 30 for gvi-outreach
    assert _value(registry, "vigil_time_to_ack_seconds_count") == 2
    assert _value(registry, "vigil_time_to_ack_seconds_sum") == 240 + 1800


def test_a_late_ack_and_a_cant_respond_escalation(deployment, config: Config) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    state = CoreState()
    jordan = handle_event(state, _shot(deployment, "M-L", JORDAN), T0, config)
    phillips = handle_event(state, _shot(deployment, "M-U", (44.9530, -93.2600)), T0, config)
    late_team = next(i.team for i in jordan.intents if i.team.startswith("vi-"))
    unable_team = next(i.team for i in phillips.intents if i.team.startswith("vi-"))

    unable = handle_ack(state, "M-U", unable_team, T0 + timedelta(minutes=1), config, "unable")
    metrics.decided(unable, notice_times(state))
    assert _value(registry, "vigil_acks_total", {"response": "unable", "in_time": "yes"}) == 1
    assert _value(registry, "vigil_escalations_total") == 1  # "can't respond" escalates at once
    assert _value(registry, "vigil_intents_total", {"step": "escalation"}) == 1
    assert _value(registry, "vigil_time_to_ack_seconds_count") == 0  # can't respond is not an ack

    # the deadline passes on a tick: the escalation fires; the ack comes after it
    fired = advance(state, T0 + timedelta(minutes=10, seconds=1), config)
    metrics.decided(fired, notice_times(state))
    assert _value(registry, "vigil_escalations_total") == 2
    metrics.decided(handle_ack(state, "M-L", late_team, T0 + timedelta(minutes=12), config, "ack"), notice_times(state))
    assert _value(registry, "vigil_acks_total", {"response": "ack", "in_time": "no"}) == 1
    assert _value(registry, "vigil_time_to_ack_seconds_sum") == 720


def test_overdue_counts_deadlines_passed_without_ack_or_escalation(deployment, config: Config) -> None:
    state = CoreState()
    outcome = handle_event(state, _shot(deployment, "M-O", JORDAN), T0, config)
    street = next(i for i in outcome.intents if i.team.startswith("vi-"))
    assert street.ack_deadline == T0 + timedelta(minutes=10)
    assert overdue(state, T0 + timedelta(minutes=9)) == 0
    assert overdue(state, street.ack_deadline) == 0  # an ack at the deadline is still in time
    # the street team only: gvi-outreach has no deadline
    assert overdue(state, street.ack_deadline + timedelta(seconds=1)) == 1
    assert overdue(state, T0 + timedelta(hours=5)) == 1  # stuck: nothing fired it
    advance(state, street.ack_deadline + timedelta(seconds=1), config)
    assert overdue(state, street.ack_deadline + timedelta(seconds=1)) == 0  # escalated: dns-oncall has it

    acked = CoreState()
    handle_event(acked, _shot(deployment, "M-A", JORDAN), T0, config)
    handle_ack(acked, "M-A", street.team, T0 + timedelta(minutes=2), config, "ack")
    assert overdue(acked, T0 + timedelta(minutes=11)) == 0


def test_followups_count_tasks_made_overdue_and_closed_with_the_real_core(deployment, tmp_path: Path) -> None:
    """Fed each step as ActivationAgent._observe feeds it: made by kind, closed by outcome, open and overdue by kind;
    steps that touch no task do not walk the state."""
    config = with_followups(deployment, tmp_path)
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    state = CoreState()
    walks = []

    def feed(item: CoreInput, at: datetime) -> bool:
        nonlocal state
        state, done = step(state, item, at, config)

        def activations():
            walks.append(at)
            return state.activations.values()

        return metrics.followups("minneapolis", done.outcome, activations, done.forgotten)

    assert feed(CoreInput(type="tick"), T0 - timedelta(minutes=1))  # a jurisdiction new to the worker: counted once
    assert not feed(CoreInput(type="tick"), T0 - timedelta(seconds=30))  # nothing about tasks: no walk
    assert feed(CoreInput(type="event", event=_shot(deployment, "M-F", JORDAN)), T0)
    open_ = {"kind": "family_contact"}
    assert _value(registry, "vigil_followups_created_total", open_) == 1
    assert (_value(registry, "vigil_followups_open", open_), _value(registry, "vigil_followups_overdue", open_)) == (1, 0)
    due = T0 + timedelta(hours=48)
    assert not feed(CoreInput(type="tick"), due - timedelta(hours=2))  # the reminder: open and overdue do not move
    assert feed(CoreInput(type="tick"), due + timedelta(seconds=1))  # overdue: dns-oncall told
    assert (_value(registry, "vigil_followups_open", open_), _value(registry, "vigil_followups_overdue", open_)) == (1, 1)
    [task_id] = next(iter(state.activations.values())).tasks
    close = TaskClose(task_id=task_id, ref="M-F", outcome="attempted", by="lead-nearnorth")
    assert feed(CoreInput(type="task_close", task_close=close), due + timedelta(hours=1))
    assert _value(registry, "vigil_followups_completed_total", {"outcome": "attempted"}) == 1
    # closed: the series stays, at zero, so an alert on it resolves
    assert (_value(registry, "vigil_followups_open", open_), _value(registry, "vigil_followups_overdue", open_)) == (0, 0)
    assert len(walks) == 4
    metrics.forget_core_states()
    assert feed(CoreInput(type="tick"), due + timedelta(hours=2))  # after a rebalance: counted again


def test_followup_gauges_sum_jurisdictions_and_recount_when_an_activation_with_tasks_is_forgotten() -> None:
    @dataclass
    class Task:
        kind: str
        overdue_told: bool = False
        closed_at: datetime | None = None

    @dataclass
    class Held:
        tasks: dict

    nothing = Outcome()
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    mpls = [Held({"a": Task("bedside", overdue_told=True), "b": Task("bedside"), "c": Task("bedside", closed_at=T0)})]
    metrics.followups("minneapolis", nothing, lambda: mpls)
    metrics.followups("st-paul", nothing, lambda: [Held({"d": Task("bedside", overdue_told=True)})])
    assert (_value(registry, "vigil_followups_open", {"kind": "bedside"}), _value(registry, "vigil_followups_overdue", {"kind": "bedside"})) == (3, 2)
    gone = mpls.pop()
    assert not metrics.followups("minneapolis", nothing, lambda: mpls, [Held({})])  # forgot one without tasks: no walk
    assert metrics.followups("minneapolis", nothing, lambda: mpls, [gone])
    assert (_value(registry, "vigil_followups_open", {"kind": "bedside"}), _value(registry, "vigil_followups_overdue", {"kind": "bedside"})) == (1, 1)
    metrics.forget_core_states()
    assert _value(registry, "vigil_followups_open", {"kind": "bedside"}) == 0


# --- the notifier's hooks


async def test_the_notifier_reports_results_retries_rate_limits_and_the_first_reach(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        dead, phone = "json://127.0.0.1:9/phone/dead", inbox.apprise_url("lead")  # port 9: nothing listens
        write_contacts(contacts, {"vi-central": [dead, phone]}, channels={dead: "push", phone: "sms"})
        limiter = RecipientRateLimiter(limits={"sms": RateLimit(burst=1, every_s=0.2)})
        notifier = AppriseNotifier(load_recipients(contacts), timeout=5, retry=FAST, limiter=limiter, observer=metrics)
        before = time.time()
        first = await notifier.send(_intent("vi-central", 1))
        after = time.time()
        await notifier.send(_intent("vi-central", 2, step="update"))  # the sms bucket is empty: held back
        nobody = await notifier.send(_intent("vi-north-camden", 3))
    finally:
        await inbox.stop()
    assert first.status == "delivered" and before <= first.reached_at <= after  # type: ignore[operator]
    assert nobody.status == "no_recipients" and nobody.reached_at is None
    assert _value(registry, "vigil_deliveries_total", {"channel": "push", "outcome": "failed"}) == 2
    assert _value(registry, "vigil_deliveries_total", {"channel": "sms", "outcome": "delivered"}) == 2
    assert _value(registry, "vigil_delivery_retries_total", {"channel": "push"}) == 4  # 3 attempts each
    assert _value(registry, "vigil_delivery_retries_total", {"channel": "sms"}) is None
    assert _value(registry, "vigil_rate_limited_total", {"channel": "sms"}) == 1
    assert _value(registry, "vigil_deliveries_total", {"channel": "none", "outcome": "no_recipients"}) == 1


def _intent(team: str, n: int, step: str = "initial") -> NotificationIntent:
    return NotificationIntent(
        intent_id=f"int-{n}", activation_id="act-1", team=team, protocol="P2", step=step,  # type: ignore[arg-type]
        title="VIGIL: Person shot - Jordan", body="Person shot near Jordan.\nRef act-1", created_at=T0,
    )


# --- exposure


def test_serve_metrics_on_a_free_port_and_survive_a_taken_one() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry).intents.labels("initial").inc()
    port = serve_metrics(registry, "127.0.0.1", 0)
    assert port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'vigil_intents_total{step="initial"} 1.0' in text
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert serve_metrics(registry, "127.0.0.1", taken.getsockname()[1]) is None


def test_metrics_port_file_sits_beside_the_ready_file(tmp_path: Path) -> None:
    assert metrics_port_file(tmp_path / "worker.ready") == tmp_path / "worker.ready.metrics"


def test_faust_sensors_go_to_the_injected_registry_with_the_vigil_prefix() -> None:
    import faust
    from faust.sensors.prometheus import PrometheusMonitor

    registry = CollectorRegistry()
    app = faust.App("metrics-test", broker="kafka://127.0.0.1:9", web_enabled=False)
    install_faust_sensors(app, registry)
    assert isinstance(app.monitor, PrometheusMonitor)
    app.monitor.count("probe")
    assert _value(registry, "vigil_faust_metrics_by_name", {"metric": "probe"}) == 1
    assert "vigil_faust_messages_received" in _names(registry)
    assert not any(name.startswith("metrics_test") for name in _names(registry))


# --- the web service


SECRET = b"metrics-test-secret-0123456789"


@pytest.fixture
def web(tmp_path: Path, deployment, config: Config) -> Iterator[tuple[TestClient, AckSigner, list, CollectorRegistry, dict]]:
    """The web app over a store holding one Jordan shooting (street team and gvi-outreach alerted), its
    registry, and a control of its clock and of publish failures."""
    store = ReviewStore(f"sqlite:///{tmp_path / 'review.sqlite'}")
    store.create_schema()
    outcome = handle_event(CoreState(), _shot(deployment, "M-W", JORDAN), T0, config)
    store.append(outcome.timeline)
    signer = AckSigner(SECRET, "https://vigil.example.org", ttl=timedelta(minutes=30))
    registry = CollectorRegistry()
    control = {"now": T0, "fail": False}

    async def publish(message: AckMessage) -> None:
        if control["fail"]:
            raise ConnectionError("broker down")

    app = create_web_app(signer, store, publish, lambda: control["now"], registry=registry)
    try:
        with TestClient(app) as client:
            yield client, signer, outcome.intents, registry, control
    finally:
        store.dispose()


def test_web_counts_requests_by_route_template_and_answers_by_result(web) -> None:
    client, signer, intents, registry, control = web
    street = intents[0]
    link = f"/ack/{signer.token(street, 'tel:+1...0001', T0)}"

    assert client.get(link).status_code == 200
    assert client.post(link, data={"response": "on_my_way"}).status_code == 200
    assert client.post(link, data={"response": "ack"}).status_code == 409
    assert client.post(f"/ack/{signer.token(street, 'tel:+1...0002', T0)}x", data={"response": "ack"}).status_code == 403
    assert client.post("/ack/garbage", data={"response": "made-up"}).status_code == 403
    other_team = street.model_copy(update={"team": "vi-south-phillips", "intent_id": "int-other"})
    # made long enough ago that its alert would be in the store (a fresh one is "still being recorded", 503)
    made_earlier = T0 - timedelta(minutes=10)
    assert client.post(f"/ack/{signer.token(other_team, 'tel:+1...0003', made_earlier)}", data={"response": "ack"}).status_code == 403
    control["fail"] = True
    assert client.post(f"/ack/{signer.token(intents[1], 'tel:+1...0004', T0)}", data={"response": "unable", "confirm": "yes"}).status_code == 503
    control["fail"], control["now"] = False, T0 + timedelta(hours=1)
    assert client.post(f"/ack/{signer.token(street, 'tel:+1...0005', T0)}", data={"response": "ack"}).status_code == 410
    assert client.get("/no/such/page").status_code == 404

    answers = {(s.labels["response"], s.labels["result"]): s.value
               for m in registry.collect() if m.name == "vigil_ack_answers" for s in m.samples if s.name.endswith("_total")}
    assert answers == {("on_my_way", "ok"): 1, ("ack", "used"): 1, ("ack", "forged"): 1, ("invalid", "forged"): 1,
                       ("ack", "other_team"): 1, ("unable", "failed"): 1, ("ack", "expired"): 1}
    requests = {(s.labels["route"], s.labels["status"]): s.value
                for m in registry.collect() if m.name == "vigil_web_requests" for s in m.samples if s.name.endswith("_total")}
    assert requests == {("/ack/{token}", "200"): 2, ("/ack/{token}", "409"): 1, ("/ack/{token}", "403"): 3,
                        ("/ack/{token}", "503"): 1, ("/ack/{token}", "410"): 1, ("unmatched", "404"): 1}

    assert client.get("/metrics").status_code == 404  # not on the app's port: on the metrics port, its own app
    page = TestClient(create_metrics_app(registry)).get("/metrics")  # no sign-in
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    assert 'vigil_web_requests_total{route="/ack/{token}",status="409"} 1.0' in page.text
    assert link.removeprefix("/ack/") not in page.text and "garbage" not in page.text  # never a token, never a raw path


# --- the input-side processes, on the real broker


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_hl7_listen_serves_its_feed_dead_letters_and_ingest_counts(kafka_bootstrap, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    from zoneinfo import ZoneInfo

    from hl7.client import MLLPClient

    from stream.devtools.broker import free_port, wait_for_port
    from stream.feeds.hl7_builder import AdtMessage

    port, metrics_port = free_port(), free_port()
    arrived = datetime(2026, 7, 4, 22, 10, tzinfo=ZoneInfo("America/Chicago"))
    env = {**os.environ, "VIGIL_HL7_SECRET": "metrics-test-hl7-secret-0123"}
    log_path = tmp_path / "listener.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "hl7-listen", "--bootstrap", kafka_bootstrap, "--port", str(port),
             "--metrics-port", str(metrics_port), "--topic-prefix", f"mx{os.getpid()}."],
            env=env, stdout=log, stderr=log,
        )
        try:
            assert wait_for_port("127.0.0.1", port, timeout=60), log_path.read_text()
            before = time.time()
            good = AdtMessage("MX-1", "hcmc", arrived).render()
            bad = AdtMessage("MX-2", "hcmc", arrived).render().replace(arrived.strftime("%Y%m%d%H%M%S%z"), "x")
            with MLLPClient("127.0.0.1", port) as client:
                for message in (good, bad):
                    client.send_message(message)
            found = _scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            process.terminate()
            process.wait(timeout=15)
    assert before - 1 <= found[("vigil_feed_last_message_timestamp_seconds", (("feed", "hospital"),))] <= time.time()
    assert found[("vigil_ingest_shootings_total", (("kind", "gsw_arrival"), ("source", "hl7")))] == 1
    rejected = [key for key in found if key[0] == "vigil_dead_letters_total"]
    assert len(rejected) == 1 and dict(rejected[0][1])["stage"] == "hl7" and found[rejected[0]] == 1
    # the dead letter's reason is the ingest counter's
    reasons = {dict(k[1])["reason"] for k in found if k[0] in ("vigil_dead_letters_total", "vigil_ingest_rejected_total")}
    assert len(reasons) == 1
    assert ("process_cpu_seconds_total", ()) in found


async def test_http_ingest_sets_the_cad_feed_on_accepted_documents(kafka_bootstrap, deployment) -> None:
    import aiohttp

    from stream.feeds.http_ingest import EidoIngestServer
    from stream.ops.kafka import Topics, ensure_topics

    topics = Topics(prefix=f"mh{int(time.time() * 1000)}.")
    await ensure_topics(kafka_bootstrap, topics)
    registry = CollectorRegistry()
    server = EidoIngestServer(kafka_bootstrap, topics, frozenset({"metrics-test-token"}), deployment.classification, registry)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": "Bearer metrics-test-token", "Content-Type": "application/json"}
            async with http.post(f"{server.base_url}/ingest/eido", data=b'{"bad', headers=headers) as refused:
                assert refused.status == 400
            assert _value(registry, "vigil_feed_last_message_timestamp_seconds", {"feed": "cad"}) is None
            before = time.time()
            async with http.post(f"{server.base_url}/ingest/eido", data=as_bytes(shooting("MH-1")), headers=headers) as accepted:
                assert accepted.status == 202
            text = generate_latest(registry).decode()  # /metrics is on a port of its own (serve), not the ingest port
    finally:
        await server.stop()
    assert before <= _value(registry, "vigil_feed_last_message_timestamp_seconds", {"feed": "cad"}) <= time.time()
    assert 'vigil_feed_last_message_timestamp_seconds{feed="cad"}' in text
