"""The follow-up benchmark's measurement on a short slice of the synthetic year: tasks are made, by the follow-up
rules only, and the metrics run sees the same tasks (no speed assertion: speed is the benchmark's, on a whole year)."""

from __future__ import annotations

from pathlib import Path

from load_tests.bench_replay import scenario_lines
from load_tests.bench_tasks import measure


def test_a_slice_of_the_year_with_follow_ups_makes_tasks_and_without_none(deployment, tmp_path: Path) -> None:
    lines = scenario_lines(2025)[:400]  # about a month of shootings and arrivals
    results = measure(lines, deployment, tmp_path)
    made = results["with_followups"]
    assert made["tasks"] > 20 and made["tasks"] == sum(made["tasks_by_kind"].values())
    assert {"bedside", "family_contact"} <= set(made["tasks_by_kind"])
    assert made["tasks_per_s"] > 0 and results["steps"] == 401  # every line a step, and the final tick
    # the metrics walked the state on the steps that touched a task, not on every step
    assert 1 <= results["with_followups_and_metrics"]["recounts"] < results["steps"]
    # the follow-ups add reminders and overdue notices to the intents, nothing else changes
    assert made["intents"] > results["without_followups"]["intents"]
