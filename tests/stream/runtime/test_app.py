"""The app's wiring: a record an agent fails on unexpectedly is dead-lettered, never skipped in silence."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from stream.model.events import DeadLetter
from stream.ops.metrics import WorkerMetrics
from stream.runtime.app import guarded
from stream.runtime.outputs import DeadLetters
from stream.runtime.records import Received
from tests.stream.runtime.fakes import FakeTopic


async def test_an_unexpected_error_in_an_agent_dead_letters_the_record_and_acks_it() -> None:
    dlq, acked = FakeTopic("dlq"), []

    async def broken(record: Received) -> None:
        raise KeyError("a bug")

    async def ack(record: Received) -> None:
        acked.append(record)

    record = Received(b'{"intent_id": "int-1"}')
    await guarded(broken, record, "dispatch", DeadLetters(dlq, WorkerMetrics(CollectorRegistry()).feeds), ack)
    letter = DeadLetter.model_validate_json(dlq.values()[0])
    assert (letter.reason, acked) == ("dispatch_failed", [record]) and "KeyError" in letter.detail
