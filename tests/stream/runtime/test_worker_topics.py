"""The worker's topics: it refuses to start on topics that would lose acknowledged records (a described
three-broker cluster, as data: no multi-broker Kafka can run on this machine), and Faust's producer waits for
every in-sync replica."""

from __future__ import annotations

import pytest

from stream.ops.topics import ClusterState, Layout, Topics, TopicState
from stream.runtime.app import WorkerSettings, new_app
from stream.runtime.worker import WorkerConfigError, refuse_unsafe_topics

LAYOUT = Layout(Topics(), partitions=8, app_id="vigil")


def cluster_as_made(brokers: int, replication: int | None = None, **overrides: str) -> ClusterState:
    """Every topic of the layout present, with ``replication`` replicas and the layout's configs plus overrides."""
    specs = Layout(LAYOUT.topics, LAYOUT.partitions, LAYOUT.app_id, replication).specs(brokers)
    return ClusterState(brokers, {s.name: TopicState(s.name, s.partitions, s.replication, {**s.configs, **overrides}) for s in specs})


def test_a_worker_refuses_one_replica_on_three_brokers_naming_the_topic_and_setting() -> None:
    # the topics an old release made (replication 1) on a production cluster
    cluster = ClusterState(3, {**cluster_as_made(3).topics, "events": TopicState("events", 8, 1, {"min.insync.replicas": "1"})})
    with pytest.raises(WorkerConfigError) as refused:
        refuse_unsafe_topics(cluster, LAYOUT.names(), allow=False)
    message = str(refused.value)
    assert "topic events: replication factor 1 on a 3-broker cluster" in message
    assert "run `vigil topics apply`" in message and "--allow-unsafe-topics" in message
    assert "topic intents" not in message


def test_a_worker_refuses_min_insync_below_two_with_three_replicas() -> None:
    with pytest.raises(WorkerConfigError) as refused:
        refuse_unsafe_topics(cluster_as_made(3, **{"min.insync.replicas": "1"}), LAYOUT.names(), allow=False)
    message = str(refused.value)
    for name in LAYOUT.names():
        assert f"topic {name}: min.insync.replicas=1 with replication factor 3" in message


def test_allow_unsafe_topics_starts_anyway_and_safe_clusters_start(capsys) -> None:
    refuse_unsafe_topics(cluster_as_made(3, replication=1), LAYOUT.names(), allow=True)
    captured = capsys.readouterr()
    assert "topics.unsafe" in captured.out + captured.err
    refuse_unsafe_topics(cluster_as_made(3), LAYOUT.names(), allow=False)
    refuse_unsafe_topics(cluster_as_made(1), LAYOUT.names(), allow=False)  # the embedded broker, the one-host compose


def test_faust_waits_for_all_in_sync_replicas_and_makes_topics_with_the_cluster_replicas(tmp_path) -> None:
    app = new_app(WorkerSettings(bootstrap="127.0.0.1:1", db_url="sqlite://", data_dir=tmp_path, replication=3))
    assert app.conf.producer_acks == -1
    assert app.conf.topic_replication_factor == 3
