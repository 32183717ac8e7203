"""Operations: metrics, health probes, logs, and the Kafka and HTTP plumbing every process shares."""
