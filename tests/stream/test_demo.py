"""`vigil demo` end to end, as `make demo` runs it (its own embedded broker, worker, inbox, SQLite)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from stream.demo import predict, read_sample

pytestmark = pytest.mark.integration


def test_sample_prediction_matches_the_deployment_contract(deployment) -> None:
    prediction = predict(read_sample(), deployment, b"demo-test-secret-0123")
    teams = sorted(team for _, team in prediction.alerts)
    assert teams == ["nextstep-hcmc", "vi-central", "vi-north-nearnorth", "vi-south-phillips", "vi-south-powderhorn"]
    assert (prediction.shootings, prediction.not_shootings, prediction.dead_letters) == (8, 3, 1)
    assert len(prediction.coverage_gaps) == 1


def test_demo_prints_every_alert_with_latency_and_a_summary(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "--log-level", "warning", "demo", "--workdir", str(tmp_path), "--timeout", "60"],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = re.findall(r"ALERT\s+(\S+)\s+([\d.]+) ms", result.stdout)
    assert sorted(r for r, _ in alerts) == [
        "nextstep-hcmc-lead", "vi-central-lead", "vi-north-nearnorth-lead", "vi-south-phillips-lead", "vi-south-powderhorn-lead"]
    assert all(float(ms) > 0 for _, ms in alerts)
    assert result.stdout.count("[ACK AA]") == 2
    assert "alerts                 5 of 5 predicted, 0 duplicate(s)" in result.stdout
    assert "timeline rows stored   26 of 26" in result.stdout
    assert "DEMOPATIENT" not in result.stdout and "DEMOPATIENT" not in (tmp_path / "inbox.jsonl").read_text()
    assert "result                 OK" in result.stdout
    assert (tmp_path / "review.sqlite").exists()
