"""`vigil standdown add|list|end|publish` on a real broker and a real SQLite review store: each change stored and
audited, then on the standdowns topic keyed by its id; a refused request stores nothing; a failed send is said,
kept, and sent by `publish`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner

from reviews.store import ReviewStore
from stream.cli.main import app
from stream.core.standdowns import Standdown
from stream.ops.kafka import Topics

CHICAGO = ZoneInfo("America/Chicago")


def _records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    async def read() -> list[tuple[bytes | None, bytes]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            found: list[tuple[bytes | None, bytes]] = []
            for _ in range(3):  # the first fetch can come back empty while the partition is assigned
                batches = await consumer.getmany(timeout_ms=1500)
                found += [(m.key, m.value) for msgs in batches.values() for m in msgs]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(CHICAGO):%Y-%m-%d %H:%M}"


@pytest.fixture
def where(tmp_path: Path, kafka_bootstrap: str) -> dict[str, str]:
    return {"db": f"sqlite:///{tmp_path / 'review.sqlite'}", "prefix": f"sdcli{uuid.uuid4().hex[:8]}.", "bootstrap": kafka_bootstrap}


def _vigil(*args: str, where: dict[str, str], bootstrap: str | None = None):
    common = ["--db-url", where["db"], "--bootstrap", bootstrap or where["bootstrap"], "--topic-prefix", where["prefix"]]
    if args[0] == "list":
        common = ["--db-url", where["db"]]
    return CliRunner().invoke(app, ["standdown", *args, *common])


def test_add_list_end_store_audit_and_publish_each_change(where: dict[str, str]) -> None:
    now = datetime.now(CHICAGO)
    added = _vigil("add", "--team", "vi-central", "--until", _local(now + timedelta(hours=2)), "--reason", "funeral",
                   "--by", "dana", where=where)
    assert added.exit_code == 0, added.output
    assert added.output.startswith("added sd-") and "vi-central" in added.output and "sent to the workers" in added.output
    store = ReviewStore(where["db"])
    try:
        [stored] = store.standdowns()
        s = stored.standdown
        assert (s.team, s.by, s.reason, s.weekly) == ("vi-central", "dana", "funeral", None) and stored.sent
        [audit] = [e for e in store.audit_entries() if e.action == "standdown_added"]
        assert audit.username is None and audit.target == s.id and audit.detail.startswith("cli:dana; vi-central: ")

        listed = _vigil("list", where=where)
        assert listed.exit_code == 0, listed.output
        in_force = listed.output.split("upcoming:")[0]
        assert "in force now: 1" in in_force and s.id in in_force and "reason: funeral; added by dana" in in_force

        ended = _vigil("end", s.id, "--by", "olga", where=where)
        assert ended.exit_code == 0, ended.output
        assert ended.output.strip() == f"ended {s.id}: vi-central; sent to the workers"
        after = store.standdown(s.id)
        assert after is not None and after.standdown.ended_by == "olga" and after.sent
        assert [e.detail for e in store.audit_entries() if e.action == "standdown_ended"] == ["cli:olga; vi-central"]
        assert f"ended (last 14 days): 1\n  {s.id}  vi-central  ended " in _vigil("list", where=where).output
        # what `vigil replay --standdowns` reads: the stored standdowns, exactly
        as_json = _vigil("list", "--json", where=where)
        assert [Standdown.model_validate_json(line) for line in as_json.output.splitlines()] == [after.standdown]

        records = _records(where["bootstrap"], Topics(where["prefix"]).standdowns)
        assert [key for key, _ in records] == [s.id.encode()] * 2
        assert [Standdown.model_validate_json(value) for _, value in records] == [s, after.standdown]
    finally:
        store.dispose()


@pytest.mark.parametrize(("args", "message"), [
    (("--team", "vi-nort-camden"), 'there is no team \'vi-nort-camden\' (did you mean "vi-north-camden"?)'),
    (("--area", "Jordn"), 'there is no neighborhood \'Jordn\' (did you mean "Jordan"?)'),
    (("--team", "dns-oncall"), "dns-oncall is the on-call team"),
    (("--team", "vi-central", "--every", "every mun 10:00-11:00"), "'mun' is not a day of the week"),
])
def test_a_refused_request_says_why_and_stores_nothing(where: dict[str, str], args, message: str) -> None:
    result = _vigil("add", *args, "--until", _local(datetime.now(CHICAGO) + timedelta(hours=1)), "--reason", "r", "--by", "dana",
                    where=where)
    assert result.exit_code == 2
    assert message in result.output
    store = ReviewStore(where["db"])
    try:
        store.create_schema()
        assert store.standdowns() == []
    finally:
        store.dispose()


def test_a_failed_send_is_said_kept_and_sent_by_publish(where: dict[str, str]) -> None:
    added = _vigil("add", "--area", "Jordan", "--every", "mon,wed 16:00-18:00", "--reason", "a drill", "--by", "dana",
                   where=where, bootstrap="127.0.0.1:1")
    assert added.exit_code == 1
    assert "saved, but NOT sent to the workers" in added.output and "vigil standdown publish" in added.output
    listed = _vigil("list", where=where).output
    assert "area Jordan" in listed and "NOT YET SENT to the workers" in listed
    published = _vigil("publish", where=where)
    assert published.exit_code == 0, published.output
    assert published.output.strip() == f"sent 1 standdown(s) to {where['prefix']}standdowns"
    assert "NOT YET SENT" not in _vigil("list", where=where).output
    [(key, value)] = _records(where["bootstrap"], Topics(where["prefix"]).standdowns)
    standdown = Standdown.model_validate_json(value)
    assert key == standdown.id.encode() and standdown.area == "Jordan" and standdown.weekly is not None
