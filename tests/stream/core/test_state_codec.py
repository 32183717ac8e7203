"""The core's state survives JSON: a replay cut in two, with the state saved and loaded between the
halves, makes exactly the notifications of the same replay in one go."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stream.core.replay import Replay, hl7_key
from stream.core.scenarios import Scenario, scenario_line
from stream.core.state import CoreState
from stream.core.state_codec import dump_state, load_state

SCENARIOS = sorted((Path(__file__).resolve().parents[3] / "rules" / "minneapolis" / "scenarios").glob("*.yaml"))


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


# --- size: one table value, one Kafka record ---------------------------------------------------------------

def _open_shootings(deployment, count: int, start=None, prefix: str = "SZ"):
    import json
    from datetime import UTC, datetime

    from stream.core.activations import handle_event
    from stream.core.state import Config
    from stream.feeds.eido_builder import build_eido
    from stream.feeds.ingest import ingest_cad
    from tests.rules.followups_fixture import no_followups

    start = start or datetime(2026, 7, 5, 3, 0, tzinfo=UTC)
    # no follow-ups: their tasks would keep every activation pending for days, and these tests are of shedding
    state, config = CoreState(), Config(deployment.coverage, no_followups(deployment.protocols))
    for n in range(count):
        at = start + timedelta(minutes=n)
        doc = build_eido(f"{prefix}-{n}", at.isoformat(), apco="SHOOT", lat=45.0003 + n * 1e-4, lon=-93.3001)
        handle_event(state, ingest_cad(json.dumps(doc).encode(), deployment.classification, at), at, config)
    return state, config


def test_a_small_state_is_plain_json_and_a_big_one_compressed_and_both_load(deployment) -> None:
    import zlib

    from stream.core.state_codec import COMPRESS_ABOVE_BYTES

    small, _ = _open_shootings(deployment, 3)
    plain = dump_state(small)
    assert plain[:1] == b"{"
    assert load_state(plain).activations.keys() == small.activations.keys()
    big, _ = _open_shootings(deployment, 200)
    packed = dump_state(big)
    assert packed[:1] != b"{" and len(zlib.decompress(packed)) > COMPRESS_ABOVE_BYTES > len(packed)
    assert load_state(packed).activations.keys() == big.activations.keys()


def test_fit_state_sheds_closed_activations_oldest_first(deployment) -> None:
    """Over the limit, activations with nothing pending go, oldest first; the ones whose teams may still be
    escalated stay, and the correlation indexes forget only the shed ones."""
    from stream.core.activations import advance
    from stream.core.state_codec import fit_state

    state, config = _open_shootings(deployment, 40)
    old = len(state.activations)
    last = max(a.opened_at for a in state.activations.values())
    # two hours on: every escalation of the first 40 has fired and nothing of theirs is pending
    advance(state, last + timedelta(hours=2), config)
    newer, _ = _open_shootings(deployment, 5, start=last + timedelta(hours=2), prefix="SZ-NEW")
    for activation in newer.activations.values():
        state.activations[activation.id] = activation
        state.opened.append(activation.id)
    state.timers += newer.timers
    whole = len(dump_state(state))
    before = dict(state.activations)
    raw, shed = fit_state(state, limit=whole // 2)
    dropped = [a for i, a in before.items() if i not in state.activations]
    assert len(raw) <= whole // 2
    assert 0 < shed < old
    assert set(newer.activations) <= set(state.activations)  # pending: kept
    kept_old = sorted(a.opened_at for a in state.activations.values() if a.id not in newer.activations)
    assert old - len(kept_old) == shed
    assert kept_old[0] > max(a.opened_at for a in dropped)  # the oldest went
    assert set(state.by_incident.values()) <= set(state.activations)
    assert load_state(raw).activations.keys() == state.activations.keys()


def test_fit_state_keeps_a_state_of_pending_activations_whole(deployment) -> None:
    from stream.core.state_codec import fit_state

    state, _ = _open_shootings(deployment, 10)
    raw, shed = fit_state(state, limit=100)
    assert shed == 0 and len(state.activations) == 10  # all still due to escalate: none is dropped
    assert len(raw) > 100


@pytest.mark.parametrize("path", SCENARIOS[:20], ids=[p.stem for p in SCENARIOS[:20]])
def test_the_worker_encoder_writes_what_dump_state_writes_and_reencodes_only_what_a_step_changed(deployment, path: Path,
                                                                                                 monkeypatch) -> None:
    import yaml

    from stream.core import state_codec

    scenario = Scenario.model_validate(yaml.safe_load(path.read_text()))
    run = Replay(deployment, CoreState(), hl7_key())
    encoder = state_codec.StateEncoder()
    encoded: list[str] = []
    original = state_codec._activation
    monkeypatch.setattr(state_codec, "_activation", lambda a: encoded.append(a.id) or original(a))
    for line in sorted((scenario_line(n, s) for n, s in enumerate(scenario.steps, start=1)), key=lambda line: line.at):
        before = {a_id: a for a_id, a in run.state.activations.items()}
        run.feed(line)
        encoded.clear()
        fast = encoder.dump(run.state)
        changed = {a_id for a_id, a in run.state.activations.items() if before.get(a_id) is not a}
        assert set(encoded) == changed  # only the activations the step wrote were encoded again
        assert fast == dump_state(run.state)


def test_the_hundred_block_is_saved_and_a_state_saved_without_one_loads(deployment) -> None:
    import json
    from datetime import UTC, datetime

    from stream.core.activations import handle_event
    from stream.core.state import Config
    from stream.model.events import EventKind, Location, ShootingEvent

    at = datetime(2026, 7, 5, 3, 0, tzinfo=UTC)
    event = ShootingEvent(event_id="evt-b", jurisdiction="minneapolis", source="eido", incident_id="B-1", ref="B-1",
                          kind=EventKind.PERSON_SHOT, reported_at=at, received_at=at, location=Location(lat=45.0003, lon=-93.3001),
                          block="2400 block of James Ave N")
    state = CoreState()
    activation_id = handle_event(state, event, at, Config(deployment.coverage, deployment.protocols)).activation_id
    assert load_state(dump_state(state)).activations[activation_id].block == "2400 block of James Ave N"
    saved = json.loads(dump_state(state))
    for activation in saved["activations"]:
        del activation["block"]  # a state written before activations kept the block
    assert load_state(json.dumps(saved).encode()).activations[activation_id].block is None
