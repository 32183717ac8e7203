"""`vigil tokens add|list|revoke` on a real SQLite review store: the token printed once and kept as its hash only, the
team checked against the deployment (a did-you-mean on a typo; "dns" is the on-call team, reading every team's rows),
each change audited, a revoked token refused by the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reviews.store import ReviewStore
from stream.cli.main import app
from stream.cli.tokens import token_team


def _vigil(db: str, *args: str):
    return CliRunner().invoke(app, ["tokens", *args, "--db-url", db])


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'review.sqlite'}"


def test_add_prints_the_token_once_list_never_and_revoke_ends_it(db: str) -> None:
    added = _vigil(db, "add", "--team", "vi-central", "--label", "central's case system")
    assert added.exit_code == 0, added.output
    said, token = added.output.strip().splitlines()
    assert said.startswith("added API token 1 for team vi-central's rows") and token.startswith("vgl_")
    dns = _vigil(db, "add", "--team", "dns")
    assert dns.exit_code == 0 and "added API token 2 for every team's rows (DNS)" in dns.output
    listed = _vigil(db, "list")
    assert listed.exit_code == 0 and token not in listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["id", "team", "label", "created", "last", "used", "revoked"]
    assert lines[1].split()[:2] == ["1", "vi-central"] and "central's case system" in lines[1] and lines[1].rstrip().endswith("-")
    assert lines[2].split()[:4] == ["2", "dns-oncall", "(all", "teams)"]
    store = ReviewStore(db)
    try:
        assert store.use_api_token(token, datetime.now(UTC)) is not None
        revoked = _vigil(db, "revoke", "1")
        assert revoked.exit_code == 0 and "revoked API token 1 (team vi-central)" in revoked.output
        assert store.use_api_token(token, datetime.now(UTC)) is None
        again = _vigil(db, "revoke", "1")
        assert again.exit_code == 2 and "API token 1 was already revoked" in again.output
        assert _vigil(db, "list").output.splitlines()[1].rstrip()[-1] == "Z"  # the revocation's time
        audited = [(e.action, e.target) for e in reversed(store.audit_entries())]
        assert audited == [("api_token_added", "token:1"), ("api_token_added", "token:2"), ("api_token_revoked", "token:1")]
        assert all(token not in (e.detail or "") for e in store.audit_entries())
    finally:
        store.dispose()


def test_a_team_the_deployment_does_not_have_is_refused_with_a_did_you_mean(db: str) -> None:
    refused = _vigil(db, "add", "--team", "vi-centrl")
    assert refused.exit_code == 2 and "there is no team 'vi-centrl' (did you mean \"vi-central\"?)" in refused.output
    store = ReviewStore(db)
    try:
        store.create_schema()  # refused before the store was opened: nothing in it
        assert store.api_tokens() == [] and store.audit_entries() == []
    finally:
        store.dispose()


def test_dns_is_the_on_call_team_and_reads_every_team() -> None:
    teams = {"vi-central": False, "dns-oncall": True}
    assert token_team("dns", teams) == ("dns-oncall", True)
    assert token_team("DNS-OnCall", teams) == ("dns-oncall", True)
    assert token_team("vi-central", teams) == ("vi-central", False)
    with pytest.raises(ValueError, match="2 on-call teams"):
        token_team("dns", {**teams, "dns-backup": True})
