"""`vigil hl7-listen` and `vigil ingest-http`: the listeners that put hospital and CAD messages on Kafka."""

from __future__ import annotations

import os
import ssl
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from stream.ops.connections import AddressAllowList


def hl7_listen(
    bootstrap: str = BootstrapOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(2575, "--port", help="MLLP port; 0 picks a free one."),
    hl7_secret: str = Hl7SecretOption,
    topic_prefix: str = TopicPrefixOption,
    metrics_port: int = typer.Option(9601, "--metrics-port", min=0, max=65535, help="Port of /metrics for Prometheus; 0 picks a free one (logged)."),
    metrics_host: str = MetricsHostOption,
    allow_from: str = typer.Option(
        "127.0.0.0/8,::1", "--allow-from", envvar="VIGIL_HL7_ALLOW_FROM",
        help="Sender addresses accepted: comma-separated CIDRs of the hospitals' interface engines, or 'any' (warned). "
             "Others are disconnected unanswered."),
    tls_cert: str | None = typer.Option(None, "--tls-cert", envvar="VIGIL_HL7_TLS_CERT", help="PEM certificate (chain): MLLP over TLS."),
    tls_key: str | None = typer.Option(None, "--tls-key", envvar="VIGIL_HL7_TLS_KEY", help="PEM private key of --tls-cert."),
    max_connections: int = typer.Option(64, "--max-connections", min=1, help="Connections at once; past it the longest-silent is closed."),
    idle_timeout: float = typer.Option(300.0, "--idle-timeout", min=0.1, help="Seconds a connection may stay silent between messages."),
    frame_deadline: float = typer.Option(30.0, "--frame-deadline", min=0.1, help="Seconds from a frame's first byte to its end block."),
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
    allowed = _allow_list(allow_from)
    tls = _tls_context(tls_cert, tls_key)
    topics = Topics(topic_prefix)
    registry = CollectorRegistry()
    add_process_metrics(registry)
    listener = MllpListener(bootstrap, topics, load_deployment().classification, secret, registry, host=host, port=port,
                            allow_from=allowed, tls=tls, max_connections=max_connections, idle_timeout_s=idle_timeout,
                            frame_deadline_s=frame_deadline)

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        serve_metrics(registry, metrics_host, metrics_port)
        await serve(listener)

    run_until_interrupted(run())


def _allow_list(value: str) -> AddressAllowList:
    """The --allow-from networks; a clear message and exit 2 when one is not an address or network."""
    from stream.ops.connections import AddressAllowList

    try:
        return AddressAllowList([value])
    except ValueError as exc:
        typer.echo(f"vigil: --allow-from: {exc}", err=True)
        raise typer.Exit(2) from None


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The TLS context of --tls-cert and --tls-key (both or neither); a clear message and exit 2 otherwise."""
    from stream.ops.connections import server_tls_context

    if cert is None and key is None:
        return None
    if cert is None or key is None:
        typer.echo("vigil: TLS needs both --tls-cert and --tls-key", err=True)
        raise typer.Exit(2)
    try:
        return server_tls_context(cert, key)
    except ValueError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(2) from None


def ingest_http(
    bootstrap: str = BootstrapOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8030, "--port", help="HTTP port; 0 picks a free one."),
    topic_prefix: str = TopicPrefixOption,
    metrics_port: int = typer.Option(9602, "--metrics-port", min=0, max=65535, help="Port of /metrics for Prometheus (not the ingest port); 0 picks a free one (logged)."),
    metrics_host: str = MetricsHostOption,
    max_connections: int = typer.Option(128, "--max-connections", min=1, help="Connections at once; past it the longest-silent is closed."),
    header_timeout: float = typer.Option(10.0, "--header-timeout", min=0.1, help="Seconds a connection has to send a request's headers."),
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
        await serve(bootstrap, topics, tokens, load_deployment().classification, host, port, metrics_host, metrics_port,
                    max_connections=max_connections, header_timeout_s=header_timeout)

    run_until_interrupted(run())
