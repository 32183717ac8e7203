"""The activation agent in-process: a dict for its table, lists for its topics, faults injected in them.

Each test here guards a way an alert was lost: intents the broker did not take saved as sent; a step that
raised half-way leaving a notice without its alert; an input lost because the worker went on after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from rules.protocols import ProtocolSet
from stream.core.state import Config
from stream.core.state_codec import load_state
from stream.feeds.ingest import ingest_cad
from stream.model.events import AckMessage, CoreInput, DeadLetter, NotificationIntent, ShootingEvent
from stream.ops.metrics import WorkerMetrics
from stream.runtime.activation import ActivationAgent
from stream.runtime.clocks import AgentClock
from stream.runtime.outputs import DeadLetters, OutputPolicy
from stream.runtime.records import Received
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, shooting
from tests.rules.followups_fixture import with_followups
from tests.stream.runtime.fakes import FakeTopic, Halted, stop

T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)  # Saturday 22:04 in Minneapolis: street teams on shift
QUICK = OutputPolicy(attempts=3, base_delay_s=0.0)


class Rig:
    """An activation agent on fakes; ``successor()`` is the worker that takes over after it halts or dies."""

    def __init__(self, deployment, config: Config | None = None, **topics: FakeTopic) -> None:
        self.deployment = deployment
        self.config = config or Config(deployment.coverage, deployment.protocols)
        self.table: dict[str, bytes] = {}
        self.intents = topics.get("intents", FakeTopic("intents"))
        self.timeline = topics.get("timeline", FakeTopic("timeline"))
        self.dlq = topics.get("dlq", FakeTopic("dlq"))
        self.moments = [T0]
        self.agent = self.successor()

    def successor(self) -> ActivationAgent:
        """A fresh agent on the same table and topics (what survives a worker)."""
        metrics = WorkerMetrics(CollectorRegistry())
        return ActivationAgent(self.table, self.intents, self.timeline, DeadLetters(self.dlq, metrics.feeds), self.config,
                               self.deployment.jurisdiction, metrics, AgentClock(lambda: self.moments[-1]), QUICK, stop)

    def shot(self, incident: str, where: tuple[float, float]) -> Received:
        """A person-shot report as the ingest agent puts it on the events topic."""
        event = ingest_cad(shooting(incident, where, updated_at=self.moments[-1].isoformat()), self.deployment.classification,
                           self.moments[-1])
        assert isinstance(event, ShootingEvent)
        return Received(CoreInput(type="event", event=event).model_dump_json().encode())

    def sent(self) -> list[tuple[str, str]]:
        """(team, step) of every intent on the intents topic."""
        return [(i.team, i.step) for i in map(NotificationIntent.model_validate_json, self.intents.values())]

    def notices(self) -> set[str]:
        """The teams the saved state has notified, over all activations."""
        state = load_state(self.table.get(self.deployment.jurisdiction))
        return {team for activation in state.activations.values() for team in activation.notices}


JORDAN_TEAMS = [("gvi-outreach", "initial"), ("vi-north-nearnorth", "initial")]


async def test_intents_the_broker_does_not_take_are_never_saved_as_sent(deployment) -> None:
    rig = Rig(deployment, intents=FakeTopic("intents", refuse_always=True))
    shot = rig.shot("MPLS-F-1", JORDAN)
    with pytest.raises(Halted, match="not taken by the broker"):
        await rig.agent.handle(shot)
    assert rig.table == {}  # not saved: the teams are not recorded as notified
    # the worker stopped without acking; its successor reads the input again and the broker takes it now
    rig.intents.refuse_always = False
    await rig.successor().handle(shot)
    assert sorted(rig.sent()) == JORDAN_TEAMS
    assert rig.notices() == {"gvi-outreach", "vi-north-nearnorth"}


async def test_intents_refused_for_a_moment_are_sent_again_before_the_state_is_saved(deployment) -> None:
    rig = Rig(deployment, intents=FakeTopic("intents", refuse=2))
    await rig.agent.handle(rig.shot("MPLS-F-2", JORDAN))
    assert sorted(rig.sent()) == JORDAN_TEAMS and rig.notices() == {"gvi-outreach", "vi-north-nearnorth"}


async def test_timeline_records_are_on_the_broker_before_the_state_is_saved(deployment) -> None:
    rig = Rig(deployment, timeline=FakeTopic("timeline", refuse_always=True))
    with pytest.raises(Halted):
        await rig.agent.handle(rig.shot("MPLS-F-3", JORDAN))
    assert rig.table == {}


async def test_a_step_that_raises_once_is_tried_again_and_every_team_is_alerted(deployment, monkeypatch) -> None:
    render = ProtocolSet.render
    raised: list[str] = []

    def flaky(self, audience, context, language="en"):
        if not raised:  # the first team's message fails to render, once
            raised.append(context["team"])
            raise RuntimeError("template failed on an odd event")
        return render(self, audience, context, language)

    monkeypatch.setattr(ProtocolSet, "render", flaky)
    rig = Rig(deployment)
    await rig.agent.handle(rig.shot("MPLS-F-4", JORDAN))
    assert raised and sorted(rig.sent()) == JORDAN_TEAMS
    assert rig.dlq.records == []
    # and the escalation of the street team is scheduled: it fires when the deadline passes
    rig.moments.append(T0 + timedelta(minutes=10, seconds=1))
    await rig.agent.handle(Received(CoreInput(type="tick").model_dump_json().encode()))
    assert rig.sent()[-1] == ("dns-oncall", "escalation")


async def test_a_step_that_keeps_raising_is_dead_lettered_and_changes_nothing(deployment, monkeypatch) -> None:
    render = ProtocolSet.render

    def broken_for_street(self, audience, context, language="en"):
        if audience == "street":
            raise RuntimeError("street template broken")
        return render(self, audience, context, language)

    rig = Rig(deployment)
    await rig.agent.handle(rig.shot("MPLS-F-5", MIDTOWN_PHILLIPS))  # a first activation, saved
    saved = dict(rig.table)
    before = len(rig.intents.records)
    monkeypatch.setattr(ProtocolSet, "render", broken_for_street)
    await rig.agent.handle(rig.shot("MPLS-F-6", JORDAN))
    letter = DeadLetter.model_validate_json(rig.dlq.values()[-1])
    assert (letter.source, letter.reason) == ("activation", "activation_failed") and "street template broken" in letter.detail
    assert len(rig.intents.records) == before and rig.table == saved
    # nothing half-applied is cached either: with the template mended, the same report alerts both teams
    monkeypatch.setattr(ProtocolSet, "render", render)
    await rig.agent.handle(rig.shot("MPLS-F-6", JORDAN))
    assert sorted(rig.sent()[before:]) == JORDAN_TEAMS


async def test_an_input_that_does_not_decode_is_dead_lettered_with_the_reason(deployment) -> None:
    rig = Rig(deployment)
    await rig.agent.handle(Received(b'{"type": "event"'))
    letter = DeadLetter.model_validate_json(rig.dlq.values()[0])
    assert letter.reason == "activation_failed" and "ValidationError" in letter.detail
    assert rig.table == {} and rig.intents.records == []


async def test_a_dead_letter_the_broker_does_not_take_stops_the_worker(deployment) -> None:
    rig = Rig(deployment, dlq=FakeTopic("dlq", refuse_always=True))
    with pytest.raises(Halted):
        await rig.agent.handle(Received(b"not json"))


async def test_an_answer_stops_the_escalation_and_a_tick_after_the_deadline_fires_the_others(deployment) -> None:
    rig = Rig(deployment)
    await rig.agent.handle(rig.shot("MPLS-F-7", JORDAN))
    await rig.agent.handle(rig.shot("MPLS-F-8", MIDTOWN_PHILLIPS))
    ack = AckMessage(ref="MPLS-F-7", team="vi-north-nearnorth", response="on_my_way")
    rig.moments.append(T0 + timedelta(minutes=3))
    await rig.agent.handle(Received(CoreInput(type="ack", ack=ack).model_dump_json().encode()))
    rig.moments.append(T0 + timedelta(minutes=11))
    await rig.agent.handle(Received(CoreInput(type="tick").model_dump_json().encode()))
    escalations = [NotificationIntent.model_validate_json(v) for v in rig.intents.values()]
    assert [(i.team, i.escalated_team) for i in escalations if i.step == "escalation"] == [("dns-oncall", "vi-south-phillips")]


async def test_in_stream_time_an_input_read_again_is_decided_at_its_own_moment(deployment) -> None:
    # a surviving worker whose stream time ran hours on handles again an input its dead peer had handled: it
    # must decide as the peer did (kill drill 2026-12-02, seed 1: an arrival decided 19 h of stream time late
    # no longer joined its shooting and opened an activation of its own, with a deadline before its arrival)
    rig = Rig(deployment)
    metrics = WorkerMetrics(CollectorRegistry())
    agent = ActivationAgent(rig.table, rig.intents, rig.timeline, DeadLetters(rig.dlq, metrics.feeds), rig.config,
                            deployment.jurisdiction, metrics, AgentClock(stream_time=True), QUICK, stop)
    later = T0 + timedelta(hours=19)
    await agent.handle(Received(CoreInput(type="tick").model_dump_json().encode(), timestamp=later.timestamp()))
    await agent.handle(Received(rig.shot("S-AGAIN", JORDAN).value, timestamp=T0.timestamp()))
    decided = [NotificationIntent.model_validate_json(value) for value in rig.intents.values()]
    assert sorted((i.team, i.created_at) for i in decided) == [(team, T0) for team, _ in JORDAN_TEAMS]


async def test_the_agent_decides_with_the_standdowns_its_feed_has_at_each_input(deployment) -> None:
    from stream.core.standdowns import Standdown

    rig = Rig(deployment)
    feed: list[tuple[Standdown, ...]] = [()]
    rig.agent.standdowns = lambda: feed[-1]
    await rig.agent.handle(rig.shot("S-1", JORDAN))
    assert ("vi-north-nearnorth", "initial") in rig.sent()
    feed.append((Standdown(id="sd-1", team="vi-north-nearnorth", reason="training", by="dns1", created_at=T0, starts=T0,
                           ends=T0 + timedelta(hours=2)),))
    before = len(rig.intents.values())
    await rig.agent.handle(rig.shot("S-2", JORDAN))
    later = [NotificationIntent.model_validate_json(v) for v in rig.intents.values()[before:]]
    assert [(i.team, i.stood_down_team) for i in later if i.team in ("vi-north-nearnorth", "dns-oncall")] == [("dns-oncall", "vi-north-nearnorth")]


async def test_the_agent_reports_follow_up_tasks_made_overdue_and_open_by_kind(deployment, tmp_path) -> None:
    """Issue 18: _observe feeds the follow-up metrics from each step's task records and the saved state."""
    rig = Rig(deployment, with_followups(deployment, tmp_path))
    registry = rig.agent.metrics.registry
    kind = {"kind": "family_contact"}
    await rig.agent.handle(rig.shot("MPLS-T-1", JORDAN))
    assert registry.get_sample_value("vigil_followups_created_total", kind) == 1
    assert registry.get_sample_value("vigil_followups_open", kind) == 1
    assert registry.get_sample_value("vigil_followups_overdue", kind) == 0
    rig.moments.append(T0 + timedelta(hours=48, seconds=1))  # F2 is due 48 hours after the notice
    await rig.agent.handle(Received(CoreInput(type="tick").model_dump_json().encode()))
    assert registry.get_sample_value("vigil_followups_overdue", kind) == 1
