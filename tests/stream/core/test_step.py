"""The step rule: one function moves the core, whole or not at all, for the worker, replay and backtest alike."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules.protocols import ProtocolSet
from stream.core.state import Config, CoreState
from stream.core.state_codec import dump_state
from stream.core.step import JUST_BEFORE, PRUNE_EVERY, step
from stream.feeds.ingest import ingest_cad
from stream.model.events import AckMessage, CoreInput, ShootingEvent
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, shooting

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)  # Saturday 22:04 in Minneapolis


@pytest.fixture
def config(deployment) -> Config:
    return Config(deployment.coverage, deployment.protocols)


def shot(deployment, incident: str, where: tuple[float, float], at: datetime) -> CoreInput:
    event = ingest_cad(shooting(incident, where, updated_at=at.isoformat()), deployment.classification, at)
    assert isinstance(event, ShootingEvent)
    return CoreInput(type="event", event=event)


def test_a_step_leaves_the_state_it_was_given_unchanged(deployment, config) -> None:
    state, _ = step(CoreState(), shot(deployment, "S-1", JORDAN, T0), T0, config)
    before = dump_state(state)
    after, done = step(state, shot(deployment, "S-1b", JORDAN, T0 + timedelta(minutes=20)), T0 + timedelta(minutes=20), config)
    assert dump_state(state) == before  # escalation fired and a new activation opened, on the new state only
    assert [i.step for i in done.outcome.intents][:1] == ["escalation"] and len(after.activations) == 2


def test_a_step_that_raises_half_way_changes_nothing(deployment, config, monkeypatch) -> None:
    state, _ = step(CoreState(), shot(deployment, "S-2", MIDTOWN_PHILLIPS, T0), T0, config)
    before = dump_state(state)
    render = ProtocolSet.render
    calls: list[str] = []

    def fails_on_the_second_team(self, audience, context, language="en"):
        calls.append(context["team"])
        if len(calls) == 2:
            raise RuntimeError("template failed")
        return render(self, audience, context, language)

    monkeypatch.setattr(ProtocolSet, "render", fails_on_the_second_team)
    with pytest.raises(RuntimeError):
        # the deadline of S-2 passes (an escalation fires), then a new shooting notifies a first team, then raises
        step(state, shot(deployment, "S-3", JORDAN, T0 + timedelta(minutes=11)), T0 + timedelta(minutes=11), config)
    assert len(calls) == 2 and dump_state(state) == before


def test_escalations_due_strictly_before_an_input_fire_first(deployment, config) -> None:
    state, first = step(CoreState(), shot(deployment, "S-4", JORDAN, T0), T0, config)
    deadline = next(i.ack_deadline for i in first.outcome.intents if i.ack_deadline)
    ack = CoreInput(type="ack", ack=AckMessage(ref="S-4", team="vi-north-nearnorth"))
    _, at_deadline = step(state, ack, deadline, config)  # an ack at the very deadline is in time
    assert at_deadline.outcome.intents == []
    _, just_after = step(state, ack, deadline + JUST_BEFORE, config)
    assert [i.step for i in just_after.outcome.intents] == ["escalation"]


def test_old_activations_are_forgotten_every_prune_period(deployment, config) -> None:
    state, _ = step(CoreState(), shot(deployment, "S-5", JORDAN, T0), T0, config)
    tick = CoreInput(type="tick")
    later = T0 + config.retention + timedelta(hours=1)
    state, done = step(state, tick, later, config)
    assert [a.id for a in done.forgotten] and state.activations == {}
    _, soon = step(state, tick, later + PRUNE_EVERY / 2, config)
    assert soon.forgotten == [] and not soon.changed


def _assignments(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}


def test_the_step_rule_is_written_once() -> None:
    defining = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "stream").rglob("*.py"))
                if _assignments(p) & {"JUST_BEFORE", "PRUNE_EVERY"}]
    assert defining == ["stream/core/step.py"]
    # the worker, replay and backtest call the step, never the parts it is made of
    callers = ["stream/runtime/activation.py", "stream/core/replay.py", "stream/core/backtest.py"]
    assert {c: _names_used(ROOT / c) & {"advance", "handle_event", "handle_ack", "prune"} for c in callers} == {c: set() for c in callers}
