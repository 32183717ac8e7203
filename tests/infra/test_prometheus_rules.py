"""Prometheus config, alert and recording rules: promtool's checks and unit tests, and what promtool
cannot see (runbook anchors, a firing and a quiet case per alert, names only from the metrics contract).

promtool comes from Debian's `prometheus` package (`make prometheus`, a prerequisite of `make test`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.infra.infra_support import (
    COMPOSE_FILE,
    DASHBOARD,
    JOBS,
    K8S,
    PROM,
    PROM_TESTS,
    RULE_FILES,
    RUNBOOK_URL,
    alert_rules,
    allowed,
    load_rules,
    metric_names,
    recorded_names,
    runbook_anchors,
    yaml_docs,
)

PROMTOOL = shutil.which("promtool")


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is missing: `make prometheus` installs Debian's prometheus package"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"


def test_promtool_check_config() -> None:
    assert_ok(promtool("check", "config", str(PROM / "prometheus.yml")))


def test_promtool_check_config_kubernetes(tmp_path: Path) -> None:
    """prometheus-k8s.yml finds pods with kubernetes_sd_configs. Debian's promtool is built without
    Kubernetes discovery and refuses that one field; then the rest (relabelling, rule files) is checked
    with the discovery swapped for a static target."""
    path = PROM / "prometheus-k8s.yml"
    result = promtool("check", "config", str(path))
    if result.returncode == 0:
        return
    assert "field kubernetes_sd_configs not found" in result.stdout + result.stderr, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    config["rule_files"] = [str((PROM / f).resolve()) for f in config["rule_files"]]
    for job in config["scrape_configs"]:
        sd = job.pop("kubernetes_sd_configs")
        assert sd == [{"role": "pod", "namespaces": {"names": ["vigil"]}}]
        job["static_configs"] = [{"targets": ["10.0.0.1:9600"]}]
    copy = tmp_path / "prometheus-k8s.yml"
    copy.write_text(yaml.safe_dump(config))
    assert_ok(promtool("check", "config", str(copy)))


def test_promtool_check_rules() -> None:
    assert_ok(promtool("check", "rules", *map(str, RULE_FILES)))


def test_promtool_unit_tests() -> None:
    assert PROM_TESTS, "no promtool unit tests in infra/prometheus/tests/"
    assert_ok(promtool("test", "rules", *map(str, PROM_TESTS)))


def test_promql_name_extraction() -> None:
    assert metric_names('sum by (le) (rate(vigil_alert_latency_seconds_bucket{job="x"}[5m])) > 1e-9') == {"vigil_alert_latency_seconds_bucket"}
    assert metric_names("(a unless a offset 10m) and on (job) (up offset 10m) or vector(0)") == {"a", "up"}
    assert metric_names('vigil:x{topic=~".*(cad\\\\.eido)"} > 6 * 3600') == {"vigil:x"}


def test_rules_use_only_contract_metrics_and_recording_rules() -> None:
    recorded = recorded_names()
    bad = {(r.get("record") or r.get("alert"), n) for r in load_rules() for n in metric_names(r["expr"]) if not allowed(n, recorded)}
    assert not bad, f"names outside the metrics contract and the recording rules: {sorted(bad)}"


def test_alerts_have_severity_numbers_and_runbook() -> None:
    anchors = runbook_anchors()
    for rule in alert_rules():
        name, labels, notes = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("severity") in {"critical", "warning"}, name
        assert notes.get("summary") and notes.get("description"), name
        assert re.search(r"\d", notes["description"]), f"{name}: the description gives no number"
        url = notes.get("runbook_url", "")
        assert url.startswith(RUNBOOK_URL), f"{name}: runbook_url {url!r}"
        anchor = url[len(RUNBOOK_URL):]
        assert anchor in anchors, f"{name}: infra/RUNBOOK.md has no heading with anchor #{anchor} ({sorted(anchors)})"
        assert anchor == name.lower(), f"{name}: its runbook section is #{name.lower()}, not #{anchor}"


def test_alerts_sharing_a_name_differ_by_labels() -> None:
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for rule in alert_rules():
        key = (rule["alert"], tuple(sorted(rule.get("labels", {}).items())))
        seen[key] = seen.get(key, 0) + 1
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]


def _alert_cases() -> list[tuple[str, dict[str, str], bool]]:
    """(alertname, expected labels, fires?) of every alert_rule_test case in the promtool unit tests."""
    cases = []
    for path in PROM_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                expected = case.get("exp_alerts") or []
                if not expected:
                    cases.append((case["alertname"], {}, False))
                for alert in expected:
                    cases.append((case["alertname"], {k: str(v) for k, v in alert.get("exp_labels", {}).items()}, True))
    return cases


def test_every_alert_rule_has_a_firing_and_a_quiet_case() -> None:
    cases = _alert_cases()
    for rule in alert_rules():
        name, labels = rule["alert"], {k: str(v) for k, v in rule.get("labels", {}).items()}
        fires = [got for alert, got, firing in cases if alert == name and firing and labels.items() <= got.items()]
        quiet = [alert for alert, _, firing in cases if alert == name and not firing]
        assert fires, f"{name} {labels}: no promtool test case where it fires"
        assert quiet, f"{name}: no promtool test case where it stays quiet"


def test_recording_rules_are_used_or_tested() -> None:
    """No dead recording rule: each is read by an alert, another rule, a dashboard panel, or a unit test."""
    rules = load_rules()
    used = {n for r in rules for n in metric_names(r["expr"])}
    used |= {n for n in re.findall(r"vigil:[a-z0-9_:]+", DASHBOARD.read_text())}
    for path in PROM_TESTS:
        used |= set(re.findall(r"vigil:[a-z0-9_:]+", path.read_text()))
    unused = recorded_names() - used
    assert not unused, f"recording rules nothing reads: {sorted(unused)}"


def test_some_recording_rules_have_expression_tests() -> None:
    tested = set()
    for path in PROM_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("promql_expr_test", []):
                tested |= metric_names(case["expr"]) & recorded_names()
    must = {"vigil:alert_latency_seconds:p99_5m", "vigil:deliveries:failure_ratio_5m", "vigil:dead_letters:increase10m",
            "vigil:feed_age_seconds", "vigil:workers_up", "vigil:workers_expected", "vigil:consumer_lag:by_topic"}
    assert must <= tested, f"recording rules without a promql_expr_test: {sorted(must - tested)}"


def test_expected_workers_match_the_deployments() -> None:
    """vigil:workers_expected is the documented constant: docker-compose's workers and the StatefulSet's replicas."""
    (rule,) = [r for r in load_rules() if r.get("record") == "vigil:workers_expected"]
    expected = int(re.fullmatch(r"vector\((\d+)\)", rule["expr"].strip()).group(1))
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    compose_workers = [s for s, spec in services.items() if spec.get("command", [None, None])[:2] == ["vigil", "worker"]]
    (statefulset,) = [d for d in yaml_docs(K8S / "workers.yaml") if d["kind"] == "StatefulSet"]
    assert expected == len(compose_workers) == statefulset["spec"]["replicas"], (expected, compose_workers, statefulset["spec"]["replicas"])


def test_compose_scrape_targets_match_the_services() -> None:
    """Each scrape target of prometheus.yml is a docker-compose service on the port its command serves
    metrics on, and the job names are the contract's."""
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert JOBS <= set(jobs)
    for name in JOBS:
        for static in jobs[name]["static_configs"]:
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                assert host in services, f"{name}: target {target} is no docker-compose service"
                command = services[host]["command"]
                serves = command[command.index("--metrics-port") + 1] if "--metrics-port" in command else command[command.index("--port") + 1]
                assert serves == port, f"{name}: {target}, but {host} serves metrics on {serves}"


def test_kubernetes_pods_are_scraped_under_the_contract_jobs() -> None:
    jobs = set()
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml_docs(path):
            if doc.get("kind") not in {"Deployment", "StatefulSet"}:
                continue
            template = doc["spec"]["template"]
            notes = template["metadata"].get("annotations", {})
            assert notes.get("prometheus.io/scrape") == "true", doc["metadata"]["name"]
            assert notes.get("prometheus.io/path") == "/metrics", doc["metadata"]["name"]
            ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
            assert int(notes["prometheus.io/port"]) in ports, f"{doc['metadata']['name']}: metrics port not a container port"
            jobs.add(notes["prometheus.io/job"])
    assert jobs == JOBS
