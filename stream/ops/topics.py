"""Vigil's topics: their names, how each should be, and what it takes to bring a cluster there.

Pure functions over data; the Kafka I/O (describing a cluster, creating and altering topics) is in
stream/ops/kafka.py. ``desired_topics`` says what every topic should be (partitions, replication, configs, and
why its retention is what it is); ``plan`` compares that with a described cluster and says what to create,
which configs to alter, and what cannot be done by a tool (partition counts, replica counts);
``unsafe_topics`` says which existing topics would lose records the broker already acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DAY_MS = 86_400_000
DEFAULT_PARTITIONS = 4
# Faust's tables (stream/runtime/app.py); Faust names each changelog "<app id>-<table>-changelog"
TABLES = ("core-state", "dispatched-intents")
MIN_INSYNC = "min.insync.replicas"
UNCLEAN = "unclean.leader.election.enable"


@dataclass(frozen=True)
class Topics:
    """Vigil's topic names, under an optional prefix (several deployments or test runs on one Kafka)."""

    prefix: str = ""

    @property
    def cad(self) -> str:
        """EIDO documents from CAD (input)."""
        return f"{self.prefix}cad.eido"

    @property
    def hospital_arrivals(self) -> str:
        """Gunshot-wound arrivals from the HL7 listener (PHI already stripped)."""
        return f"{self.prefix}hospital.arrivals"

    @property
    def acks(self) -> str:
        """Acks from the teams' phones (the ack links), keyed by ref."""
        return f"{self.prefix}acks"

    @property
    def events(self) -> str:
        """Recognised shooting events, keyed by jurisdiction."""
        return f"{self.prefix}events"

    @property
    def intents(self) -> str:
        """Notification intents, keyed by intent id."""
        return f"{self.prefix}intents"

    @property
    def timeline(self) -> str:
        """Timeline records, keyed by activation id."""
        return f"{self.prefix}timeline"

    @property
    def outcomes(self) -> str:
        """Delivery outcomes, keyed by intent id."""
        return f"{self.prefix}outcomes"

    @property
    def dlq(self) -> str:
        """Rejected input with its reason."""
        return f"{self.prefix}dlq"

    @property
    def standdowns(self) -> str:
        """Standdowns (stream/core/standdowns.py), keyed by standdown id: compacted, every worker reads it whole."""
        return f"{self.prefix}standdowns"

    def all(self) -> tuple[str, ...]:
        """Every topic name."""
        return (self.cad, self.hospital_arrivals, self.acks, self.events, self.intents, self.timeline, self.outcomes, self.dlq,
                self.standdowns)


@dataclass(frozen=True)
class Retention:
    """How long a topic keeps its records, and the reason."""

    days: int
    why: str


# Per topic (the Topics property): long enough for what reads it late, no longer than that.
RETENTION: dict[str, Retention] = {
    "cad": Retention(14, "CAD does not send twice: two weeks lets a successor consumer group (a migration under a new "
                         "prefix) catch up from the start and a planner export recent calls for a replay or backtest"),
    "hospital_arrivals": Retention(7, "health data even without PHI: kept only as long as a successor's catch-up after "
                                      "a long outage needs (the join window itself is 90 minutes)"),
    "acks": Retention(7, "an ack matters while its activation's deadlines run (hours); a week covers every worker down"),
    "events": Retention(14, "the core's own input log: the same window as cad.eido, to replay the decisions and let a "
                            "successor catch up"),
    "intents": Retention(7, "redelivery: an intent must outlive the longest outage of dispatch or the phone gateways"),
    "timeline": Retention(30, "the review store's source: survives a month-long database outage before the review "
                              "loses an entry"),
    "outcomes": Retention(30, "what each delivery did: kept as long as the timeline, for the review and audits"),
    "dlq": Retention(90, "a rejected record waits for a fix and a replay (RUNBOOK); fixes can take weeks"),
}
# compaction only cleans closed segments: hourly ones keep a recovering worker's read short (SCALING.md)
CHANGELOG_SEGMENT_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    """One topic as it should be."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str]
    why: str = ""


@dataclass(frozen=True)
class TopicState:
    """One topic as a cluster has it: ``replication`` is the fewest replicas of any of its partitions;
    ``configs`` the values the broker reported (a broker may leave out defaults)."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterState:
    """What a cluster has: its broker count and the topics asked about that exist."""

    brokers: int
    topics: Mapping[str, TopicState]


@dataclass(frozen=True)
class ConfigChange:
    """A topic config to set on an existing topic (``current`` None: the broker did not report it)."""

    topic: str
    setting: str
    current: str | None
    wanted: str


