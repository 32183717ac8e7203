"""What an input decided, on the broker before the input is acked; and what happens when it cannot get there.

An agent hands every record an input causes to ``Outputs`` and then ``confirm``s them: that waits until
the broker has each one, sends again those it refused (a bounded number of times, with backoff), and
raises ``OutputLost`` when some still have not arrived. A record sent twice is harmless: every record
carries a deterministic id (event, intent, timeline entry) that its consumer deduplicates on.

On ``OutputLost`` the worker stops at once, without acking the input (``halt``): nothing after the input
is committed, so its successor reads it again from the same state. Raising instead would be worse: Faust
restarts a crashed agent in the same process and the input is never read again; and an orderly stop
acks what a stream had buffered (``take_events``' finally) before it commits.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

import structlog

from stream.feeds.ingest import excerpt
from stream.model.events import DeadLetter
from stream.model.sinks import Sink
from stream.ops.metrics import FeedMetrics

log = structlog.get_logger(__name__)

# the exit status of a worker that stopped because the broker would not take what an input decided
EXIT_OUTPUT_LOST = 75  # EX_TEMPFAIL: the orchestrator restarts it, and the input is read again


class OutputLost(Exception):
    """Records an input decided that the broker did not take after every attempt."""


@dataclass(frozen=True)
class OutputPolicy:
    """How long an input's records are sent again before the worker gives up: about 10 s in all by default
    (a broker that does not take a record for that long is down, and another worker may do better)."""

    attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))


@dataclass
class _Record:
    sink: Sink
    key: bytes | None
    value: bytes
    timestamp: float | None
    headers: Mapping[str, bytes] | None
    sent: Awaitable[Any] | None = None

    async def send(self) -> None:
        self.sent = await self.sink.send(key=self.key, value=self.value, timestamp=self.timestamp, headers=self.headers)


@dataclass
class Outputs:
    """The records of one input (or one batch of inputs), sent at once and confirmed together."""

    policy: OutputPolicy = field(default_factory=OutputPolicy)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _records: list[_Record] = field(default_factory=list)

    async def put(self, sink: Sink, key: bytes | None, value: bytes, timestamp: float | None = None,
                  headers: Mapping[str, bytes] | None = None) -> None:
        """Hand one record to the producer now (the alert path does not wait for the others)."""
        record = _Record(sink, key, value, timestamp, headers)
        self._records.append(record)
        await _attempt(record)

    async def confirm(self) -> None:
        """Return once the broker has every record put so far; raise ``OutputLost`` when it will not."""
        waiting = self._records
        self._records = []
        for attempt in range(1, self.policy.attempts + 1):
            results = await asyncio.gather(*(_arrived(r) for r in waiting))
            waiting = [record for record, ok in zip(waiting, results, strict=True) if not ok]
            if not waiting:
                return
            log.warning("output.not_taken", records=len(waiting), attempt=attempt)
            if attempt < self.policy.attempts:
                await self.sleep(self.policy.delay(attempt))
                for record in waiting:
                    await _attempt(record)
        raise OutputLost(f"{len(waiting)} record(s) not taken by the broker after {self.policy.attempts} attempts")

    async def confirm_or_stop(self, stop: Callable[[str], NoReturn], stage: str) -> None:
        """``confirm``; when the broker will not take the records, stop the worker (``stop``, naming the stage)."""
        try:
            await self.confirm()
        except OutputLost as exc:
            stop(f"{stage}: {exc}")


async def _attempt(record: _Record) -> None:
    try:
        await record.send()
    except Exception as exc:  # noqa: BLE001 - a producer that refuses at once is one more failed attempt
        log.warning("output.send_refused", error=type(exc).__name__)
        record.sent = None


async def _arrived(record: _Record) -> bool:
    if record.sent is None:
        return False
    try:
        await record.sent
    except Exception as exc:  # noqa: BLE001 - any failure: the record is sent again
        log.warning("output.send_failed", error=f"{type(exc).__name__}: {exc}"[:200])
        return False
    return True


def halt(reason: str) -> NoReturn:
    """Stop the worker at once, acking and committing nothing more (see the module): like a crash, which
    the at-least-once design already survives."""
    log.critical("worker.halting", reason=reason, exit_status=EXIT_OUTPUT_LOST)
    sys.stderr.flush()
    os._exit(EXIT_OUTPUT_LOST)


@dataclass
class DeadLetters:
    """The dead-letter topic, as the agents write to it: every rejected record with its reason, counted."""

    sink: Sink
    feeds: FeedMetrics

    async def reject(self, outputs: Outputs, letter: DeadLetter, stage: str) -> None:
        """A record the feeds rejected with a reason of their own."""
        await outputs.put(self.sink, letter.source.encode(), letter.model_dump_json().encode())
        self.feeds.dead_letter(stage, letter.reason)

    async def failed(self, outputs: Outputs, stage: str, raw: bytes, exc: BaseException, at: datetime) -> None:
        """A record a stage could not handle (a bug, or an internal record that does not decode)."""
        log.error("stage.failed", stage=stage, error=f"{type(exc).__name__}: {exc}"[:300])
        letter = DeadLetter(source=stage, reason=f"{stage}_failed", detail=f"{type(exc).__name__}: {exc}"[:500], excerpt=excerpt(raw),
                            received_at=at)
        await self.reject(outputs, letter, stage)
