"""The review store's provider API part on real SQLite and real PostgreSQL: API tokens (only a hash kept, revocation,
last use) and the keyset pages of the timeline a token reads (a team's rows found inside the records' JSON)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from reviews.store import ReviewStore, api_tokens
from stream.core.activations import handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.timeline import ActivationDecided
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, RECEIVED, as_bytes, shooting

pytestmark = pytest.mark.database


@pytest.fixture
def store(db_url: str):
    made = ReviewStore(db_url)
    made.create_schema()
    try:
        yield made
    finally:
        made.dispose()


def _timeline(deployment, incident: str, where: tuple[float, float], at=RECEIVED):
    event = classify_cad(parse_eido(as_bytes(shooting(incident, where))), deployment.classification, at)
    return handle_event(CoreState(), event, at, Config(deployment.coverage, deployment.protocols)).timeline


def test_a_token_is_kept_as_its_hash_only_and_revoking_ends_it(store: ReviewStore) -> None:
    stored, token = store.add_api_token("vi-central", "central's case system", False, RECEIVED)
    assert token.startswith("vgl_") and len(token) >= 4 + 43  # 32 random bytes, base64url
    with store.engine.connect() as conn:
        [row] = conn.execute(select(api_tokens)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in repr(tuple(row))
    assert (stored.team, stored.label, stored.all_teams, stored.last_used_at, stored.revoked_at) == (
        "vi-central", "central's case system", False, None, None)
    used = store.use_api_token(token, RECEIVED + timedelta(minutes=1))
    assert used is not None and used.id == stored.id and used.last_used_at == RECEIVED + timedelta(minutes=1)
    assert store.use_api_token(token[:-1] + ("A" if token[-1] != "A" else "B"), RECEIVED) is None
    assert store.use_api_token("not ours", RECEIVED) is None
    revoked = store.revoke_api_token(stored.id, RECEIVED + timedelta(minutes=2))
    assert revoked.revoked_at == RECEIVED + timedelta(minutes=2)
    assert store.use_api_token(token, RECEIVED + timedelta(minutes=3)) is None
    assert store.api_token(stored.id).last_used_at == RECEIVED + timedelta(minutes=1)  # a refused use is no use
    with pytest.raises(ValueError, match="already revoked"):
        store.revoke_api_token(stored.id, RECEIVED)
    with pytest.raises(ValueError, match="no API token 99"):
        store.revoke_api_token(99, RECEIVED)
    second, other = store.add_api_token("dns-oncall", None, True, RECEIVED)
    assert other != token and [t.id for t in store.api_tokens()] == [stored.id, second.id] and store.api_tokens()[1].all_teams


def test_a_page_keeps_a_teams_rows_in_at_order_after_the_cursor(store: ReviewStore, deployment) -> None:
    jordan = _timeline(deployment, "MPLS-P1", JORDAN)
    phillips = _timeline(deployment, "MPLS-P2", MIDTOWN_PHILLIPS, RECEIVED + timedelta(minutes=10))
    store.append(jordan + phillips)
    intents = store.timeline_page("intent", None, None, 100, None)
    assert [r.at for r in intents] == sorted(r.at for r in intents) and len(intents) == 4
    north = store.timeline_page("intent", None, None, 100, "vi-north-nearnorth")
    assert [r.record.team for r in north] == ["vi-north-nearnorth"]  # found inside the record's JSON, on both databases
    # activations: the initial decisions of those the team was sent something about
    assert [r.activation_id for r in store.timeline_page("decided", None, None, 100, "vi-north-nearnorth")] == [jordan[0].activation_id]
    assert len(store.timeline_page("decided", None, None, 100, "gvi-outreach")) == 2
    first, *rest = intents
    assert store.timeline_page("intent", (first.at, first.entry_id), None, 100, None) == rest  # keyset: strictly after
    assert store.timeline_page("intent", None, phillips[0].at, 100, None) == [r for r in intents if r.at >= phillips[0].at]
    assert store.timeline_page("intent", None, None, 1, None) == intents[:1]
    # an update decision is no new activation
    decided = next(r for r in jordan if isinstance(r, ActivationDecided))
    store.append([decided.model_copy(update={"entry_id": "tl-update", "step": "update", "at": decided.at + timedelta(minutes=1)})])
    assert len(store.timeline_page("decided", None, None, 100, None)) == 2