@dataclass(frozen=True)
class Problem:
    """A difference no tool here can fix, with what to do instead."""

    topic: str
    setting: str
    current: str
    wanted: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What it takes to bring a cluster to the desired topics."""

    creates: tuple[TopicSpec, ...] = ()
    changes: tuple[ConfigChange, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to create, alter or fix: the cluster is as desired."""
        return not (self.creates or self.changes or self.problems)


def replication_for(brokers: int) -> int:
    """Replicas per partition on a cluster of ``brokers``: 3 from 3 brokers on, else one per broker."""
    return max(1, min(3, brokers))


def min_insync_for(replication: int) -> int:
    """``min.insync.replicas`` for a replication factor: 2 from 3 replicas on, so an acknowledged record is on
    two brokers and one broker's loss neither loses it nor stops writes."""
    return 2 if replication >= 3 else 1


def changelog_names(app_id: str) -> tuple[str, ...]:
    """The changelog topics Faust derives from the app id: ``<app id>-<table>-changelog`` (no topic prefix)."""
    return tuple(f"{app_id}-{table}-changelog" for table in TABLES)


def leader_topic_name(app_id: str) -> str:
    """Faust's leader-election topic, ``<app id>-__assignor-__leader`` (one partition, holds nothing)."""
    return f"{app_id}-__assignor-__leader"


def _durability(replication: int) -> dict[str, str]:
    return {MIN_INSYNC: str(min_insync_for(replication)), UNCLEAN: "false"}


def log_topic(name: str, partitions: int, replication: int, retention: Retention) -> TopicSpec:
    """A topic of records kept for a time (deleted after its retention)."""
    configs = {"cleanup.policy": "delete", "retention.ms": str(retention.days * DAY_MS), **_durability(replication)}
    return TopicSpec(name, partitions, replication, configs, f"{retention.days} d: {retention.why}")


def changelog_topic(name: str, partitions: int, replication: int) -> TopicSpec:
    """A table's changelog: compacted, the key is the state (the newest value per key is kept for ever)."""
    configs = {"cleanup.policy": "compact", "segment.ms": str(CHANGELOG_SEGMENT_MS), **_durability(replication)}
    return TopicSpec(name, partitions, replication, configs, "compacted: the newest state per key, for ever")


def standdown_topic(name: str, replication: int) -> TopicSpec:
    """The standdowns: one partition (every worker reads all of it, in the order DNS made the changes), compacted
    (the newest version of each standdown, for ever: an ended one stays, with its end)."""
    configs = {"cleanup.policy": "compact", "segment.ms": str(CHANGELOG_SEGMENT_MS), **_durability(replication)}
    return TopicSpec(name, 1, replication, configs, "compacted: the newest version of each standdown, read whole by every worker")


def desired_topics(topics: Topics, partitions: int, replication: int, app_id: str | None = None) -> list[TopicSpec]:
    """Every topic Vigil uses, as it should be; with ``app_id``, also the workers' Faust topics (changelogs
    with the topics' partition count, as Faust requires, and the one-partition leader topic)."""
    specs = [log_topic(getattr(topics, key), partitions, replication, retention) for key, retention in RETENTION.items()]
    specs.append(standdown_topic(topics.standdowns, replication))
    if app_id is not None:
        specs += [changelog_topic(name, partitions, replication) for name in changelog_names(app_id)]
        specs.append(TopicSpec(leader_topic_name(app_id), 1, replication, _durability(replication),
                               "Faust's leader election: holds nothing"))
    return specs


@dataclass(frozen=True)
class Layout:
    """Which topics to provision, and how: the names (under a prefix), their partition count, the workers' app
    id (their Faust topics; None leaves them out) and the replicas (None: from the cluster's size)."""

    topics: Topics = Topics()
    partitions: int = DEFAULT_PARTITIONS
    app_id: str | None = None
    replication: int | None = None

    def replication_on(self, brokers: int) -> int:
        """The replication factor these topics get on a cluster of ``brokers``."""
        return self.replication if self.replication is not None else replication_for(brokers)

    def specs(self, brokers: int) -> list[TopicSpec]:
        """Every topic of the layout as it should be on a cluster of ``brokers``."""
        return desired_topics(self.topics, self.partitions, self.replication_on(brokers), self.app_id)

    def names(self) -> list[str]:
        """The names of the layout's topics."""
        return [spec.name for spec in self.specs(1)]


