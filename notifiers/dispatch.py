"""Dispatch as small stages, each with one job, run in order for every record of the intents topic (as
Alertmanager's ``notify.Stage`` pipeline):

- ``Dedup``: against the dispatch log (intent id → status; the worker's table, whose changelog makes it
  survive a restart): an intent's first record goes on only when the intent was never handled; a
  redelivery only when the log waits for exactly that one. Nothing is sent twice.
- ``Send``: the team's recipients through the one Apprise adapter (channels in order, each recipient after
  its rate limit and with its own retries: ``RetryPolicy.run``).
- ``Redeliver``: nobody reached (a gateway outage longer than the retries): the intent goes back on its
  topic with the next redelivery header, and the log waits for that one; the pipeline stops here.
- ``Record``: the result in the log, the delivery on the outcomes and timeline topics, the latency.

The stages put records through ``Puts`` (the worker's ``Outputs``). The dispatch log is written last,
once the records that go with it are on the broker: a worker that dies in between sends the intent again
(at least once), where the other order could leave a log that says "sent" and no delivery record, or a
redelivery the log waits for that never reached the topic (an alert lost). The scheduling around them (one task per intent, concurrency,
a redelivery's wait) is the runtime's (stream/runtime/dispatch.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from notifiers.apprise_adapter import Delivery
from notifiers.redelivery import REDELIVERY_HEADER, Redelivery, RedeliveryPolicy
from stream.model.events import NotificationIntent, stable_id
from stream.model.sinks import Sink
from stream.model.timeline import AlertDelivered

log = structlog.get_logger(__name__)


class Puts(Protocol):
    """Where stages put the records they produce (the worker's ``Outputs``)."""

    async def put(self, sink: Sink, key: bytes | None, value: bytes, timestamp: float | None = None,
                  headers: Mapping[str, bytes] | None = None) -> None:
        """Hand one record to the producer."""
        ...

    async def confirm(self) -> None:
        """Return once the broker has every record put so far (else raise: the worker stops)."""
        ...


class Notifier(Protocol):
    """What sends an intent to its team (notifiers.apprise_adapter.AppriseNotifier)."""

    async def send(self, intent: NotificationIntent) -> Delivery:
        """Send to the team's recipients; how it went."""
        ...

    def waiting(self, intent_id: str) -> bool:
        """Whether the intent's send has begun no post to a phone yet (it waits on rate limits)."""
        ...


@dataclass
class Job:
    """One record of the intents topic on its way through the stages."""

    intent: NotificationIntent
    raw: bytes  # the record's value, as it would be produced again
    redelivery: Redelivery
    at: datetime  # the worker's moment for it (the delivery record's time)
    input_timestamp: float | None  # the Kafka timestamp of the input that caused it (the latency's start)
    delivery: Delivery | None = None
    sending: bool = False  # the Send stage has begun: a phone may have it (unless the notifier says it still waits)


class Stage(Protocol):
    """One job of dispatch; False stops the pipeline for this record."""

    async def run(self, job: Job, puts: Puts) -> bool:
        """Do this stage's job for ``job``."""
        ...


@dataclass
class Dedup:
    """Lets a record through only when the dispatch log says this very record is the one to send."""

    dispatched: Mapping[str, str]

    async def run(self, job: Job, puts: Puts) -> bool:
        """False for an intent already handled (or a redelivery the log no longer waits for)."""
        if self.dispatched.get(job.intent.intent_id) != job.redelivery.expected_status:
            log.info("dispatch.duplicate", attempt=job.redelivery.attempt)
            return False
        return True


@dataclass
class Send:
    """The intent to its team's recipients, through the notifier."""

    notifier: Notifier

    async def run(self, job: Job, puts: Puts) -> bool:
        """Send; always goes on (the next stages decide what the delivery means)."""
        job.sending = True
        job.delivery = await self.notifier.send(job.intent)
        return True


@dataclass
class Redeliver:
    """Nobody reached: the intent again on its topic in a moment, while the policy's horizon allows."""

    intents: Sink
    dispatched: MutableMapping[str, str]
    policy: RedeliveryPolicy
    wall: Callable[[], float] = time.time
    rnd: random.Random = field(default_factory=random.Random)

    async def run(self, job: Job, puts: Puts) -> bool:
        """Schedules the next redelivery and stops the pipeline, or lets a delivery (or a give-up) through."""
        if job.delivery is None or job.delivery.status != "failed":
            return True
        now = self.wall()
        first_failed_at = job.redelivery.first_failed_at or now
        if not self.policy.allows(first_failed_at, now):
            log.error("dispatch.redelivery_gave_up", attempts=job.redelivery.attempt + 1, failing_for_s=round(now - first_failed_at, 1))
            return True
        attempt = job.redelivery.attempt + 1
        following = Redelivery(attempt, first_failed_at, now + self.policy.delay(attempt, self.rnd))
        # the original timestamp: the latency still counts from the input's arrival, outage included
        await puts.put(self.intents, job.intent.intent_id.encode(), job.raw, job.input_timestamp, {REDELIVERY_HEADER: following.encode()})
        await puts.confirm()
        self.dispatched[job.intent.intent_id] = following.status
        log.warning("dispatch.redelivery_scheduled", attempt=attempt, failing_for_s=round(now - first_failed_at, 1))
        return False


@dataclass
class Record:
    """The delivery, kept: in the dispatch log, on the outcomes and timeline topics, and as the latency."""

    dispatched: MutableMapping[str, str]
    outcomes: Sink
    timeline: Sink
    latency: Callable[[float], None] | None = None  # seconds from the input's arrival to the first phone reached

    async def run(self, job: Job, puts: Puts) -> bool:
        """Records the delivery; the last stage."""
        delivery, intent = job.delivery, job.intent
        assert delivery is not None, "Record runs after Send"
        if self.latency is not None and job.input_timestamp and delivery.reached_at is not None:
            self.latency(delivery.reached_at - job.input_timestamp)
        record = AlertDelivered(
            entry_id=stable_id("tl", intent.activation_id, "delivery", intent.intent_id), activation_id=intent.activation_id, at=job.at,
            intent_id=intent.intent_id, team=intent.team, status=delivery.status,  # type: ignore[arg-type]
            recipients=delivery.recipients,
        )
        payload = record.model_dump_json().encode()
        await puts.put(self.outcomes, intent.intent_id.encode(), payload)
        await puts.put(self.timeline, intent.activation_id.encode(), payload)
        await puts.confirm()
        self.dispatched[intent.intent_id] = delivery.status
        return True


@dataclass
class Pipeline:
    """The stages in order."""

    stages: tuple[Stage, ...]
    notifier: Notifier | None = None  # the Send stage's: whether a delivery can still be abandoned unsent

    def unsent(self, job: Job) -> bool:
        """Whether ``job`` has reached no phone and none of its posts has begun: it can be abandoned, and sent
        by whoever reads its record next."""
        return not job.sending or (self.notifier is not None and self.notifier.waiting(job.intent.intent_id))

    async def run(self, job: Job, puts: Puts) -> None:
        """Run ``job`` through the stages until one stops it."""
        for stage in self.stages:
            if not await stage.run(job, puts):
                return


def pipeline(dispatched: MutableMapping[str, str], notifier: Notifier, intents: Sink, outcomes: Sink, timeline: Sink,
             policy: RedeliveryPolicy, latency: Callable[[float], None] | None = None,
             wall: Callable[[], float] = time.time) -> Pipeline:
    """Dedup → send → redeliver → record, over one dispatch log."""
    return Pipeline((Dedup(dispatched), Send(notifier), Redeliver(intents, dispatched, policy, wall), Record(dispatched, outcomes, timeline, latency)),
                    notifier)

