"""Per-recipient token buckets, on an injected clock: the first alert of an activation never waits,
later sends wait exactly what the bucket owes."""

from __future__ import annotations

import pytest

from notifiers.rate_limit import DEFAULT_LIMITS, RateLimit, RecipientRateLimiter


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def _limiter(burst: int = 1, every_s: float = 2.0, **kw: object) -> tuple[RecipientRateLimiter, FakeClock]:
    clock = FakeClock()
    return RecipientRateLimiter(limits={"sms": RateLimit(burst=burst, every_s=every_s)}, clock=clock, **kw), clock  # type: ignore[arg-type]


def test_the_first_alert_of_an_activation_never_waits_even_with_an_empty_bucket() -> None:
    limiter, _ = _limiter(burst=1, every_s=2.0)
    assert limiter.reserve("phone", "sms", "act-1") == 0.0  # takes the only token
    assert limiter.reserve("phone", "sms", "act-2") == 0.0  # bucket empty: a new shooting still goes at once
    assert limiter.reserve("phone", "sms", "act-3") == 0.0
    # the debt of those first alerts falls on the next update: three tokens owed, at 2 s each
    assert limiter.reserve("phone", "sms", "act-1") == pytest.approx(6.0)


def test_an_update_right_after_the_first_alert_waits_one_refill() -> None:
    limiter, _ = _limiter(burst=1, every_s=2.0)
    assert limiter.reserve("phone", "sms", "act-1") == 0.0
    assert limiter.reserve("phone", "sms", "act-1") == pytest.approx(2.0)


def test_an_update_after_the_refill_time_does_not_wait() -> None:
    limiter, clock = _limiter(burst=1, every_s=2.0)
    assert limiter.reserve("phone", "sms", "act-1") == 0.0
    clock.advance(2.0)
    assert limiter.reserve("phone", "sms", "act-1") == 0.0


def test_a_partial_refill_shortens_the_wait_by_what_came_back() -> None:
    limiter, clock = _limiter(burst=1, every_s=2.0)
    limiter.reserve("phone", "sms", "act-1")
    clock.advance(0.5)  # a quarter of a token back
    assert limiter.reserve("phone", "sms", "act-1") == pytest.approx(1.5)


def test_a_reserved_wait_is_owed_even_before_it_is_served() -> None:
    # reservation semantics: the update that waits 2 s has its token already, so one more at t+2 s waits too
    limiter, clock = _limiter(burst=1, every_s=2.0)
    limiter.reserve("phone", "sms", "act-1")
    assert limiter.reserve("phone", "sms", "act-1") == pytest.approx(2.0)
    clock.advance(2.0)
    assert limiter.reserve("phone", "sms", "act-1") == pytest.approx(2.0)


def test_refill_is_capped_at_the_burst() -> None:
    limiter, clock = _limiter(burst=2, every_s=1.0)
    limiter.reserve("phone", "sms", "act-1")
    clock.advance(100.0)  # uncapped, this would be 100 tokens
    assert limiter.reserve("phone", "sms", "act-1") == 0.0
    assert limiter.reserve("phone", "sms", "act-1") == 0.0
    assert limiter.reserve("phone", "sms", "act-1") == pytest.approx(1.0)


def test_channels_use_their_own_limits_and_unknown_channels_the_default() -> None:
    clock = FakeClock()
    limiter = RecipientRateLimiter(limits={"sms": RateLimit(1, 5.0), "default": RateLimit(1, 0.5)}, clock=clock)
    assert limiter.limit_of("sms") == RateLimit(1, 5.0)
    assert limiter.limit_of("pager") == RateLimit(1, 0.5)
    assert limiter.limit_of("push") == DEFAULT_LIMITS["push"]  # a limit not overridden keeps its default
    limiter.reserve("sms-phone", "sms", "act-1")
    limiter.reserve("pager", "pager", "act-1")
    assert limiter.reserve("sms-phone", "sms", "act-1") == pytest.approx(5.0)
    assert limiter.reserve("pager", "pager", "act-1") == pytest.approx(0.5)


def test_the_bundled_defaults_apply_without_overrides() -> None:
    limiter = RecipientRateLimiter(clock=FakeClock())
    assert limiter.limit_of("sms") == RateLimit(burst=4, every_s=5.0)
    assert limiter.limit_of("carrier-pigeon") == DEFAULT_LIMITS["default"]


def test_each_recipient_has_its_own_bucket() -> None:
    limiter, _ = _limiter(burst=1, every_s=2.0)
    limiter.reserve("alice", "sms", "act-1")
    assert limiter.reserve("alice", "sms", "act-1") == pytest.approx(2.0)
    assert limiter.reserve("bob", "sms", "act-1") == 0.0
    # a shared bucket would owe three tokens by now (6 s)
    assert limiter.reserve("bob", "sms", "act-1") == pytest.approx(2.0)


def test_each_recipient_has_its_own_first_alert() -> None:
    limiter, _ = _limiter(burst=1, every_s=2.0)
    limiter.reserve("alice", "sms", "act-1")
    assert limiter.reserve("bob", "sms", "act-1") == 0.0  # alice's alert is not bob's


def test_the_remembered_pairs_are_bounded_and_the_oldest_is_forgotten() -> None:
    limiter, _ = _limiter(burst=1, every_s=10.0, remember=2)
    for activation in ("act-1", "act-2", "act-3"):  # three firsts: act-1 falls out of memory
        assert limiter.reserve("phone", "sms", activation) == 0.0
    # remembered, act-1 would wait 30 s (three tokens owed at 10 s); forgotten, it counts as a first again
    assert limiter.reserve("phone", "sms", "act-1") == 0.0
    # act-3 is still remembered: an update for it pays the debt, four tokens by now
    assert limiter.reserve("phone", "sms", "act-3") == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("burst", "every_s", "message"),
    [
        (0, 1.0, "a rate limit needs burst >= 1 and every_s > 0 (got burst=0, every_s=1.0)"),
        (-2, 1.0, "a rate limit needs burst >= 1 and every_s > 0 (got burst=-2, every_s=1.0)"),
        (1, 0, "a rate limit needs burst >= 1 and every_s > 0 (got burst=1, every_s=0)"),
        (1, -0.5, "a rate limit needs burst >= 1 and every_s > 0 (got burst=1, every_s=-0.5)"),
    ],
)
def test_an_impossible_rate_limit_is_refused(burst: int, every_s: float, message: str) -> None:
    with pytest.raises(ValueError) as info:
        RateLimit(burst=burst, every_s=every_s)
    assert str(info.value) == message


def test_the_smallest_rate_limit_is_accepted() -> None:
    assert RateLimit(burst=1, every_s=0.001).burst == 1
