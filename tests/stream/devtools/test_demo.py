"""`vigil demo` end to end, as `make demo` runs it (its own embedded broker, worker, inbox, SQLite)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from stream.devtools.demo import predict, read_sample

pytestmark = pytest.mark.integration


def test_sample_prediction_matches_the_deployment_contract(deployment) -> None:
    prediction = predict(read_sample(), deployment, b"demo-test-secret-0123")
    teams = sorted(team for _, team in prediction.alerts)
    # P2 street team + gvi-outreach (x3 on shift), P2 coverage gap: dns-oncall + gvi-outreach (Hiawatha),
    # P1 street team (Powderhorn), P3 Next Step (three person-shot activations in the window: no join)
    assert teams == ["dns-oncall", "gvi-outreach", "gvi-outreach", "gvi-outreach", "gvi-outreach", "nextstep-hcmc",
                     "vi-central", "vi-north-nearnorth", "vi-south-phillips", "vi-south-powderhorn"]
    # the A08 update is skipped, like the three ordinary calls
    assert (prediction.shootings, prediction.not_shootings, prediction.dead_letters) == (7, 4, 1)
    assert len(prediction.coverage_gaps) == 1


def test_demo_prints_every_alert_with_latency_and_a_summary(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "--log-level", "warning", "demo", "--workdir", str(tmp_path), "--timeout", "60"],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sample, answers = result.stdout.split("\nanswers (tapped through the alerts' links)\n")
    alerts = re.findall(r"ALERT\s+(\S+)\s+([\d.]+) ms", sample)
    assert sorted(r for r, _ in alerts) == [
        "dns-oncall-lead", "gvi-outreach-lead", "gvi-outreach-lead", "gvi-outreach-lead", "gvi-outreach-lead", "nextstep-hcmc-lead",
        "vi-central-lead", "vi-north-nearnorth-lead", "vi-south-phillips-lead", "vi-south-powderhorn-lead"]
    assert all(float(ms) > 0 for _, ms in alerts)
    assert result.stdout.count("[ACK AA]") == 2
    assert "alerts                 10 of 10 predicted, 0 duplicate(s)" in result.stdout
    assert "timeline rows stored   34 of 34" in result.stdout
    assert "DEMOPATIENT" not in result.stdout and "DEMOPATIENT" not in (tmp_path / "inbox.jsonl").read_text()
    assert "result                 OK" in result.stdout
    assert (tmp_path / "review.sqlite").exists()
    # the answers tapped through the links: "on my way" is recorded and stops that escalation; "can't
    # respond" escalates to dns-oncall at once; a used link is refused
    assert re.search(r"TAP\s+vi-north-nearnorth-lead\s+on_my_way\s+-> 200", answers)
    assert re.search(r"TAP\s+vi-south-phillips-lead\s+unable\s+-> 200 Thank you: Can't respond — DNS on-call will be told", answers)
    assert re.search(r"ALERT\s+dns-oncall-lead\s+[\d.]+ ms\s+VIGIL on-call: vi-south-phillips can't respond - Midtown Phillips \(escalation\)", answers)
    assert re.search(r"TAP\s+vi-north-nearnorth-lead\s+ack\s+-> 409", answers)
    assert "timeline: vi-north-nearnorth answered on_my_way (its escalation is stopped)" in answers
    assert "timeline: vi-south-phillips answered unable" in answers
