"""Topics made and described on a real broker (the session's: the bundled one-broker Tansu here, or
$KAFKA_BOOTSTRAP). Measured on Tansu 0.6.0: CreateTopics keeps the configs given and DescribeConfigs
reports exactly those (no broker defaults); AlterConfigs and CreatePartitions are not offered (aiokafka:
IncompatibleBrokerVersion); a replication factor above the broker count is accepted and one replica kept."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from stream.ops.kafka import Topics, apply_plan, describe_cluster, ensure_topics, plan_topics
from stream.ops.topics import DAY_MS, Layout, replication_for


def fresh(kind: str) -> Topics:
    return Topics(f"{kind}{uuid.uuid4().hex[:8]}.")


async def raw_configs(bootstrap: str, name: str) -> dict[str, str]:
    """A topic's configs and replica count straight from the broker, without Vigil's code."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        [resource] = response.to_object()["resources"]
        [topic] = [t for t in await admin.describe_topics() if t["topic"] == name]
        brokers = len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()
    configs = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    return {**configs, "replicas": str(min(len(p["replicas"]) for p in topic["partitions"])), "brokers": str(brokers)}


async def test_ensure_topics_makes_each_topic_with_its_retention_and_replicas(kafka_bootstrap: str) -> None:
    topics = fresh("ens")
    await ensure_topics(kafka_bootstrap, topics)
    cad, dlq = await raw_configs(kafka_bootstrap, topics.cad), await raw_configs(kafka_bootstrap, topics.dlq)
    assert cad.get("retention.ms") == str(14 * DAY_MS), cad
    assert dlq.get("retention.ms") == str(90 * DAY_MS), dlq
    assert cad.get("unclean.leader.election.enable") == "false"
    replicas = replication_for(int(cad["brokers"]))
    assert cad["replicas"] == str(replicas)
    assert cad.get("min.insync.replicas") == ("2" if replicas >= 3 else "1")


async def test_ensure_topics_with_an_app_id_makes_the_faust_topics_first(kafka_bootstrap: str) -> None:
    topics, app_id = fresh("faust"), f"app{uuid.uuid4().hex[:8]}"
    cluster = await ensure_topics(kafka_bootstrap, topics, partitions=2, app_id=app_id)
    changelog = cluster.topics[f"{app_id}-core-state-changelog"]
    assert changelog.partitions == 2 and changelog.configs["cleanup.policy"] == "compact"
    assert cluster.topics[f"{app_id}-__assignor-__leader"].partitions == 1
    assert set(cluster.topics) == set(Layout(topics, 2, app_id).names())
    again = await ensure_topics(kafka_bootstrap, topics, partitions=2, app_id=app_id)  # a second worker's call is harmless
    assert again == cluster
    assert (await plan_topics(kafka_bootstrap, Layout(topics, 2, app_id))).empty


async def test_apply_sets_configs_or_says_the_broker_cannot(kafka_bootstrap: str) -> None:
    topics = fresh("alt")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        brokers = (await describe_cluster(admin, [])).brokers
        await admin.create_topics([NewTopic(topics.events, 4, replication_for(brokers))])  # no configs: as Faust or an old release made it
    finally:
        await admin.close()
    layout = Layout(topics)
    result, failures = await apply_plan(kafka_bootstrap, layout)
    assert {c.topic for c in result.changes} == {topics.events}
    assert len(result.creates) == len(topics.all()) - 1 and not result.problems
    after = await plan_topics(kafka_bootstrap, layout)
    if failures:  # Tansu: no AlterConfigs; the rest was still made
        assert failures == [f"topic {topics.events}: cannot set cleanup.policy, min.insync.replicas, retention.ms, "
                            "unclean.leader.election.enable: the broker does not support AlterConfigs (Tansu, the embedded broker, does not)"]
        assert not after.creates and {c.topic for c in after.changes} == {topics.events}
    else:
        assert after.empty
