"""Vigil's topics as they should be, and the plan that brings a described cluster there: pure, the cluster as
data (a three-broker cluster cannot be started here; tests/stream/ops/test_kafka.py does the one-broker
Tansu for real)."""

from __future__ import annotations

import pytest

from stream.ops.topics import (
    DAY_MS,
    ClusterState,
    ConfigChange,
    Layout,
    Topics,
    TopicState,
    changelog_names,
    describe_plan,
    differences,
    leader_topic_name,
    plan,
    unsafe_topics,
)

LAYOUT = Layout(Topics("city."), partitions=8, app_id="vigil")


def as_made(brokers: int, layout: Layout = LAYOUT) -> ClusterState:
    """A cluster whose topics are exactly as the layout wants them."""
    return ClusterState(brokers, {s.name: TopicState(s.name, s.partitions, s.replication, dict(s.configs)) for s in layout.specs(brokers)})


def spec_of(name: str, brokers: int) -> dict[str, str]:
    return dict(next(s for s in LAYOUT.specs(brokers) if s.name == name).configs)


@pytest.mark.parametrize(("brokers", "replication", "min_insync"), [(1, 1, "1"), (2, 2, "1"), (3, 3, "2"), (6, 3, "2")])
def test_replicas_follow_the_cluster_size(brokers: int, replication: int, min_insync: str) -> None:
    specs = LAYOUT.specs(brokers)
    assert {s.replication for s in specs} == {replication}
    assert {s.configs["min.insync.replicas"] for s in specs} == {min_insync}
    assert {s.configs["unclean.leader.election.enable"] for s in specs} == {"false"}


