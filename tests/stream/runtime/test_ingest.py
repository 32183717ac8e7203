"""The ingest and acks agents in-process: lists for topics, faults injected in them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from stream.feeds.eido_builder import build_eido
from stream.model.events import AckMessage, BoardAction, CoreInput, DeadLetter, EventKind, Intent, ShootingEvent
from stream.ops.metrics import WorkerMetrics
from stream.runtime.acks import AckForwarder
from stream.runtime.clocks import AgentClock
from stream.runtime.ingest import CadIngest, HospitalIngest
from stream.runtime.outputs import DeadLetters, OutputPolicy
from stream.runtime.records import Received
from tests.helpers import JORDAN, as_bytes, shooting
from tests.stream.runtime.fakes import FakeTopic, Halted, stop

T0 = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)
QUICK = OutputPolicy(attempts=3, base_delay_s=0.0)


def cad(deployment, events: FakeTopic, dlq: FakeTopic) -> tuple[CadIngest, WorkerMetrics]:
    metrics = WorkerMetrics(CollectorRegistry())
    agent = CadIngest(deployment.classification, events, DeadLetters(dlq, metrics.feeds), metrics, AgentClock(lambda: T0), QUICK, stop)
    return agent, metrics


def medical(incident: str) -> bytes:
    return as_bytes(build_eido(incident, "2026-07-04T22:01:00-05:00", internal_text="Medical (P)", lat=JORDAN[0], lon=JORDAN[1]))


def counted(metrics: WorkerMetrics, name: str, labels: dict[str, str]) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_batch_puts_its_shootings_on_the_events_topic_and_its_bad_documents_in_the_dead_letters(deployment) -> None:
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    agent, metrics = cad(deployment, events, dlq)
    await agent.handle([Received(medical("M-1"), timestamp=1.0), Received(as_bytes(shooting("S-1")), timestamp=2.0),
                        Received(b"{not json", timestamp=3.0)])
    [record] = events.records
    item = CoreInput.model_validate_json(record.value)
    assert item.event is not None and item.event.incident_id == "S-1" and record.key == b"minneapolis" and record.timestamp == 2.0
    letter = DeadLetter.model_validate_json(dlq.values()[0])
    assert letter.reason == "invalid_json"
    assert counted(metrics, "vigil_ingest_received_total", {"source": "eido"}) == 3
    assert counted(metrics, "vigil_ingest_filtered_total", {"source": "eido", "reason": "not_a_shooting"}) == 1


async def test_a_cad_record_with_the_drill_header_is_a_drill_event(deployment) -> None:
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    agent, _ = cad(deployment, events, dlq)
    await agent.handle([Received(as_bytes(shooting("S-1")), headers=[("vigil-drill", b"1")]), Received(as_bytes(shooting("S-2")))])
    drills = [CoreInput.model_validate_json(r.value).event.drill for r in events.records]
    assert drills == [True, False]


async def test_a_batch_whose_events_the_broker_does_not_take_stops_the_worker(deployment) -> None:
    events = FakeTopic("events", refuse_always=True)
    agent, _ = cad(deployment, events, FakeTopic("dlq"))
    with pytest.raises(Halted, match="cad ingest"):
        await agent.handle([Received(as_bytes(shooting("S-2")))])
    # refused for a moment only: sent again, and the batch completes
    events.refuse_always, events.refuse = False, 2
    await agent.handle([Received(as_bytes(shooting("S-2")))])
    assert len(events.records) == 1


async def test_a_parser_that_raises_dead_letters_the_document(deployment, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RecursionError("parser bug")

    monkeypatch.setattr("stream.runtime.ingest.ingest_cad", broken)
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    agent, _ = cad(deployment, events, dlq)
    await agent.handle([Received(as_bytes(shooting("S-3")))])
    letter = DeadLetter.model_validate_json(dlq.values()[0])
    assert (letter.reason, events.records) == ("ingest_failed", []) and "parser bug" in letter.detail


def arrival(**changes: object) -> bytes:
    event = ShootingEvent(event_id="evt-h-1", jurisdiction="minneapolis", source="hl7", incident_id="visit-h-1", ref="MSG-1",
                          kind=EventKind.GSW_ARRIVAL, reported_at=T0, received_at=T0, hospital="hcmc", intent=Intent.ASSAULT)
    return json.dumps({**event.model_dump(mode="json"), **changes}).encode()


async def test_hospital_arrivals_are_checked_again_and_forwarded(deployment) -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    agent = HospitalIngest("minneapolis", events, DeadLetters(dlq, metrics.feeds), metrics, AgentClock(lambda: T0), QUICK, stop)
    # stamped by the listener's wall clock, 150 days from the worker's (the demo runs the worker on its own clock)
    await agent.handle(Received(arrival(received_at="2026-12-02T07:00:00Z")))
    await agent.handle(Received(arrival(kind="person_shot")))
    [record] = events.records
    forwarded = CoreInput.model_validate_json(record.value).event
    assert forwarded is not None and forwarded.received_at == T0  # one clock: the worker's, as on the CAD path
    assert DeadLetter.model_validate_json(dlq.values()[0]).reason == "hospital_ingest_failed"


async def test_answers_go_to_the_events_topic_and_garbage_to_the_dead_letters() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    agent = AckForwarder(events, DeadLetters(dlq, metrics.feeds), "minneapolis", AgentClock(lambda: T0), QUICK, stop)
    await agent.handle(Received(AckMessage(ref="S-1", team="vi-central").model_dump_json().encode(), timestamp=5.0))
    await agent.handle(Received(b'{"ref": ""}'))
    item = CoreInput.model_validate_json(events.values()[0])
    assert item.ack is not None and item.ack.team == "vi-central" and events.records[0].timestamp == 5.0
    assert DeadLetter.model_validate_json(dlq.values()[0]).reason == "acks_failed"


async def test_board_actions_go_to_the_events_topic_as_actions_and_a_bad_one_to_the_dead_letters() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    agent = AckForwarder(events, DeadLetters(dlq, metrics.feeds), "minneapolis", AgentClock(lambda: T0), QUICK, stop)
    action = BoardAction(action="repage", ref="act-1", team="vi-central", by="dns1", request_id="r1")
    await agent.handle(Received(action.model_dump_json().encode()))
    await agent.handle(Received(b'{"action": "explode", "ref": "act-1", "by": "dns1", "request_id": "r2"}'))
    item = CoreInput.model_validate_json(events.values()[0])
    assert item.type == "action" and item.action == action
    assert len(events.records) == 1
    assert "explode" in DeadLetter.model_validate_json(dlq.values()[0]).detail
    await agent.handle(Received(b'{"task_id": "task-1", "ref": "act-1", "outcome": "done", "by": "lead-1"}'))
    item = CoreInput.model_validate_json(events.values()[1])
    assert item.type == "task_close" and item.task_close is not None and item.task_close.outcome == "done"


async def test_in_stream_time_an_input_read_again_keeps_its_own_moment(deployment) -> None:
    # after a rebalance a successor reads again an arrival its predecessor had handled, when the agent's stream
    # time has run hours past it: stamped with that later time, the arrival no longer found its activation
    # (kill drill, seed 1 of 2026-12-02: a new activation and its escalation, "acknowledge by 01:27" for a
    # Wed 06:20 arrival)
    metrics = WorkerMetrics(CollectorRegistry())
    events, dlq = FakeTopic("events"), FakeTopic("dlq")
    clock = AgentClock(stream_time=True)
    hospital = HospitalIngest("minneapolis", events, DeadLetters(dlq, metrics.feeds), metrics, clock, QUICK, stop)
    later, earlier = T0.timestamp() + 19 * 3600, T0.timestamp()
    await hospital.handle(Received(arrival(event_id="evt-h-2", ref="MSG-2"), timestamp=later))
    await hospital.handle(Received(arrival(), timestamp=earlier))
    stamped = [CoreInput.model_validate_json(r.value).event for r in events.records]
    assert [e.received_at for e in stamped if e is not None] == [datetime.fromtimestamp(later, UTC), T0]
    assert [r.timestamp for r in events.records] == [later, earlier]
    cad_events = FakeTopic("events")
    ingest = CadIngest(deployment.classification, cad_events, DeadLetters(FakeTopic("dlq"), metrics.feeds), metrics, clock, QUICK, stop)
    await ingest.handle([Received(as_bytes(shooting("S-9")), timestamp=later), Received(as_bytes(shooting("S-8")), timestamp=earlier)])
    assert [CoreInput.model_validate_json(r.value).event.received_at for r in cad_events.records] == [  # type: ignore[union-attr]
        datetime.fromtimestamp(later, UTC), T0]
