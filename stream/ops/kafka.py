"""Kafka plumbing shared by the worker, the demo and the tests: topics made and described on a real cluster.

What each topic should be, and the comparison with what a cluster has, are pure (stream/ops/topics.py);
this module does the admin requests around them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import IncompatibleBrokerVersion, TopicAlreadyExistsError, for_code

from stream.ops.topics import DEFAULT_PARTITIONS, ClusterState, ConfigChange, Layout, Plan, Topics, TopicSpec, TopicState, plan

__all__ = ["DEFAULT_PARTITIONS", "TopicAdminError", "Topics", "admin_client", "apply_plan", "create_topics", "describe_cluster", "ensure_topics",
           "plan_topics"]

DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a topic's own override (KIP-226)


class TopicAdminError(RuntimeError):
    """The broker refused a topic request; the message names the topic and the broker's reason."""


@asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def describe_cluster(admin: AIOKafkaAdminClient, names: Iterable[str]) -> ClusterState:
    """The cluster's broker count and, of the named topics, those that exist: partitions, fewest replicas of any
    partition, and the configs the broker reports."""
    brokers = len((await admin.describe_cluster())["brokers"])
    wanted = set(names)
    # all topics' metadata, filtered here: asking for a missing topic by name can make a broker auto-create it
    found = [t for t in await admin.describe_topics() if t["topic"] in wanted and t["error_code"] == 0]
    configs = await _topic_configs(admin, [t["topic"] for t in found])
    topics = {t["topic"]: TopicState(t["topic"], len(t["partitions"]), min((len(p["replicas"]) for p in t["partitions"]), default=0),
                                     configs.get(t["topic"], {}))
              for t in found}
    return ClusterState(brokers, topics)


async def _topic_configs(admin: AIOKafkaAdminClient, names: list[str], overrides_only: bool = False) -> dict[str, dict[str, str]]:
    """Each topic's configs as the broker reports them (with ``overrides_only``, only the topic's own settings)."""
    if not names:
        return {}
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise TopicAdminError(f"topic {resource['resource_name']}: cannot read its configs: "
                                      f"{for_code(resource['error_code']).__name__} {resource.get('error_message') or ''}".rstrip())
            configs[resource["resource_name"]] = {e["config_names"]: e["config_value"] for e in resource["config_entries"]
                                                  if e["config_value"] is not None and (not overrides_only or _is_override(e))}
    return configs


def _is_override(entry: dict[str, Any]) -> bool:
    """A config the topic sets itself (v1+: its source; v0: not a default)."""
    if "config_source" in entry:
        return bool(entry["config_source"] == DYNAMIC_TOPIC_CONFIG)
    return not entry.get("is_default", True)


async def create_topics(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    """Create the topics as specified; one that exists already (another process made it meanwhile) is fine."""
    if not specs:
        return
    response = await admin.create_topics([NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication,
                                                    topic_configs=dict(s.configs)) for s in specs])
    failures = [f"topic {name}: cannot create it: {for_code(code).__name__} {message or ''}".rstrip()
                for name, code, message in _topic_errors(response) if code and code != TopicAlreadyExistsError.errno]
    if failures:
        raise TopicAdminError("; ".join(failures))


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) of a CreateTopics response of any version (v0 has no message)."""
    return [(entry[0], entry[1], entry[2] if len(entry) > 2 else None) for entry in response.topic_errors]


async def ensure_topics(bootstrap: str, topics: Topics, partitions: int = DEFAULT_PARTITIONS, app_id: str | None = None,
                        replication: int | None = None) -> ClusterState:
    """Create whichever of Vigil's topics are missing, as stream/ops/topics.py specifies them (replicas from the
    cluster's size unless ``replication`` is given; with ``app_id`` also the workers' Faust topics), and return
    the cluster as it then is. An existing topic is left as it is: `vigil topics apply` changes those."""
    layout = Layout(topics, partitions, app_id, replication)
    async with admin_client(bootstrap) as admin:
        cluster = await describe_cluster(admin, layout.names())
        wanted = layout.replication_on(cluster.brokers)
        if wanted > cluster.brokers:
            raise TopicAdminError(f"replication factor {wanted} wanted, but the cluster at {bootstrap} has {cluster.brokers} broker(s)")
        missing = [spec for spec in layout.specs(cluster.brokers) if spec.name not in cluster.topics]
        if not missing:
            return cluster
        await create_topics(admin, missing)
        return await describe_cluster(admin, layout.names())


async def plan_topics(bootstrap: str, layout: Layout) -> Plan:
    """What `vigil topics apply` would do to the cluster at ``bootstrap``."""
    async with admin_client(bootstrap) as admin:
        cluster = await describe_cluster(admin, layout.names())
        return plan(layout.specs(cluster.brokers), cluster)


async def apply_plan(bootstrap: str, layout: Layout) -> tuple[Plan, list[str]]:
    """Plan, then create the missing topics and set the differing configs; returns the plan and what could not
    be done (the plan's problems are left to a person, and reported by the caller)."""
    async with admin_client(bootstrap) as admin:
        cluster = await describe_cluster(admin, layout.names())
        result = plan(layout.specs(cluster.brokers), cluster)
        failures = []
        try:
            await create_topics(admin, [s for s in result.creates if not _too_few_brokers(s, cluster)])
        except TopicAdminError as exc:
            failures.append(str(exc))
        failures += await _alter_configs(admin, result.changes)
        return result, failures


def _too_few_brokers(spec: TopicSpec, cluster: ClusterState) -> bool:
    # a broker may accept more replicas than it has brokers (Tansu does) and keep one: the plan reports it instead
    return spec.replication > cluster.brokers


async def _alter_configs(admin: AIOKafkaAdminClient, changes: Iterable[ConfigChange]) -> list[str]:
    """Set the changed configs, topic by topic. AlterConfigs replaces a topic's whole set of overrides, so each
    request carries the topic's current overrides with the changes on top (nothing else is reset)."""
    by_topic: dict[str, dict[str, str]] = {}
    for change in changes:
        by_topic.setdefault(change.topic, {})[change.setting] = change.wanted
    if not by_topic:
        return []
    try:
        current = await _topic_configs(admin, list(by_topic), overrides_only=True)
        responses = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={**current.get(name, {}), **wanted})
                                               for name, wanted in by_topic.items()])
    except IncompatibleBrokerVersion:
        return [f"topic {name}: cannot set {', '.join(sorted(wanted))}: the broker does not support AlterConfigs "
                "(Tansu, the embedded broker, does not)" for name, wanted in by_topic.items()]
    return [f"topic {resource['resource_name']}: cannot set configs: {for_code(resource['error_code']).__name__} "
            f"{resource.get('error_message') or ''}".rstrip()
            for response in responses for resource in response.to_object()["resources"] if resource["error_code"]]
