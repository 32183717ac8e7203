"""`vigil worker`: a stream worker, from its options (the worker itself is stream/runtime/worker.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from stream.cli.options import BootstrapOption, MetricsHostOption, ReplicationOption, TopicPrefixOption, require_bootstrap


def worker(
    bootstrap: str = BootstrapOption,
    contacts: Path = typer.Option(..., "--contacts", envvar="VIGIL_CONTACTS", help="Apprise YAML of recipients, tagged by team id."),
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL (sqlite:/// or postgresql+psycopg://)."),
    data_dir: Path = typer.Option(Path("vigil-data"), "--data-dir", envvar="VIGIL_DATA_DIR", help="Faust's local state folder."),
    partitions: int = typer.Option(4, "--partitions", envvar="VIGIL_PARTITIONS", help="Partitions of the topics (as `vigil topics apply` made them); its changelogs get as many."),
    fetch_wait_ms: int = typer.Option(10, "--fetch-wait-ms", help="Consumer fetch wait (Faust's own is 1500 ms)."),
    ready_file: Path | None = typer.Option(None, "--ready-file", help="Written when partitions are assigned and tables recovered."),
    faust_log_level: str = typer.Option("warning", "--faust-log-level", help="Log level of Faust's own logs."),
    app_id: str = typer.Option("vigil", "--app-id", envvar="VIGIL_APP_ID", help="Faust app id: the consumer group and table names."),
    topic_prefix: str = TopicPrefixOption,
    clock_start: str | None = typer.Option(None, "--clock-start", help="Demos and drills: start the worker's clock at this ISO 8601 moment."),
    clock_rate: float = typer.Option(1.0, "--clock-rate", min=0.001, help="Drills and tests, with --clock-start: run the clock this many times faster."),
    table_store: str = typer.Option("memory://", "--table-store", envvar="VIGIL_TABLE_STORE",
                                    help="Tables' local store: memory:// (rebuilt from the changelog at start) or rocksdb:// (kept in --data-dir)."),
    stream_time: bool = typer.Option(False, "--stream-time", help="Replays and drills: the clock is the input records' timestamps; no wall-clock ticks."),
    public_url: str | None = typer.Option(None, "--public-url", envvar="VIGIL_PUBLIC_URL", help="Base URL of `vigil web` for the alerts' ack links."),
    faust_sensors: bool = typer.Option(False, "--faust-sensors", envvar="VIGIL_FAUST_SENSORS",
                                       help="Also export Faust's own sensors (vigil_faust_*); they add ~70 ms to the p99 alert latency under load."),
    metrics_port: int = typer.Option(9600, "--metrics-port", min=0, max=65535,
                                     help="Port of /metrics for Prometheus; 0 picks a free one (logged, and written to <ready-file>.metrics)."),
    metrics_host: str = MetricsHostOption,
    replication: int | None = ReplicationOption,
    allow_unsafe_topics: bool = typer.Option(False, "--allow-unsafe-topics",
                                             help="Start even when a topic would lose acknowledged records on a broker's loss (one replica "
                                                  "on several brokers, min.insync.replicas < 2 with 3+ replicas)."),
) -> None:
    """Run a stream worker (several share the partitions): ingest, activations, dispatch, review sink.

    Needs VIGIL_ACK_SECRET (at least 16 bytes, the same as `vigil web`'s): it signs the alerts' ack links."""
    from reviews.store import ReviewStore
    from stream.ops.kafka import Topics
    from stream.runtime.app import WorkerSettings
    from stream.runtime.worker import WorkerConfigError, ack_signer_from_env, run_worker

    require_bootstrap(bootstrap)
    settings = WorkerSettings(
        bootstrap=bootstrap,
        db_url=db_url,
        data_dir=data_dir,
        partitions=partitions,
        fetch_max_wait_ms=fetch_wait_ms,
        ready_file=ready_file,
        app_id=app_id,
        topics=Topics(topic_prefix),
        clock_start=datetime.fromisoformat(clock_start) if clock_start else None,
        clock_rate=clock_rate,
        stream_time=stream_time,
        table_store=table_store,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        faust_sensors=faust_sensors,
        replication=replication,
        allow_unsafe_topics=allow_unsafe_topics,
    )
    try:
        ack_links = ack_signer_from_env(public_url)
    except WorkerConfigError as exc:
        typer.echo(f"vigil worker: {exc}", err=True)
        raise typer.Exit(2) from None
    store = ReviewStore(settings.db_url)
    store.create_schema()
    try:
        run_worker(settings, contacts, ack_links, store, loglevel=faust_log_level)
    except WorkerConfigError as exc:
        typer.echo(f"vigil worker: {exc}", err=True)
        raise typer.Exit(2) from None
