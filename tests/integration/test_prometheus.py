"""A real Prometheus scrapes a real worker: the alert latency, the deliveries and the worker's health as
the alert rules and dashboards will read them (Debian's `prometheus` package, `make prometheus`)."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from notifiers.apprise_adapter import write_contacts
from stream.devtools.broker import free_port
from stream.devtools.processes import WorkerProcess
from stream.ops.kafka import Topics, ensure_topics
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, Inbox, as_bytes, shooting

pytestmark = pytest.mark.integration

PROMETHEUS = Path("/usr/bin/prometheus")
# P2 for each: the covering street team and gvi-outreach; Hiawatha has no street team, so dns-oncall
# (a coverage gap) and gvi-outreach. One phone per team: one intent, one delivery, one message each.
SHOOTINGS = (("PROM-JORDAN-1", JORDAN), ("PROM-PHILLIPS-1", MIDTOWN_PHILLIPS), ("PROM-HIAWATHA-1", HIAWATHA))
ALERTS = 6


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _query(base: str, expr: str) -> list[dict]:
    answer = json.loads(_get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def _scalar(base: str, expr: str) -> float | None:
    """The value of a query that yields one series, None when it yields none."""
    result = _query(base, expr)
    return float(result[0]["value"][1]) if result else None


def _until(base: str, checks: dict[str, object], timeout: float) -> dict[str, float | None]:
    """Query until every expression has its expected value (a number, or a predicate); the last values."""
    deadline = time.monotonic() + timeout
    while True:
        values = {expr: _scalar(base, expr) for expr in checks}
        ok = all(want(values[e]) if callable(want) else values[e] == want for e, want in checks.items())
        if ok or time.monotonic() > deadline:
            return values
        time.sleep(0.5)


def _start_prometheus(workdir: Path, target: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "vigil-worker", "scrape_interval": "1s", "static_configs": [{"targets": [target]}]}],
    }), encoding="utf-8")
    log_path = workdir / "prometheus.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the process holds it; closed with the test's files
    process = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            if _get(f"{base}/-/ready", timeout=1).strip():
                return process, base, log_path
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise TimeoutError(f"prometheus not ready after 60 s:\n{log_path.read_text(errors='replace')[-3000:]}")


async def test_prometheus_sees_the_alerts_latency_and_deliveries(kafka_bootstrap, tmp_path, deployment) -> None:
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: install Debian's prometheus package (`make prometheus`, or "
                    "`apt-get install -y prometheus`) to run this test")
    inbox = Inbox(tmp_path)
    worker: WorkerProcess | None = None
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {team: [f"json://127.0.0.1:{inbox.port}/phone/{team}-lead"] for team in deployment.coverage.teams})
        run = uuid.uuid4().hex[:8]
        topics = Topics(prefix=f"prom{run}.")
        await ensure_topics(kafka_bootstrap, topics)
        worker = WorkerProcess(kafka_bootstrap, contacts, f"sqlite:///{tmp_path / 'review.sqlite'}", tmp_path, app_id=f"vigil-prom-{run}",
                               topic_prefix=topics.prefix, clock_start="2026-07-04T22:00:00-05:00", faust_sensors=True)
        worker.start()
        worker.wait_ready()
        target = urllib.parse.urlsplit(worker.metrics_url()).netloc
        prometheus, base, prometheus_log = _start_prometheus(tmp_path, target)

        # the histogram's zero must be in the database before the alerts, or rate() has nothing to rise from
        before = _until(base, {'up{job="vigil-worker"}': 1.0, "sum(vigil_alert_latency_seconds_count)": 0.0}, timeout=30)
        assert before == {'up{job="vigil-worker"}': 1.0, "sum(vigil_alert_latency_seconds_count)": 0.0}, prometheus_log.read_text()[-3000:]

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for incident, where in SHOOTINGS:
                await producer.send_and_wait(topics.cad, as_bytes(shooting(incident, where)), key=b"cad")
        finally:
            await producer.stop()
        messages = inbox.wait(lambda found: len(found) >= ALERTS, timeout=30)
        time.sleep(1.0)  # a seventh (wrong) alert would land now
        messages = inbox.messages()
        assert len(messages) == ALERTS, (messages, worker.log_tail())

        latency_p99 = "histogram_quantile(0.99, sum(rate(vigil_alert_latency_seconds_bucket[1m])) by (le))"
        values = _until(base, {
            "sum(vigil_alert_latency_seconds_count)": float(ALERTS),
            'sum(vigil_deliveries_total{outcome="delivered"})': float(len(messages)),
            'sum(vigil_intents_total{step="initial"})': float(ALERTS),
            "sum(vigil_coverage_gaps_total)": 1.0,
            'sum(vigil_ingest_shootings_total{source="eido"})': float(len(SHOOTINGS)),
            'vigil_stage_seconds_count{stage="dispatch"}': float(ALERTS),
            latency_p99: lambda v: v is not None and math.isfinite(v) and 0 <= v <= 30,
            'time() - vigil_feed_last_message_timestamp_seconds{feed="cad"}': lambda v: v is not None and 0 <= v < 120,
            "vigil_open_activations": float(len(SHOOTINGS)),
            "vigil_acks_overdue": 0.0,
            "vigil_worker_assigned_partitions": lambda v: v is not None and v > 0,
            "sum(vigil_consumer_lag)": lambda v: v is not None and v >= 0,
            "sum(vigil_faust_messages_received_total)": lambda v: v is not None and v > 0,
            'process_resident_memory_bytes{job="vigil-worker"}': lambda v: v is not None and v > 0,
            'up{job="vigil-worker"}': 1.0,
        }, timeout=45)
        failing = {expr: value for expr, value in values.items() if value is None or (isinstance(value, float) and math.isnan(value))}
        assert not failing, (failing, values)
        assert values["sum(vigil_alert_latency_seconds_count)"] == ALERTS, values
        assert values['sum(vigil_deliveries_total{outcome="delivered"})'] == len(messages), values
        assert 0 <= values[latency_p99] <= 30, values  # type: ignore[operator]
        assert values["sum(vigil_coverage_gaps_total)"] == 1.0 and values["vigil_open_activations"] == len(SHOOTINGS), values
        assert values["vigil_worker_assigned_partitions"] > 0 and values['up{job="vigil-worker"}'] == 1.0, values  # type: ignore[operator]
        assert _query(base, 'vigil_deliveries_total{outcome=~"failed|timed_out|no_recipients"}') == []
        # the latency is measured from the records' Kafka timestamps on the wall clock: seconds, not the
        # hours between the worker's demo clock and now
        assert _scalar(base, "sum(vigil_alert_latency_seconds_sum)") < 30 * ALERTS  # type: ignore[operator]
    finally:
        if prometheus is not None:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=15)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
        if worker is not None:
            worker.stop()
        inbox.stop()
