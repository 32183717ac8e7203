"""`vigil topics plan|apply|check` and the worker's topic checks, on the session's real broker (one-broker
Tansu here: a multi-broker cluster cannot be started on this machine, so the refusal of unsafe topics is
tested on described clusters in tests/stream/ops/test_topics.py and tests/stream/runtime/test_worker_topics.py)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from typer.testing import CliRunner

from stream.cli.main import app
from stream.ops.kafka import admin_client, describe_cluster


def prefix() -> str:
    return f"cli{uuid.uuid4().hex[:8]}."


def vigil(*argv: str):
    return CliRunner().invoke(app, ["--log-level", "warning", *argv])


def brokers(bootstrap: str) -> int:
    async def count() -> int:
        async with admin_client(bootstrap) as admin:
            return (await describe_cluster(admin, [])).brokers

    return asyncio.run(count())


def test_plan_apply_check_on_a_fresh_prefix(kafka_bootstrap: str) -> None:
    p, app_id = prefix(), f"app{uuid.uuid4().hex[:8]}"
    options = ["--bootstrap", kafka_bootstrap, "--topic-prefix", p, "--app-id", app_id, "--partitions", "2"]
    check = vigil("topics", "check", *options)
    assert check.exit_code == 1
    assert f"topic {p}cad.eido: missing" in check.output and f"topic {app_id}-core-state-changelog: missing" in check.output
    planned = vigil("topics", "plan", *options)
    assert planned.exit_code == 0, planned.output
    assert f"create {p}events: partitions=2 replication=" in planned.output
    assert "retention.ms=1209600000" in planned.output
    applied = vigil("topics", "apply", *options)
    assert applied.exit_code == 0, applied.output
    assert vigil("topics", "check", *options).exit_code == 0
    assert "nothing to change" in vigil("topics", "plan", *options).output
    # the same topics asked for with other partitions: an error each, which apply cannot fix either
    shrink = vigil("topics", "apply", *options[:-1], "1")
    assert shrink.exit_code == 1
    assert f"error  {p}events: partitions 2 -> 1: partitions cannot shrink" in shrink.output


def test_check_names_each_topic_and_setting_that_differs(kafka_bootstrap: str) -> None:
    p = prefix()

    async def make_by_hand() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:  # as an old release or Faust made it: one partition, the broker's defaults
            await admin.create_topics([NewTopic(f"{p}events", 1, 1)])
        finally:
            await admin.close()

    asyncio.run(make_by_hand())
    vigil("topics", "apply", "--bootstrap", kafka_bootstrap, "--topic-prefix", p, "--app-id", "vigil")  # the others made
    check = vigil("topics", "check", "--bootstrap", kafka_bootstrap, "--topic-prefix", p, "--app-id", "vigil")
    assert check.exit_code == 1
    assert f"topic {p}events: partitions is 1, want 4" in check.output
    assert f"topic {p}events: retention.ms is " in check.output and "want 1209600000" in check.output
    assert f"topic {p}intents" not in check.output
    if brokers(kafka_bootstrap) >= 3:
        assert f"topic {p}events: replication is 1, want 3" in check.output


def test_more_replicas_than_brokers_is_refused_by_plan(kafka_bootstrap: str) -> None:
    too_many = str(brokers(kafka_bootstrap) + 1)
    planned = vigil("topics", "plan", "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix(), "--replication-factor", too_many)
    assert planned.exit_code == 1
    assert "fewer than the replicas wanted" in planned.output


def test_an_unreachable_broker_is_a_clear_error() -> None:
    result = vigil("topics", "check", "--bootstrap", "127.0.0.1:1")
    assert result.exit_code == 2
    assert "vigil topics: the broker at 127.0.0.1:1: KafkaConnectionError" in result.output


def test_worker_refuses_more_replicas_than_the_cluster_has(kafka_bootstrap: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VIGIL_ACK_SECRET", "s" * 32)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("version: 1\nurls:\n  - json://127.0.0.1:1/phone:\n      - tag: dns-oncall\n")
    too_many = brokers(kafka_bootstrap) + 1
    result = vigil("worker", "--bootstrap", kafka_bootstrap, "--contacts", str(contacts), "--db-url", f"sqlite:///{tmp_path}/r.sqlite",
                   "--data-dir", str(tmp_path / "data"), "--topic-prefix", prefix(), "--replication-factor", str(too_many))
    assert result.exit_code == 2, result.output
    assert f"vigil worker: replication factor {too_many} wanted, but the cluster at {kafka_bootstrap} has {too_many - 1} broker(s)" in result.output
