"""The activation agent: one input of the events topic at a time through the core's step, its intents and
timeline records on the broker, and only then the new state saved.

For each input (a shooting event, an answer, a clock tick), in this order:

1. ``step`` (stream/core/step.py) on the jurisdiction's state: whole or nothing. A step that raises is
   tried again (it is pure, so only a transient fault passes the second time); one that keeps raising
   dead-letters the input with the error, and the state stays as it was.
2. The intents go to the producer first (the alert path does not wait for the bookkeeping), then the
   timeline records; then all of them are confirmed on the broker (stream/runtime/outputs.py). When the
   broker will not take them, the worker stops without saving or acking: its successor reads the input
   again from the same state and decides the same intents (same ids, and dispatch sends none twice).
3. The new state is written to the table (its changelog lets a successor take over open activations and
   deadlines); Faust flushes the producer before it commits the input's offset.

The agent takes its table, topics, clock and config as parameters: a dict and lists stand in for them in
tests (tests/stream/runtime/test_activation.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NoReturn

import structlog

from stream.core.activations import notice_times, overdue
from stream.core.standdowns import Standdown
from stream.core.state import Config, CoreState
from stream.core.state_codec import STATE_LIMIT_BYTES, StateEncoder, fit_state, load_state
from stream.core.step import JUST_BEFORE, Step, step
from stream.model.events import CoreInput, NotificationIntent
from stream.model.sinks import Sink
from stream.ops.logs import bound_ids
from stream.ops.metrics import WorkerMetrics
from stream.runtime.clocks import AgentClock
from stream.runtime.outputs import DeadLetters, OutputPolicy, Outputs, halt
from stream.runtime.records import Received

log = structlog.get_logger(__name__)

STEP_ATTEMPTS = 3  # a pure step that raises three times will raise every time: the input is dead-lettered


@dataclass
class ActivationAgent:
    """The core's stream shell (see the module)."""

    table: MutableMapping[str, bytes]  # jurisdiction → the core state's bytes (stream/core/state_codec.py)
    intents: Sink
    timeline: Sink
    dead_letters: DeadLetters
    config: Config
    jurisdiction: str  # the deployment's: acks and ticks are for it
    metrics: WorkerMetrics
    clock: AgentClock
    policy: OutputPolicy = OutputPolicy()
    stop: Callable[[str], NoReturn] = halt
    # the standdowns in force or to come, as the worker's feed has them (stream/runtime/standdown_feed.py)
    standdowns: Callable[[], tuple[Standdown, ...]] = tuple
    _with_standdowns: tuple[tuple[Standdown, ...], Config] | None = None
    # decoded states, kept while the table holds the very bytes they were decoded from (or saved as)
    _decoded: dict[str, tuple[bytes | None, CoreState]] = field(default_factory=dict)
    _encoders: dict[str, StateEncoder] = field(default_factory=dict)  # per jurisdiction: activations' JSON kept between saves

    async def handle(self, record: Received) -> None:
        """Handle one input; returns once what it decided is on the broker and the state is saved."""
        started = time.perf_counter()
        now = self.clock.now("activations", record.timestamp)
        outputs = Outputs(self.policy)
        decided = await self._decide(record, now, outputs)
        if decided is not None:
            jurisdiction, item, state, done = decided
            await self._publish(done, record, outputs)
        await outputs.confirm_or_stop(self.stop, "activation")  # nothing saved, nothing acked: the input comes again
        if decided is not None:
            self._save(jurisdiction, state, done)
            self._observe(item, state, done, now)
        self.metrics.stage("activation", time.perf_counter() - started)

    def config_now(self) -> Config:
        """The core's config with the standdowns the feed has now (a new config only when they changed)."""
        current = self.standdowns()
        if self._with_standdowns is None or self._with_standdowns[0] is not current:
            self._with_standdowns = (current, replace(self.config, standdowns=current))
        return self._with_standdowns[1]

    def state_of(self, jurisdiction: str) -> CoreState:
        """The jurisdiction's state as the table holds it (decoded once per save)."""
        raw = self.table.get(jurisdiction)
        cached = self._decoded.get(jurisdiction)
        if cached is not None and (cached[0] is raw or cached[0] == raw):  # a disk store hands back copies
            return cached[1]
        state = load_state(raw)
        self._decoded[jurisdiction] = (raw, state)
        return state

    async def _decide(self, record: Received, now: datetime, outputs: Outputs) -> tuple[str, CoreInput, CoreState, Step] | None:
        try:
            item = CoreInput.model_validate_json(record.value)
        except Exception as exc:  # noqa: BLE001 - an input that does not decode is dead-lettered
            await self.dead_letters.failed(outputs, "activation", record.value, exc, now)
            return None
        jurisdiction = item.event.jurisdiction if item.event else self.jurisdiction
        failure: Exception | None = None
        for attempt in range(1, STEP_ATTEMPTS + 1):
            try:
                state, done = step(self.state_of(jurisdiction), item, now, self.config_now())
            except Exception as exc:  # noqa: BLE001 - the step is whole or nothing: the state is as before
                failure = exc
                log.warning("activation.step_failed", attempt=attempt, error=f"{type(exc).__name__}: {exc}"[:300])
                continue
            if done.outcome.problem:
                log.warning("ack.refused", problem=done.outcome.problem, ref=item.ack.ref if item.ack else None)
            return jurisdiction, item, state, done
        assert failure is not None
        await self.dead_letters.failed(outputs, "activation", record.value, failure, now)
        return None

    async def _publish(self, done: Step, record: Received, outputs: Outputs) -> None:
        # intents first: the alert path does not wait for the bookkeeping behind it
        for intent in done.outcome.intents:
            # stream time: the intent's own moment; otherwise its input's arrival on Kafka (for the latency)
            timestamp = intent.created_at.timestamp() if self.clock.stream_time else record.timestamp
            await outputs.put(self.intents, intent.intent_id.encode(), intent.model_dump_json().encode(), timestamp)
        for entry in done.outcome.timeline:
            await outputs.put(self.timeline, entry.activation_id.encode(), entry.model_dump_json().encode())

    def _save(self, jurisdiction: str, state: CoreState, done: Step) -> None:
        raw_before = self._decoded.get(jurisdiction, (None, None))[0]
        if not done.changed:  # a tick that changes nothing writes nothing
            self._decoded[jurisdiction] = (raw_before, state)
            return
        raw, shed = fit_state(state, encoder=self._encoders.setdefault(jurisdiction, StateEncoder()))
        if shed or len(raw) > STATE_LIMIT_BYTES:
            log.error("core_state.too_large", jurisdiction=jurisdiction, shed=shed, bytes=len(raw), activations=len(state.activations))
        self.table[jurisdiction] = raw
        self._decoded[jurisdiction] = (self.table.get(jurisdiction), state)

    def _observe(self, item: CoreInput, state: CoreState, done: Step, now: datetime) -> None:
        outcome = done.outcome
        self.metrics.decided(outcome, notice_times(state))
        moment = now if item.type == "tick" else now - JUST_BEFORE
        self.metrics.core_state(state_key(item, self.jurisdiction), len(state.activations), overdue(state, moment))
        self.metrics.followups(state_key(item, self.jurisdiction), outcome, state.activations.values, done.forgotten)
        escalated: dict[str, list[NotificationIntent]] = {}
        for intent in outcome.intents:
            if intent.step == "escalation":
                escalated.setdefault(intent.activation_id, []).append(intent)
        for activation_id, fired in escalated.items():
            with bound_ids(activation_id=activation_id):
                log.info("escalation.fired", teams=[i.team for i in fired], escalated=[i.escalated_team for i in fired])
        with bound_ids(activation_id=outcome.activation_id):
            if item.event is not None:
                log.info("activation.decided", event_id=item.event.event_id,
                         teams=[i.team for i in outcome.intents if i.step != "escalation"])
            elif item.ack is not None:
                log.info("ack.handled", team=item.ack.team, response=item.ack.response, escalated=[i.team for i in outcome.intents])
            elif item.action is not None:
                log.info("board.acted", action=item.action.action, team=item.action.team, by=item.action.by,
                         pages=len(outcome.intents))


def state_key(item: CoreInput, jurisdiction: str) -> str:
    """The table key an input belongs to: its event's jurisdiction, else the deployment's."""
    return item.event.jurisdiction if item.event else jurisdiction
