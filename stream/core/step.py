"""The step rule: how one input moves the core, the same in the worker, `vigil replay` and `vigil backtest`.

1. The escalations due strictly before the input fire first (for a clock tick: due at or before it), so
   an ack that comes exactly at its deadline is in time, and a report that comes after a deadline finds
   the escalation already sent.
2. Then the input itself: a shooting report, an answer, or a board action; a tick also tells the on-call team
   of the standdown windows that ended since the last one (stream/core/standdown_ends.py).
3. Every ``PRUNE_EVERY`` of core time, activations older than the retention with nothing pending are
   forgotten (they would only have served correlation and look-backs).

The step is whole or nothing: it runs on a draft of the state (stream/core/state.py), so when anything
raises half-way (a template that fails on an odd event, say) the caller's state is exactly as it was,
and the input can be retried or dead-lettered without a half-applied change (a notice without its alert).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stream.core import tasks
from stream.core.activations import advance, handle_ack, handle_action, handle_event, prune
from stream.core.standdown_ends import tell_ended
from stream.core.state import Activation, Config, CoreState, Outcome
from stream.model.events import CoreInput

JUST_BEFORE = timedelta(microseconds=1)
PRUNE_EVERY = timedelta(minutes=10)


@dataclass
class Step:
    """What one step decided, and what it forgot."""

    outcome: Outcome
    forgotten: list[Activation] = field(default_factory=list)  # activations pruned by this step

    @property
    def changed(self) -> bool:
        """Whether the state must be saved: something was decided, recorded or forgotten."""
        return bool(self.outcome.intents or self.outcome.timeline or self.forgotten)


def step(state: CoreState, item: CoreInput, now: datetime, config: Config) -> tuple[CoreState, Step]:
    """Apply one input at core time ``now`` (see the module); returns the new state and what the step did.
    ``state`` itself is never changed, also when this raises."""
    draft = state.draft()
    outcome = advance(draft, now if item.type == "tick" else now - JUST_BEFORE, config)
    if item.type == "event" and item.event is not None:
        outcome.add(handle_event(draft, item.event, now, config))
    elif item.type == "ack" and item.ack is not None:
        ack = item.ack
        outcome.add(handle_ack(draft, ack.ref, ack.team, now, config, ack.response, ack.person, ack.by))
    elif item.type == "action" and item.action is not None:
        outcome.add(handle_action(draft, item.action, now, config))
    elif item.type == "task_close" and item.task_close is not None:
        outcome.add(tasks.close(draft, item.task_close, now))
    if item.type == "tick":
        outcome.add(tell_ended(draft, now, config))
    forgotten = _forget_old(draft, now, config)
    return draft.settled(), Step(outcome, forgotten)


def finish(state: CoreState, until: datetime, config: Config) -> tuple[CoreState, Step]:
    """Run the clock to ``until`` with no input: every escalation due by then fires (a replay's tail)."""
    return step(state, CoreInput(type="tick"), until, config)


def _forget_old(state: CoreState, now: datetime, config: Config) -> list[Activation]:
    if state.pruned_at is not None and now - state.pruned_at < PRUNE_EVERY:
        return []
    state.pruned_at = now
    before = dict(state.activations)
    prune(state, now, config.retention)
    return [activation for activation_id, activation in before.items() if activation_id not in state.activations]
