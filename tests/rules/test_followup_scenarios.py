"""The follow-up protocol's scenarios (tests/rules/followup_scenarios/: F1-F4, across the spring clock change and a
retaliation watch over a weekend), run by `vigil rules test`'s checker against the deployment with F1-F4 loaded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stream.core.scenarios import check_scenario
from tests.rules.followups_fixture import with_followups

SCENARIOS = sorted((Path(__file__).parent / "followup_scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_each_follow_up_scenario_makes_exactly_the_tasks_it_expects(path: Path, deployment, tmp_path: Path) -> None:
    followups = replace(deployment, protocols=with_followups(deployment, tmp_path).protocols)
    result = check_scenario(path, followups)
    assert result.passed, "\n".join(result.problems)


def test_a_task_not_made_is_named_with_its_line(deployment, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(SCENARIOS[0].read_text().replace('due: "2026-07-05T22:40:00-05:00"', 'due: "2026-07-05T21:40:00-05:00"'))
    followups = replace(deployment, protocols=with_followups(deployment, tmp_path).protocols)
    problems = check_scenario(wrong, followups).problems
    assert any("wrong.yaml:11" in p and "task expected but not made" in p for p in problems), problems
    assert any("task made but not expected" in p and "bedside" in p for p in problems), problems
