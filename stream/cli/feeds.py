"""`vigil hl7-listen` and `vigil ingest-http`: the listeners that put hospital and CAD messages on Kafka."""

from __future__ import annotations

import os

import typer

from stream.cli.options import (
    BootstrapOption,
    Hl7SecretOption,
    MetricsHostOption,
    TopicPrefixOption,
    hl7_secret_of,
    require_bootstrap,
    run_until_interrupted,
)


def hl7_listen(
    bootstrap: str = BootstrapOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(2575, "--port", help="MLLP port; 0 picks a free one."),
    hl7_secret: str = Hl7SecretOption,
    topic_prefix: str = TopicPrefixOption,
    metrics_port: int = typer.Option(9601, "--metrics-port", min=0, max=65535, help="Port of /metrics for Prometheus; 0 picks a free one (logged)."),
    metrics_host: str = MetricsHostOption,
) -> None:
    """Listen for HL7 v2 ADT over MLLP from emergency departments; ACK AA once the record is on the broker."""
    from prometheus_client import CollectorRegistry

    from stream.core.deployment import load_deployment
    from stream.feeds.mllp import MllpListener, serve
    from stream.ops.kafka import Topics, ensure_topics
    from stream.ops.metrics import add_process_metrics
    from stream.ops.probes import serve_metrics

    require_bootstrap(bootstrap)
    secret = hl7_secret_of(hl7_secret, required=True)
    topics = Topics(topic_prefix)
    registry = CollectorRegistry()
    add_process_metrics(registry)
    listener = MllpListener(bootstrap, topics, load_deployment().classification, secret, registry, host=host, port=port)

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        serve_metrics(registry, metrics_host, metrics_port)
        await serve(listener)

    run_until_interrupted(run())


def ingest_http(
    bootstrap: str = BootstrapOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8030, "--port", help="HTTP port; 0 picks a free one."),
    topic_prefix: str = TopicPrefixOption,
) -> None:
    """Accept EIDO pushed by CAD over HTTP (POST /ingest/eido, bearer tokens from VIGIL_INGEST_TOKENS)."""
    from stream.core.deployment import load_deployment
    from stream.feeds.http_ingest import serve, tokens_from_env
    from stream.ops.kafka import Topics, ensure_topics

    require_bootstrap(bootstrap)
    try:
        tokens = tokens_from_env(os.environ.get("VIGIL_INGEST_TOKENS"))
    except ValueError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(2) from None
    topics = Topics(topic_prefix)

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        await serve(bootstrap, topics, tokens, load_deployment().classification, host, port)

    run_until_interrupted(run())
