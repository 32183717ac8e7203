"""The core's state survives JSON: a replay cut in two, with the state saved and loaded between the
halves, makes exactly the notifications of the same replay in one go."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rules.scenarios import Scenario, scenario_line
from stream.activations import CoreState
from stream.core_state import dump_state, load_state
from stream.replay import Replay, hl7_key

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "rules" / "minneapolis" / "scenarios").glob("*.yaml"))


def notifications(deployment, scenario: Scenario, cut: int | None) -> list[tuple]:

    run = Replay(deployment, CoreState(), hl7_key())
    lines = sorted((scenario_line(n, s) for n, s in enumerate(scenario.steps, start=1)), key=lambda line: line.at)
    out = []
    for n, line in enumerate(lines):
        if n == cut:
            run.state = load_state(dump_state(run.state))  # a worker died here; its successor reads the changelog
        out += run.feed(line)
    out += run.finish(lines[-1].at + timedelta(hours=2))
    return [(i.intent_id, i.created_at, i.team, i.step, i.body) for i in out]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_saved_and_loaded_state_changes_nothing(deployment, path: Path) -> None:
    import yaml

    scenario = Scenario.model_validate(yaml.safe_load(path.read_text()))
    whole = notifications(deployment, scenario, None)
    for cut in range(1, len(scenario.steps)):
        assert notifications(deployment, scenario, cut) == whole


def test_a_state_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="core state format 99 is not 1: written by another version of Vigil"):
        load_state(b'{"format": 99}')
