"""A real Prometheus (Debian's, on loopback) loads infra/prometheus's rules and scrapes two stand-in
workers that expose the metrics contract through prometheus-client, the library the services use: every
rule evaluates without error, the recording rules give the values the dashboard shows, and an alert goes
pending. This catches what promtool's unit tests cannot: names as prometheus-client really writes them,
and rule errors that only show at evaluation."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tests.infra.infra_support import RULE_FILES

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stand_in_worker(acks_overdue: int) -> tuple[Any, int]:
    """A registry with the contract's worker metrics, served on a free loopback port."""
    registry = CollectorRegistry()
    ns = {"namespace": "vigil", "registry": registry}
    received = Counter("ingest_received", "", ["source"], **ns)
    Counter("ingest_shootings", "", ["source", "kind"], **ns).labels("eido", "person_shot").inc()
    Counter("ingest_filtered", "", ["source", "reason"], **ns).labels("eido", "not_a_shooting").inc(40)
    Counter("ingest_rejected", "", ["source", "reason"], **ns).labels("eido", "invalid_json").inc()
    Counter("dead_letters", "", ["stage", "reason"], **ns).labels("ingest", "invalid_json").inc()
    Gauge("feed_last_message_timestamp_seconds", "", ["feed"], **ns).labels("cad").set(time.time())
    Histogram("stage_seconds", "", ["stage"], **ns).labels("ingest").observe(0.002)
    Histogram("alert_latency_seconds", "", buckets=LATENCY_BUCKETS, **ns).observe(0.04)
    deliveries = Counter("deliveries", "", ["channel", "outcome"], **ns)
    deliveries.labels("push", "delivered").inc(3)
    deliveries.labels("push", "failed").inc(0)
    Counter("delivery_retries", "", ["channel"], **ns).labels("push")
    Counter("intents", "", ["step"], **ns).labels("initial").inc(3)
    Counter("escalations", "", **ns)
    Counter("acks", "", ["response", "in_time"], **ns).labels("ack", "yes").inc()
    Histogram("time_to_ack_seconds", "", buckets=(60, 300, 600, 900), **ns).observe(120)
    Counter("coverage_gaps", "", **ns)
    Gauge("open_activations", "", **ns).set(1)
    Gauge("acks_overdue", "", **ns).set(acks_overdue)
    Gauge("consumer_lag", "", ["topic", "partition"], **ns).labels("cad.eido", "0").set(3)
    Gauge("worker_assigned_partitions", "", **ns).set(16)
    Counter("web_requests", "", ["route", "status"], **ns).labels("/ack/{token}", "200").inc()
    Counter("ack_answers", "", ["response", "result"], **ns).labels("ack", "ok").inc()
    received.labels("eido").inc(50)
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    return server, port


def stand_in_service() -> tuple[Any, int]:
    """A process with only the web service's metrics."""
    registry = CollectorRegistry()
    Counter("web_requests", "", ["route", "status"], namespace="vigil", registry=registry).labels("/healthz", "200").inc()
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    return server, port


def get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def query(base: str, expr: str) -> list[dict[str, Any]]:
    return get(base, "/api/v1/query", query=expr)["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make prometheus` installs Debian's prometheus package"
    workers = [stand_in_worker(acks_overdue=1), stand_in_worker(acks_overdue=0)]
    other = stand_in_service()  # stands in for the hl7, web and ingest-http targets
    home = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULE_FILES],
        "scrape_configs": [
            {"job_name": "vigil-worker", "static_configs": [{"targets": [f"127.0.0.1:{port}" for _, port in workers]}]},
            *({"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{other[1]}"]}]}
              for job in ("vigil-hl7", "vigil-web", "vigil-ingest-http")),
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (home / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (home / "prometheus.log").read_text()
            try:
                up = query(base, "vigil:workers_up")
                if up and up[0]["value"][1] == "2" and query(base, 'ALERTS{alertname="AcksOverdue"}'):
                    time.sleep(3)  # a few more evaluations, with both workers scraped
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (home / "prometheus.log").read_text()[-3000:]
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        for server, _ in (*workers, other):
            server.shutdown()


def test_every_rule_evaluates_without_error(prometheus: str) -> None:
    groups = get(prometheus, "/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert names == {"vigil-recording", "vigil-alerts"}
    rules = [r for g in groups for r in g["rules"]]
    loaded = sum(len(g["rules"]) for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"])
    assert len(rules) == loaded
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken


def test_recording_rules_on_scraped_metrics(prometheus: str) -> None:
    def value(expr: str) -> float:
        (sample,) = query(prometheus, expr)
        return float(sample["value"][1])

    assert value("vigil:workers_up") == 2
    assert value("vigil:workers_expected") == 2
    assert value("vigil:worker_assigned_partitions") == 32
    assert 0 <= value('vigil:feed_age_seconds{feed="cad"}') < 60
    assert value("vigil:acks_overdue") == 1
    assert value("vigil:open_activations") == 2
    assert value('vigil:consumer_lag:by_topic{topic="cad.eido"}') == 3  # both report partition 0: once


def test_an_alert_goes_pending_and_the_quiet_ones_stay_quiet(prometheus: str) -> None:
    alerts = get(prometheus, "/api/v1/alerts")["data"]["alerts"]
    names = {a["labels"]["alertname"] for a in alerts}
    assert "AcksOverdue" in names  # vigil_acks_overdue 1 on one worker; `for: 2m`, so pending
    (overdue,) = [a for a in alerts if a["labels"]["alertname"] == "AcksOverdue"]
    assert overdue["state"] == "pending" and overdue["annotations"]["runbook_url"].endswith("#acksoverdue")
    assert not names & {"WorkerDown", "WebDown", "IngestHttpDown", "CadFeedSilent", "NoPartitionsAssigned", "DeliveryFailing"}
