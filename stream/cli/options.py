"""Command-line option values shared by the commands."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer

from geofences.problems import ERROR, Problem

TopicPrefixOption = typer.Option(
    "", "--topic-prefix", envvar="VIGIL_TOPIC_PREFIX", help="Prefix of every topic name (several deployments on one Kafka)."
)
BootstrapOption = typer.Option(
    None, "--bootstrap", envvar="KAFKA_BOOTSTRAP", help="Kafka bootstrap host:port (default: $KAFKA_BOOTSTRAP)."
)
ReplicationOption = typer.Option(
    None, "--replication-factor", envvar="VIGIL_REPLICATION_FACTOR", min=1,
    help="Replicas of each topic made (default: 3 on a cluster of 3 or more brokers, else one per broker).", show_default=False,
)
MetricsHostOption = typer.Option(
    "127.0.0.1", "--metrics-host", envvar="VIGIL_METRICS_HOST", help="Address /metrics listens on (0.0.0.0 in a container)."
)
ReviewDbUrlOption = typer.Option(
    "sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL (sqlite:/// or postgresql+psycopg://)."
)
Hl7SecretOption = typer.Option(None, "--hl7-secret", envvar="VIGIL_HL7_SECRET", help="Key of the visit-number hash (16+ bytes).", show_default=False)


def moment_option(flag: str, text: str) -> datetime:
    """An ISO 8601 moment with a UTC offset from an option; a clear message and exit 2 otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"vigil: {flag} {text!r} is not an ISO 8601 date-time", err=True)
        raise typer.Exit(2) from None
    if moment.tzinfo is None:
        typer.echo(f"vigil: {flag} {text!r} has no UTC offset", err=True)
        raise typer.Exit(2)
    return moment


def run_until_interrupted(service: Coroutine[Any, Any, None]) -> None:
    """Run a service until it ends or Ctrl-C."""
    try:
        asyncio.run(service)
    except KeyboardInterrupt:
        pass


@contextmanager
def review_store(db_url: str, command: str) -> Iterator[Any]:
    """The review store with its schema brought up to date, closed afterwards; a URL it cannot use ends the
    command with exit 2 and the reason."""
    from reviews.store import ReviewStore

    try:
        store = ReviewStore(db_url)
    except ValueError as exc:
        typer.echo(f"vigil {command}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        store.create_schema()
        yield store
    finally:
        store.dispose()


def require_bootstrap(bootstrap: str | None) -> None:
    """End the command (exit 2) when no broker was given."""
    if not bootstrap:
        typer.echo("vigil: no broker: pass --bootstrap or set KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)


def hl7_secret_of(value: str | None, required: bool) -> bytes:
    """The HL7 visit-number key from an option; a one-off random one when not required and not given."""
    if value and len(value.encode()) >= 16:
        return value.encode()
    if value:
        typer.echo("vigil: the HL7 secret (VIGIL_HL7_SECRET) must be at least 16 bytes", err=True)
        raise typer.Exit(2)
    if required:
        typer.echo("vigil: no HL7 secret: set VIGIL_HL7_SECRET (the key of the visit-number hash)", err=True)
        raise typer.Exit(2)
    import secrets

    typer.echo("vigil: VIGIL_HL7_SECRET not set; visit keys use a one-off random secret", err=True)
    return secrets.token_bytes(32)


def report_problems(problems: list[Problem]) -> None:
    """Print each problem of a lint; with any error among them, their count on stderr and exit 1."""
    for problem in problems:
        typer.echo(str(problem))
    errors = sum(p.level == ERROR for p in problems)
    if errors:
        typer.echo(f"{errors} error(s)", err=True)
        raise typer.Exit(1)
