"""`vigil topics plan|apply|check`: Vigil's topics provisioned on a cluster, explicitly.

What each topic should be is stream/ops/topics.py (partitions, replicas, min.insync.replicas, retention or
compaction); the admin requests are stream/ops/kafka.py. Exit codes: 0 in line (or done), 1 differences or
errors left, 2 bad options or no broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

from stream.cli.options import BootstrapOption, ReplicationOption, TopicPrefixOption, require_bootstrap

T = TypeVar("T")

topics_app = typer.Typer(help="Vigil's topics on a Kafka cluster: plan, apply, check.", no_args_is_help=True)

PartitionsOption = typer.Option(
    4, "--partitions", envvar="VIGIL_PARTITIONS", min=1,
    help="Partitions of every topic (fixed once made: infra/k8s/SCALING.md); the workers' --partitions.",
)
AppIdOption = typer.Option("vigil", "--app-id", envvar="VIGIL_APP_ID", help="The workers' Faust app id: names their changelog topics.")


def _layout(topic_prefix: str, partitions: int, app_id: str, replication: int | None) -> Any:
    from stream.ops.topics import Layout, Topics

    return Layout(Topics(topic_prefix), partitions, app_id, replication)


def _talk_to_broker(bootstrap: str, work: Coroutine[Any, Any, T]) -> T:
    """Run an admin request; a broker that cannot be reached or refuses ends the command (exit 2) with the reason."""
    from aiokafka.errors import KafkaError

    from stream.ops.kafka import TopicAdminError

    try:
        return asyncio.run(work)
    except (KafkaError, TopicAdminError, OSError) as exc:
        detail = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"  # aiokafka's name themselves
        typer.echo(f"vigil topics: the broker at {bootstrap}: {detail}", err=True)
        raise typer.Exit(2) from None


@topics_app.command("plan")
def topics_plan(
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
    partitions: int = PartitionsOption,
    app_id: str = AppIdOption,
    replication: int | None = ReplicationOption,
) -> None:
    """Print what `vigil topics apply` would do: create, alter a config, or an error it cannot fix (exit 1)."""
    from stream.ops.kafka import plan_topics
    from stream.ops.topics import describe_plan

    require_bootstrap(bootstrap)
    result = _talk_to_broker(bootstrap, plan_topics(bootstrap, _layout(topic_prefix, partitions, app_id, replication)))
    for line in describe_plan(result):
        typer.echo(line)
    if result.empty:
        typer.echo("nothing to change")
    raise typer.Exit(1 if result.problems else 0)


@topics_app.command("apply")
def topics_apply(
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
    partitions: int = PartitionsOption,
    app_id: str = AppIdOption,
    replication: int | None = ReplicationOption,
) -> None:
    """Create the missing topics and set the differing configs; exit 1 naming what is left (errors a person fixes)."""
    from stream.ops.kafka import apply_plan
    from stream.ops.topics import describe_plan

    require_bootstrap(bootstrap)
    result, failures = _talk_to_broker(bootstrap, apply_plan(bootstrap, _layout(topic_prefix, partitions, app_id, replication)))
    for line in describe_plan(result):
        typer.echo(line)
    for failure in failures:
        typer.echo(f"failed {failure}", err=True)
    if result.empty:
        typer.echo("nothing to change")
    raise typer.Exit(1 if result.problems or failures else 0)


@topics_app.command("check")
def topics_check(
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
    partitions: int = PartitionsOption,
    app_id: str = AppIdOption,
    replication: int | None = ReplicationOption,
) -> None:
    """Exit 0 when every topic is as planned; else exit 1 naming each topic and setting that differs."""
    from stream.ops.kafka import plan_topics
    from stream.ops.topics import differences

    require_bootstrap(bootstrap)
    found = differences(_talk_to_broker(bootstrap, plan_topics(bootstrap, _layout(topic_prefix, partitions, app_id, replication))))
    for line in found:
        typer.echo(line, err=True)
    if found:
        raise typer.Exit(1)
    typer.echo("topics as planned")
