"""Per-recipient rate limits, enforced by Vigil (Apprise's own per-plugin wait is turned off).

A token bucket per recipient (its channel sets the limit), in the style of a reservation limiter (golang's
``rate.Limiter.Reserve``): asking for a send returns how long to wait before it. The first alert of an
activation to a recipient is never delayed: it takes a token even when the bucket is empty, and the
debt delays that recipient's later updates and escalations instead. A night with several shootings in a
row therefore reaches each phone at once, shooting by shooting, while a burst of updates is spread out
to what the provider (an SMS gateway, a push service) accepts.

The buckets live in one worker's memory: with several workers, a recipient's limit is per worker (an
activation's intents are spread over the workers by intent id), so a provider limit should be set with
that margin.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """At most ``burst`` sends at once, refilled at one per ``every_s`` seconds."""

    burst: int
    every_s: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.every_s <= 0:
            raise ValueError(f"a rate limit needs burst >= 1 and every_s > 0 (got burst={self.burst}, every_s={self.every_s})")


# Provider-shaped defaults per channel: SMS gateways and carriers filter floods to one handset, push
# services (ntfy: a burst of 60, then one per 5 s per visitor) are more generous, e-mail is rarely urgent.
DEFAULT_LIMITS: dict[str, RateLimit] = {
    "sms": RateLimit(burst=4, every_s=5.0),
    "push": RateLimit(burst=10, every_s=1.0),
    "email": RateLimit(burst=5, every_s=10.0),
    "default": RateLimit(burst=10, every_s=1.0),
}


@dataclass
class _Bucket:
    tokens: float
    at: float


class RecipientRateLimiter:
    """Token buckets per recipient; ``reserve`` says how long a send must wait."""

    def __init__(self, limits: dict[str, RateLimit] | None = None, clock: Callable[[], float] | None = None, remember: int = 10_000):
        import time

        self._limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._clock = clock or time.monotonic
        self._buckets: dict[str, _Bucket] = {}
        # (recipient, activation) pairs already alerted: bounded, oldest forgotten first (a forgotten pair
        # only means one more undelayed alert)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remember = remember

    def limit_of(self, channel: str) -> RateLimit:
        """The limit that applies to a channel (``default`` for a channel without its own)."""
        return self._limits.get(channel, self._limits["default"])

    def reserve(self, recipient: str, channel: str, activation_id: str) -> float:
        """Take a send for ``recipient`` now; return the seconds it must wait (0 for the first alert of an
        activation to that recipient, whatever the bucket holds)."""
        limit = self.limit_of(channel)
        now = self._clock()
        bucket = self._buckets.get(recipient)
        if bucket is None:
            bucket = self._buckets[recipient] = _Bucket(float(limit.burst), now)
        else:
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) / limit.every_s)
            bucket.at = now
        first = (recipient, activation_id) not in self._seen
        if first:
            self._seen[(recipient, activation_id)] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        bucket.tokens -= 1.0
        if first or bucket.tokens >= 0:
            return 0.0
        return -bucket.tokens * limit.every_s

    def refund(self, recipient: str) -> None:
        """Give back a send reserved for ``recipient`` that will not happen (its delivery was abandoned while it
        waited: its partition moved to another worker, which sends it)."""
        bucket = self._buckets.get(recipient)
        if bucket is not None:
            bucket.tokens += 1.0