def plan(desired: Iterable[TopicSpec], cluster: ClusterState) -> Plan:
    """What to create, which configs to set, and what cannot be done, to bring ``cluster`` to ``desired``."""
    creates, changes, problems = [], [], []
    for spec in desired:
        problems += _replication_problems(spec, cluster.brokers)
        state = cluster.topics.get(spec.name)
        if state is None:
            creates.append(spec)
            continue
        problems += _shape_problems(spec, state)
        changes += [ConfigChange(spec.name, key, state.configs.get(key), value)
                    for key, value in spec.configs.items() if state.configs.get(key) != value]
    return Plan(tuple(creates), tuple(changes), tuple(problems))


def _replication_problems(spec: TopicSpec, brokers: int) -> list[Problem]:
    """A wanted replication factor the cluster cannot give, or one a worker would refuse."""
    if spec.replication > brokers:
        return [Problem(spec.name, "replication", str(brokers), str(spec.replication),
                        f"the cluster has {brokers} broker(s), fewer than the replicas wanted")]
    if spec.replication < 2 and brokers > 1:
        return [Problem(spec.name, "replication", str(spec.replication), str(replication_for(brokers)),
                        f"one replica on a {brokers}-broker cluster loses acknowledged records with its broker; "
                        "workers refuse it (drop --replication-factor)")]
    return []


def _shape_problems(spec: TopicSpec, state: TopicState) -> list[Problem]:
    """Partition and replica counts: set at creation, changed only by a migration or a reassignment."""
    found = []
    if state.partitions > spec.partitions:
        found.append(Problem(spec.name, "partitions", str(state.partitions), str(spec.partitions),
                             "partitions cannot shrink; pass the topic's count (--partitions) or migrate to new topics"))
    elif state.partitions < spec.partitions:
        found.append(Problem(spec.name, "partitions", str(state.partitions), str(spec.partitions),
                             "more partitions re-home keys (a jurisdiction's state): a migration, not a change "
                             "(infra/k8s/SCALING.md); pass the topic's count (--partitions)"))
    if state.replication < spec.replication:
        found.append(Problem(spec.name, "replication", str(state.replication), str(spec.replication),
                             "add replicas with kafka-reassign-partitions.sh (infra/RUNBOOK.md, Topics)"))
    return found


def unsafe_topics(cluster: ClusterState, names: Iterable[str]) -> list[str]:
    """Why each of the named topics that exist would lose records the broker acknowledged when one broker is
    lost: one replica on a cluster of several, fewer than two in-sync replicas required with three or more
    replicas, or unclean leader election. A setting the broker did not report counts as Kafka's default."""
    found = []
    for name in names:
        state = cluster.topics.get(name)
        if state is None:
            continue
        if cluster.brokers > 1 and state.replication < 2:
            found.append(f"topic {name}: replication factor {state.replication} on a {cluster.brokers}-broker cluster "
                         "(its records live on one broker)")
        min_insync = int(state.configs.get(MIN_INSYNC, "1"))
        if state.replication >= 3 and min_insync < 2:
            found.append(f"topic {name}: {MIN_INSYNC}={min_insync} with replication factor {state.replication} "
                         "(a record acknowledged by one broker alone is lost with it)")
        if state.configs.get(UNCLEAN, "false") == "true":
            found.append(f"topic {name}: {UNCLEAN}=true (an out-of-sync replica may become leader and drop records)")
    return found


def differences(result: Plan) -> list[str]:
    """Each topic and setting that differs from the desired, one line each (`vigil topics check`)."""
    lines = [f"topic {spec.name}: missing" for spec in result.creates]
    lines += [f"topic {c.topic}: {c.setting} is {_shown(c.current)}, want {c.wanted}" for c in result.changes]
    lines += [f"topic {p.topic}: {p.setting} is {p.current}, want {p.wanted} ({p.reason})" for p in result.problems]
    return lines


def describe_plan(result: Plan) -> list[str]:
    """The plan as lines a person reads (`vigil topics plan`): create, alter, error."""
    lines = [f"create {spec.name}: partitions={spec.partitions} replication={spec.replication} "
             + " ".join(f"{k}={v}" for k, v in spec.configs.items()) + (f"  # {spec.why}" if spec.why else "")
             for spec in result.creates]
    lines += [f"alter  {c.topic}: {c.setting} {_shown(c.current)} -> {c.wanted}" for c in result.changes]
    lines += [f"error  {p.topic}: {p.setting} {p.current} -> {p.wanted}: {p.reason}" for p in result.problems]
    return lines


def _shown(value: str | None) -> str:
    return "(not set)" if value is None else value
