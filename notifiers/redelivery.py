"""Where an intent stands in its redelivery, carried in a Kafka header of the intents topic.

An intent that reached nobody (``RedeliveryPolicy``, below) is produced again to the
intents topic with this header: which redelivery it is, when the intent first failed, and not before
when to send it. The dispatch table holds ``retrying:N`` meanwhile, so of the records of one intent only
the one the table waits for is sent (a first record only when the table has nothing for the intent).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

REDELIVERY_HEADER = "vigil-redelivery"


@dataclass(frozen=True)
class Redelivery:
    """Redelivery number ``attempt`` (0: the intent's first record), first failure and earliest send (unix time)."""

    attempt: int = 0
    first_failed_at: float | None = None
    not_before: float = 0.0

    @property
    def status(self) -> str:
        """The dispatch table's value while this redelivery is awaited."""
        return f"retrying:{self.attempt}"

    @property
    def expected_status(self) -> str | None:
        """What the dispatch table must hold for this record to be sent."""
        return None if self.attempt == 0 else self.status

    def encode(self) -> bytes:
        """The header's value."""
        return json.dumps({"attempt": self.attempt, "first_failed_at": self.first_failed_at, "not_before": self.not_before}).encode()

    @classmethod
    def of(cls, event: Any) -> Redelivery:
        """The redelivery a Faust event carries (a first record when it has no header, or a bad one)."""
        headers = getattr(event, "headers", None) or getattr(getattr(event, "message", None), "headers", None) or {}
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            if name == REDELIVERY_HEADER:
                try:
                    data = json.loads(value)
                    return cls(int(data["attempt"]), float(data["first_failed_at"]), float(data["not_before"]))
                except (ValueError, KeyError, TypeError):
                    return cls()
        return cls()


@dataclass(frozen=True)
class RedeliveryPolicy:
    """What happens to an intent that reached nobody once its ``RetryPolicy`` is spent (about a second):
    it is sent again, whole, after a short wait, until somebody is reached or ``horizon_s`` has passed since
    its first failure. The waits stay short (at most ``max_delay_s`` plus jitter) so that a gateway that
    comes back is used within seconds, and because the dispatch agent holds the intent's record unacked
    while it waits (a rebalance waits for it). Only ``failed`` is redelivered: ``partial`` reached part of
    the team, and sending again would repeat the alert to those phones."""

    delays_s: tuple[float, ...] = (0.5, 1.0, 2.0)
    max_delay_s: float = 3.0
    jitter: float = 0.3
    horizon_s: float = 3600.0  # an alert an hour late is still worth having; later, the review shows it failed

    def delay(self, attempt: int, rnd: random.Random) -> float:
        """Seconds before redelivery number ``attempt`` (1-based)."""
        base = self.delays_s[attempt - 1] if attempt <= len(self.delays_s) else self.max_delay_s
        return min(base, self.max_delay_s) * (1 + self.jitter * (2 * rnd.random() - 1))

    def allows(self, first_failed_at: float, now: float) -> bool:
        """Whether another redelivery may still be tried."""
        return now - first_failed_at < self.horizon_s
