"""The acks agent: answers from `vigil web` (answer pages, SMS replies, DNS on a team's behalf) and the live board's
actions (re-page, close) onto the events topic, keyed by jurisdiction, so that the owner of the jurisdiction's
state handles them in order with its reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from stream.model.events import AckMessage, BoardAction, CoreInput, TaskClose
from stream.model.sinks import Sink
from stream.runtime.clocks import AgentClock
from stream.runtime.outputs import DeadLetters, OutputPolicy, Outputs, halt
from stream.runtime.records import Received


@dataclass
class AckForwarder:
    """An answer or a board action on the acks topic becomes a core input; one that does not decode is dead-lettered."""

    events: Sink
    dead_letters: DeadLetters
    jurisdiction: str
    clock: AgentClock
    policy: OutputPolicy = OutputPolicy()
    stop: Callable[[str], NoReturn] = halt

    async def handle(self, record: Received) -> None:
        """Forward one answer; returns once it (or its dead letter) is on the broker."""
        now = self.clock.now("acks", record.timestamp)
        outputs = Outputs(self.policy)
        try:
            item = core_input(record.value)
        except Exception as exc:  # noqa: BLE001 - an answer that does not decode is dead-lettered with the reason
            await self.dead_letters.failed(outputs, "acks", record.value, exc, now)
        else:
            await outputs.put(self.events, self.jurisdiction.encode(), item.model_dump_json().encode(),
                              self.clock.carried(record.timestamp, now))
        await outputs.confirm_or_stop(self.stop, "acks")


def core_input(raw: bytes) -> CoreInput:
    """The core input of one acks-topic record: a board action (it has an ``action``), a task's closing (a
    ``task_id``), else an answer;
    ``ValueError`` says what is wrong with it."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None  # not JSON: the answer's decoding below says so
    if isinstance(payload, dict) and "action" in payload:
        return CoreInput(type="action", action=BoardAction.model_validate_json(raw))
    if isinstance(payload, dict) and "task_id" in payload:
        return CoreInput(type="task_close", task_close=TaskClose.model_validate_json(raw))
    return CoreInput(type="ack", ack=AckMessage.model_validate_json(raw))
