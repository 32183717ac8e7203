"""Run a Vigil worker: load and check config, make sure the topics exist, then run Faust."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import structlog

from notifiers.apprise_adapter import AppriseNotifier, load_recipients
from reviews.store import ReviewStore
from stream.app import WorkerSettings, build_app
from stream.deployment import load_deployment
from stream.kafka import ensure_topics

log = structlog.get_logger(__name__)


def run_worker(settings: WorkerSettings, contacts: Path, loglevel: str = "warning") -> None:
    """Run one worker until it is stopped (SIGTERM/SIGINT). Config errors stop it before it joins."""
    deployment = load_deployment()
    notifier = AppriseNotifier(load_recipients(contacts))
    unknown = sorted(notifier.teams() - set(deployment.coverage.teams))
    if unknown:
        log.warning("contacts.unknown_teams", teams=unknown)
    store = ReviewStore(settings.db_url)
    store.create_schema()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings.bootstrap, settings.topics, settings.partitions))
    # asyncio.run() leaves no current loop; Faust's worker expects one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(settings, deployment, notifier, store)
    log.info(
        "worker.starting",
        bootstrap=settings.bootstrap,
        coverage_version=deployment.coverage.version,
        protocol_version=deployment.protocols.version,
    )
    faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()
