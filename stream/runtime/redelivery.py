"""Where an intent stands in its redelivery, carried in a Kafka header of the intents topic.

An intent that reached nobody (``notifiers.apprise_adapter.RedeliveryPolicy``) is produced again to the
intents topic with this header: which redelivery it is, when the intent first failed, and not before
when to send it. The dispatch table holds ``retrying:N`` meanwhile, so of the records of one intent only
the one the table waits for is sent (a first record only when the table has nothing for the intent).
"""

from __future__ import annotations

import json
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
