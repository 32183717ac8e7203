"""Run a Vigil worker: load and check config, make sure the topics exist and keep what the broker
acknowledged, then run Faust."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import faust
import structlog
from prometheus_client import CollectorRegistry

from notifiers.ack_links import MIN_SECRET_BYTES, AckSigner
from notifiers.apprise_adapter import AppriseNotifier, load_people, load_recipients
from notifiers.contacts import person_channels
from stream.core.deployment import load_deployment
from stream.ops.health import LoopHealth
from stream.ops.kafka import TopicAdminError, ensure_topics
from stream.ops.metrics import WorkerMetrics, add_process_metrics, metrics_port_file
from stream.ops.probes import serve_metrics
from stream.ops.topics import ClusterState, Layout, unsafe_topics
from stream.runtime import offset_trace
from stream.runtime.app import WorkerSettings, build_app
from stream.runtime.review_sink import TimelineStore

log = structlog.get_logger(__name__)
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8600"


class WorkerConfigError(ValueError):
    """A worker setting that stops it before it joins, with what to do about it."""


def ack_signer_from_env(public_url: str | None = None) -> AckSigner:
    """The signer of the alerts' ack links: the secret from ``VIGIL_ACK_SECRET`` (shared with `vigil web`),
    links to ``public_url`` (else ``VIGIL_PUBLIC_URL``, else the local web service)."""
    secret = os.environ.get("VIGIL_ACK_SECRET", "")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise WorkerConfigError(
            f"VIGIL_ACK_SECRET must be set to at least {MIN_SECRET_BYTES} bytes (the key that signs alert ack links; "
            "`vigil web` needs the same one)"
        )
    return AckSigner(secret.encode(), public_url or os.environ.get("VIGIL_PUBLIC_URL") or DEFAULT_PUBLIC_URL)


def refuse_unsafe_topics(cluster: ClusterState, names: Iterable[str], allow: bool) -> None:
    """Stop the worker (WorkerConfigError naming each topic and setting) when a topic it uses would lose records
    the broker acknowledged if one broker were lost; with ``allow``, only log them."""
    findings = unsafe_topics(cluster, names)
    if not findings:
        return
    if allow:
        log.warning("topics.unsafe", findings=findings)
        return
    raise WorkerConfigError(
        "these topics would lose acknowledged records (alerts) when a broker is lost:\n  " + "\n  ".join(findings)
        + "\nrun `vigil topics apply` (infra/RUNBOOK.md, Topics), or pass --allow-unsafe-topics to start anyway"
    )


def provision_topics(settings: WorkerSettings) -> WorkerSettings:
    """Create the worker's missing topics (its Faust changelogs too, before Faust makes them with its defaults),
    refuse unsafe ones, and return the settings with the replication factor the cluster's topics get (Faust's
    for any topic it still makes itself)."""
    layout = Layout(settings.topics, settings.partitions, settings.app_id, settings.replication)
    try:
        cluster = asyncio.run(ensure_topics(settings.bootstrap, settings.topics, settings.partitions, settings.app_id, settings.replication))
    except TopicAdminError as exc:
        raise WorkerConfigError(str(exc)) from None
    refuse_unsafe_topics(cluster, layout.names(), settings.allow_unsafe_topics)
    return replace(settings, replication=layout.replication_on(cluster.brokers))


def run_worker(settings: WorkerSettings, contacts: Path, ack_links: AckSigner, store: TimelineStore, loglevel: str = "warning") -> None:
    """Run one worker until it is stopped (SIGTERM/SIGINT), its review sink writing to ``store``. Config errors
    stop it before it joins.

    With ``settings.metrics_port`` set, /metrics and the /healthz and /readyz probes (stream/ops/health.py) are
    served (from a thread) before the worker joins; the bound port goes to the log and, with a ready file, to ``<ready_file>.metrics``."""
    deployment = load_deployment()
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    add_process_metrics(registry)
    notifier = AppriseNotifier(load_recipients(contacts), ack_links=ack_links, observer=metrics, people=load_people(contacts))
    unknown = sorted(notifier.teams() - set(deployment.coverage.teams))
    if unknown:
        log.warning("contacts.unknown_teams", teams=unknown)
    channels = person_channels(contacts)
    paging = sorted(team for team, roster in deployment.rosters.items() if any(channels.get(p.id) for p in roster.people))
    log.info("paging.teams", teams=paging)  # the teams whose people are paged; the others' alerts go to their team-tagged URLs
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = provision_topics(settings)
    # asyncio.run() leaves no current loop; Faust's worker expects one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    health = LoopHealth(registry)
    app = build_app(settings, deployment, notifier, store, metrics=metrics, health=health, channels=channels)
    offset_trace.install(app)  # diagnostics for chaos runs, only with VIGIL_TRACE_OFFSETS=1
    if settings.metrics_port is not None:
        bound = serve_metrics(registry, settings.metrics_host, settings.metrics_port, health)
        if bound is not None and settings.ready_file is not None:
            port_file = metrics_port_file(settings.ready_file)
            # written whole under another name, then renamed: a reader never sees a half-written port
            partial = port_file.with_name(port_file.name + ".tmp")
            partial.write_text(str(bound), encoding="utf-8")
            partial.replace(port_file)
    log.info(
        "worker.starting",
        bootstrap=settings.bootstrap,
        coverage_version=deployment.coverage.version,
        protocol_version=deployment.protocols.version,
    )
    faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()
