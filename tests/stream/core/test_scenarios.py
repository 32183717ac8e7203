"""The planners' scenario files for the Minneapolis protocols (rules/minneapolis/scenarios/*.yaml).

Each file is written from docs/demo-deployment.md (the contract), not from the code: one pytest case
per file, failing with the scenario's own problems (expected but not sent, sent but not expected).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stream.core.deployment import Deployment, DeploymentPaths
from stream.core.scenarios import Scenario, check_scenario, describe, run_scenario

SCENARIOS = sorted((DeploymentPaths.bundled().protocols.parent / "scenarios").glob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert SCENARIOS, "no scenario files in rules/minneapolis/scenarios/"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path, deployment: Deployment) -> None:
    result = check_scenario(path, deployment)
    passed = result.passed
    assert passed, f"{path.name}: {result.name}\n" + "\n".join(result.problems)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_same_scenario_twice_gives_identical_notifications(path: Path, deployment: Deployment) -> None:
    scenario = Scenario.model_validate(yaml.safe_load(path.read_text()))
    first = run_scenario(scenario, deployment)
    second = run_scenario(scenario, deployment)
    assert [(describe(i), i.activation_id, i.refs, i.title, i.body) for i in first] == [
        (describe(i), i.activation_id, i.refs, i.title, i.body) for i in second
    ]
    assert first == second
