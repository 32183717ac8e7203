"""Standdowns in the review store (reviews/store.py), on real SQLite and real PostgreSQL: added once per id, ended
once, each version noted as sent only when that very version reached the topic, and listed by what is not over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reviews.store import ReviewStore
from stream.core.standdowns import Standdown, Weekly

pytestmark = pytest.mark.database

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=CHICAGO)


@pytest.fixture
def store(db_url: str) -> Iterator[ReviewStore]:
    store = ReviewStore(db_url)
    store.create_schema()
    try:
        yield store
    finally:
        store.dispose()


def _standdown(id_: str = "sd-1", **kw) -> Standdown:
    fields = {"id": id_, "team": "vi-central", "reason": "funeral", "by": "dana", "created_at": NOW, "starts": NOW,
              "ends": NOW + timedelta(hours=2)}
    return Standdown(**{**fields, **kw})


def test_a_standdown_comes_back_as_it_went_in_and_not_yet_sent(store: ReviewStore) -> None:
    weekly = _standdown("sd-w", team=None, area="Jordan", ends=None, weekly=Weekly(days=("mon", "wed"), start="22:00", end="02:00"))
    for s in (_standdown(), weekly):
        stored = store.add_standdown(s)
        assert stored.standdown == s and not stored.sent and stored.published_at is None
        assert store.standdown(s.id) == stored
    assert store.standdown("sd-none") is None
    assert [s.standdown.starts.tzinfo for s in store.standdowns()] == [UTC, UTC]  # times come back aware, in UTC


def test_adding_the_same_id_again_keeps_the_first(store: ReviewStore) -> None:
    first = store.add_standdown(_standdown())
    again = store.add_standdown(_standdown(reason="another reason"))
    assert again == first and again.standdown.reason == "funeral" and len(store.standdowns()) == 1


def test_ending_sets_when_and_who_and_makes_it_unsent_again(store: ReviewStore) -> None:
    added = store.add_standdown(_standdown())
    assert store.mark_standdown_published(added.standdown, NOW)
    assert store.standdown("sd-1").sent  # type: ignore[union-attr]
    ended = store.end_standdown("sd-1", "olga", NOW + timedelta(minutes=30))
    assert ended.standdown.ended_at == NOW + timedelta(minutes=30) and ended.standdown.ended_by == "olga" and not ended.sent
    # the added version's acknowledgement arriving late does not count for the ended version
    assert not store.mark_standdown_published(added.standdown, NOW + timedelta(minutes=31))
    assert not store.standdown("sd-1").sent  # type: ignore[union-attr]
    assert store.mark_standdown_published(ended.standdown, NOW + timedelta(minutes=32))
    assert store.standdown("sd-1").published_at == NOW + timedelta(minutes=32)  # type: ignore[union-attr]


@pytest.mark.parametrize(("setup", "message"), [
    (lambda s: None, "no standdown 'sd-1'"),
    (lambda s: (s.add_standdown(_standdown()), s.end_standdown("sd-1", "dana", NOW)), "standdown sd-1 was already ended by dana"),
    (lambda s: s.add_standdown(_standdown(ends=NOW + timedelta(minutes=1))), "standdown sd-1 is already over"),
])
def test_ending_an_unknown_ended_or_over_standdown_is_refused(store: ReviewStore, setup, message: str) -> None:
    setup(store)
    with pytest.raises(ValueError) as info:
        store.end_standdown("sd-1", "olga", NOW + timedelta(minutes=5))
    assert str(info.value) == message


def test_the_listing_leaves_out_what_was_over_before_a_moment(store: ReviewStore) -> None:
    store.add_standdown(_standdown("sd-old", starts=NOW - timedelta(days=20), ends=NOW - timedelta(days=19)))
    store.add_standdown(_standdown("sd-ended", starts=NOW - timedelta(days=20), ends=NOW + timedelta(days=1)))
    store.end_standdown("sd-ended", "dana", NOW - timedelta(days=18))
    store.add_standdown(_standdown("sd-recent", starts=NOW - timedelta(days=3), ends=NOW - timedelta(days=2)))
    store.add_standdown(_standdown("sd-weekly", starts=NOW - timedelta(days=30), ends=None, weekly=Weekly(days=("fri",), start="09:00", end="10:00")))
    store.add_standdown(_standdown("sd-next", starts=NOW + timedelta(days=1), ends=NOW + timedelta(days=2)))
    assert [s.standdown.id for s in store.standdowns(NOW - timedelta(days=14))] == ["sd-next", "sd-recent", "sd-weekly"]
    assert [s.standdown.id for s in store.standdowns()] == ["sd-next", "sd-recent", "sd-ended", "sd-old", "sd-weekly"]


def test_two_ends_at_once_one_wins(store: ReviewStore) -> None:
    import threading

    store.add_standdown(_standdown())
    results: list[str] = []

    def end(who: str) -> None:
        try:
            store.end_standdown("sd-1", who, NOW + timedelta(minutes=1))
            results.append(f"ended by {who}")
        except ValueError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=end, args=(who,)) for who in ("dana", "olga")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.startswith("ended by") for r in results) == [False, True]
