"""Redelivery of intents that reached nobody: the header the intents topic carries, and the policy's waits."""

from __future__ import annotations

import random
from types import SimpleNamespace

from notifiers.redelivery import REDELIVERY_HEADER, Redelivery, RedeliveryPolicy


def test_a_record_without_the_header_is_an_intents_first() -> None:
    first = Redelivery.of(SimpleNamespace(headers={}, message=SimpleNamespace(headers=[])))
    assert first == Redelivery() and first.expected_status is None


def test_the_header_round_trips_from_faust_headers_or_kafka_header_lists() -> None:
    third = Redelivery(3, 1000.0, 1002.5)
    as_dict = SimpleNamespace(headers={REDELIVERY_HEADER: third.encode()})
    as_list = SimpleNamespace(headers=None, message=SimpleNamespace(headers=[("other", b"x"), (REDELIVERY_HEADER, third.encode())]))
    assert Redelivery.of(as_dict) == third == Redelivery.of(as_list)
    assert third.expected_status == third.status == "retrying:3"


def test_a_broken_header_counts_as_a_first_record() -> None:
    assert Redelivery.of(SimpleNamespace(headers={REDELIVERY_HEADER: b"{not json"})) == Redelivery()


def test_waits_grow_then_stay_short_and_the_horizon_ends_them() -> None:
    policy = RedeliveryPolicy()
    rnd = random.Random(1)
    waits = [policy.delay(n, rnd) for n in range(1, 30)]
    assert waits[0] < waits[2] and all(w <= policy.max_delay_s * (1 + policy.jitter) for w in waits)
    assert min(waits[5:]) >= policy.max_delay_s * (1 - policy.jitter)  # a gateway that is back is used within seconds
    assert policy.allows(1000.0, 1000.0 + policy.horizon_s - 1) and not policy.allows(1000.0, 1000.0 + policy.horizon_s)
