"""Kafka plumbing shared by the worker, the demo and the tests: bootstrap resolution and topics."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

DEFAULT_PARTITIONS = 4


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

    def all(self) -> tuple[str, ...]:
        """Every topic name."""
        return (self.cad, self.hospital_arrivals, self.acks, self.events, self.intents, self.timeline, self.outcomes, self.dlq)


async def ensure_topics(bootstrap: str, topics: Topics, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create Vigil's topics if they are missing (an existing topic is left as it is)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in topics.all() if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and our create
    finally:
        await admin.close()