def test_every_topic_has_a_retention_with_a_reason_and_changelogs_are_compacted() -> None:
    specs = {s.name: s for s in LAYOUT.specs(3)}
    days = {name: int(s.configs["retention.ms"]) // DAY_MS for name, s in specs.items() if "retention.ms" in s.configs}
    assert days == {"city.cad.eido": 14, "city.hospital.arrivals": 7, "city.acks": 7, "city.events": 14, "city.intents": 7,
                    "city.timeline": 30, "city.outcomes": 30, "city.dlq": 90}
    assert all(specs[n].configs["cleanup.policy"] == "delete" and specs[n].why for n in days)
    # Faust names changelogs by the app id, without the topic prefix; they keep the topics' partition count
    assert changelog_names("vigil") == ("vigil-core-state-changelog", "vigil-dispatched-intents-changelog")
    for name in changelog_names("vigil"):
        assert specs[name].configs["cleanup.policy"] == "compact" and "retention.ms" not in specs[name].configs
        assert specs[name].partitions == 8
    assert specs[leader_topic_name("vigil")].partitions == 1
    assert [s.name for s in Layout(Topics("x.")).specs(1)] == list(Topics("x.").all())  # no app id: no Faust topics


def test_an_empty_cluster_gets_every_topic_created() -> None:
    result = plan(LAYOUT.specs(3), ClusterState(3, {}))
    assert [s.name for s in result.creates] == LAYOUT.names()
    assert not result.changes and not result.problems
    assert differences(result)[0] == "topic city.cad.eido: missing"
    assert describe_plan(result)[0].startswith("create city.cad.eido: partitions=8 replication=3 cleanup.policy=delete "
                                               "retention.ms=1209600000 min.insync.replicas=2")


def test_a_cluster_as_planned_needs_nothing() -> None:
    for brokers in (1, 3):
        result = plan(LAYOUT.specs(brokers), as_made(brokers))
        assert result.empty and differences(result) == []


def test_differing_configs_are_altered_and_unreported_ones_set() -> None:
    cluster = as_made(3)
    events = cluster.topics["city.events"]
    topics = dict(cluster.topics)
    topics["city.events"] = TopicState(events.name, 8, 3, {**events.configs, "retention.ms": str(7 * DAY_MS)})
    topics["city.dlq"] = TopicState("city.dlq", 8, 3, {})  # a broker that reports no defaults (Tansu)
    result = plan(LAYOUT.specs(3), ClusterState(3, topics))
    assert ConfigChange("city.events", "retention.ms", str(7 * DAY_MS), str(14 * DAY_MS)) in result.changes
    assert {c.setting for c in result.changes if c.topic == "city.dlq"} == set(spec_of("city.dlq", 3))
    assert "topic city.events: retention.ms is 604800000, want 1209600000" in differences(result)
    assert "topic city.dlq: min.insync.replicas is (not set), want 2" in differences(result)
    assert "alter  city.events: retention.ms 604800000 -> 1209600000" in describe_plan(result)


def test_partitions_never_shrink_nor_grow_and_missing_replicas_are_an_error() -> None:
    topics = dict(as_made(3).topics)
    topics["city.events"] = TopicState("city.events", 16, 3, spec_of("city.events", 3))
    topics["city.intents"] = TopicState("city.intents", 4, 3, spec_of("city.intents", 3))
    topics["vigil-core-state-changelog"] = TopicState("vigil-core-state-changelog", 8, 1, spec_of("vigil-core-state-changelog", 3))
    result = plan(LAYOUT.specs(3), ClusterState(3, topics))
    problems = {(p.topic, p.setting, p.current, p.wanted) for p in result.problems}
    assert problems == {("city.events", "partitions", "16", "8"), ("city.intents", "partitions", "4", "8"),
                        ("vigil-core-state-changelog", "replication", "1", "3")}
    lines = describe_plan(result)
    assert any(line.startswith("error  city.events: partitions 16 -> 8: partitions cannot shrink") for line in lines)
    assert any("re-home keys" in line for line in lines if "city.intents" in line)
    assert any("kafka-reassign-partitions.sh" in line for line in lines if "core-state" in line)


def test_more_replicas_than_brokers_or_one_replica_on_several_are_errors() -> None:
    too_many = plan(Layout(Topics(), replication=3).specs(1), ClusterState(1, {}))
    assert {p.setting for p in too_many.problems} == {"replication"}
    assert "the cluster has 1 broker(s), fewer than the replicas wanted" in too_many.problems[0].reason
    one_of_three = plan(Layout(Topics(), replication=1).specs(3), ClusterState(3, {}))
    assert len(one_of_three.problems) == len(Topics().all())
    assert "workers refuse it" in one_of_three.problems[0].reason


def test_unsafe_topics_on_a_three_broker_cluster_are_named_with_the_setting() -> None:
    cluster = ClusterState(3, {
        "city.events": TopicState("city.events", 8, 1, {"min.insync.replicas": "1"}),
        "city.intents": TopicState("city.intents", 8, 3, {"min.insync.replicas": "1"}),
        "city.outcomes": TopicState("city.outcomes", 8, 3, {}),  # not reported: Kafka's default, 1
        "city.timeline": TopicState("city.timeline", 8, 3, {"min.insync.replicas": "2", "unclean.leader.election.enable": "true"}),
        "city.acks": TopicState("city.acks", 8, 3, {"min.insync.replicas": "2"}),
    })
    found = unsafe_topics(cluster, LAYOUT.names())
    assert found == [
        "topic city.events: replication factor 1 on a 3-broker cluster (its records live on one broker)",
        "topic city.intents: min.insync.replicas=1 with replication factor 3 (a record acknowledged by one broker alone is lost with it)",
        "topic city.timeline: unclean.leader.election.enable=true (an out-of-sync replica may become leader and drop records)",
        "topic city.outcomes: min.insync.replicas=1 with replication factor 3 (a record acknowledged by one broker alone is lost with it)",
    ]
    assert unsafe_topics(as_made(3), LAYOUT.names()) == []


def test_one_broker_is_not_unsafe() -> None:
    # the embedded broker and the one-host compose: nothing to replicate to, nothing refused
    assert unsafe_topics(as_made(1), LAYOUT.names()) == []
    assert unsafe_topics(ClusterState(1, {"city.events": TopicState("city.events", 4, 1, {})}), ["city.events"]) == []
