"""The ``vigil`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from stream.ops.logs import configure_logging

app = typer.Typer(
    help="Vigil: real-time shooting activation and notification service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

TopicPrefixOption = typer.Option(
    "", "--topic-prefix", envvar="VIGIL_TOPIC_PREFIX", help="Prefix of every topic name (several deployments on one Kafka)."
)
BootstrapOption = typer.Option(
    None, "--bootstrap", envvar="KAFKA_BOOTSTRAP", help="Kafka bootstrap host:port (default: $KAFKA_BOOTSTRAP)."
)
MetricsHostOption = typer.Option(
    "127.0.0.1", "--metrics-host", envvar="VIGIL_METRICS_HOST", help="Address /metrics listens on (0.0.0.0 in a container)."
)


def _run_until_interrupted(service: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(service)
    except KeyboardInterrupt:
        pass


@contextmanager
def _review_store(db_url: str, command: str) -> Iterator[Any]:
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


def _require_bootstrap(bootstrap: str | None) -> None:
    if not bootstrap:
        typer.echo("vigil: no broker: pass --bootstrap or set KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)


@app.callback()
def _main(log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error.")) -> None:
    """Vigil: real-time shooting activation and notification service."""
    configure_logging(log_level)


@app.command()
def broker(
    port: int = typer.Option(9092, "--port", help="TCP port on 127.0.0.1; 0 picks a free one."),
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory storage) on loopback until stopped."""
    from stream.devtools.broker import EmbeddedBroker

    embedded = EmbeddedBroker(port=port)
    typer.echo(embedded.start())
    signal.signal(signal.SIGTERM, lambda *_: embedded.terminate())
    try:
        code = embedded.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        embedded.stop()
    raise typer.Exit(code)


@app.command()
def worker(
    bootstrap: str = BootstrapOption,
    contacts: Path = typer.Option(..., "--contacts", envvar="VIGIL_CONTACTS", help="Apprise YAML of recipients, tagged by team id."),
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL (sqlite:/// or postgresql+psycopg://)."),
    data_dir: Path = typer.Option(Path("vigil-data"), "--data-dir", envvar="VIGIL_DATA_DIR", help="Faust's local state folder."),
    partitions: int = typer.Option(4, "--partitions", help="Partitions of topics this worker creates."),
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
) -> None:
    """Run a stream worker (several share the partitions): ingest, activations, dispatch, review sink.

    Needs VIGIL_ACK_SECRET (at least 16 bytes, the same as `vigil web`'s): it signs the alerts' ack links."""
    from stream.cli.worker import WorkerConfigError, ack_signer_from_env, run_worker
    from stream.ops.kafka import Topics
    from stream.runtime.app import WorkerSettings

    _require_bootstrap(bootstrap)
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
    )
    try:
        ack_links = ack_signer_from_env(public_url)
    except WorkerConfigError as exc:
        typer.echo(f"vigil worker: {exc}", err=True)
        raise typer.Exit(2) from None
    run_worker(settings, contacts, ack_links, loglevel=faust_log_level)


@app.command()
def inbox(
    port: int = typer.Option(8025, "--port", help="TCP port on 127.0.0.1; 0 picks a free one."),
    journal: Path | None = typer.Option(None, "--journal", help="Also append each message to this JSONL file."),
    slow: list[str] = typer.Option(
        [], "--slow", metavar="RECIPIENT=SECONDS",
        help="Drills: hold RECIPIENT's alerts SECONDS before storing and answering them, like a slow gateway (repeatable).",
    ),
) -> None:
    """Run the local phone inbox: Apprise json:// alerts are stored and listed at / and /messages."""
    import math

    from notifiers.inbox import PhoneInbox

    holds: dict[str, float] = {}
    for value in slow:
        recipient, _, seconds = value.rpartition("=")
        try:
            hold = float(seconds)
        except ValueError:
            hold = math.nan
        if not recipient or not math.isfinite(hold) or hold < 0:
            typer.echo(f"vigil inbox: --slow expects RECIPIENT=SECONDS with SECONDS a number >= 0 (e.g. vi-central-lead=6), got {value!r}",
                       err=True)
            raise typer.Exit(2)
        holds[recipient] = hold

    async def serve() -> None:
        phone_inbox = PhoneInbox(port=port, journal=journal)
        phone_inbox.slow = holds
        typer.echo(await phone_inbox.start())
        await asyncio.Event().wait()

    _run_until_interrupted(serve())


@app.command()
def produce(
    file: Path = typer.Argument(..., help="A JSON file with one EIDO document, or JSON Lines of them."),
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
) -> None:
    """Send EIDO documents to the CAD topic (each line as it is, so bad lines reach the dead-letter topic)."""
    from aiokafka import AIOKafkaProducer

    from stream.ops.kafka import Topics

    topic = Topics(topic_prefix).cad

    _require_bootstrap(bootstrap)
    text = file.read_text(encoding="utf-8")
    try:
        lines = [json.dumps(json.loads(text))]
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for line in lines:
                await producer.send_and_wait(topic, line.encode())
        finally:
            await producer.stop()

    asyncio.run(send())
    typer.echo(f"sent {len(lines)} document(s) to {topic}")


def _hl7_secret(value: str | None, required: bool) -> bytes:
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


Hl7SecretOption = typer.Option(None, "--hl7-secret", envvar="VIGIL_HL7_SECRET", help="Key of the visit-number hash (16+ bytes).", show_default=False)


@app.command("hl7-listen")
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

    _require_bootstrap(bootstrap)
    secret = _hl7_secret(hl7_secret, required=True)
    topics = Topics(topic_prefix)
    registry = CollectorRegistry()
    add_process_metrics(registry)
    listener = MllpListener(bootstrap, topics, load_deployment().classification, secret, registry, host=host, port=port)

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        serve_metrics(registry, metrics_host, metrics_port)
        await serve(listener)

    _run_until_interrupted(run())


@app.command("ingest-http")
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

    _require_bootstrap(bootstrap)
    try:
        tokens = tokens_from_env(os.environ.get("VIGIL_INGEST_TOKENS"))
    except ValueError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(2) from None
    topics = Topics(topic_prefix)

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        await serve(bootstrap, topics, tokens, load_deployment().classification, host, port)

    _run_until_interrupted(run())


ACK_SECRET_MIN_BYTES = 16


@app.command()
def web(
    bootstrap: str = BootstrapOption,
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL (sqlite:/// or postgresql+psycopg://)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8600, "--port", help="HTTP port; 0 picks a free one."),
    topic_prefix: str = TopicPrefixOption,
    public_url: str | None = typer.Option(None, "--public-url", envvar="VIGIL_PUBLIC_URL", help="Address the phones reach this service at (default: http://host:port)."),
    trusted_user_header: str | None = typer.Option(
        None, "--trusted-user-header", envvar="VIGIL_TRUSTED_USER_HEADER",
        help="Single sign-on behind the city's proxy: sign in the existing user this header names. Only behind a proxy that sets it."),
) -> None:
    """Serve the alerts' answer pages (/ack/{token}, publishing to the acks topic) and the next-day review
    pages for signed-in staff (secret: VIGIL_ACK_SECRET; users: `vigil users add`)."""
    from reviews.web import run_web
    from stream.core.deployment import load_deployment
    from stream.ops.kafka import Topics, ensure_topics

    _require_bootstrap(bootstrap)
    secret = os.environ.get("VIGIL_ACK_SECRET", "").encode()
    if not secret:
        typer.echo("vigil: no ack-link secret: set VIGIL_ACK_SECRET (the key the alerts' ack links are signed with)", err=True)
        raise typer.Exit(2)
    if len(secret) < ACK_SECRET_MIN_BYTES:
        typer.echo(f"vigil: the ack-link secret (VIGIL_ACK_SECRET) must be at least {ACK_SECRET_MIN_BYTES} bytes", err=True)
        raise typer.Exit(2)
    topics = Topics(topic_prefix)
    zone = load_deployment().classification.zone

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        await run_web(host, port, bootstrap, topics, db_url, secret, public_url or f"http://{host}:{port}", zone=zone,
                      trusted_user_header=trusted_user_header)

    _run_until_interrupted(run())


@app.command()
def review(
    day: str = typer.Option(..., "--date", help="The local calendar day to review (YYYY-MM-DD)."),
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL."),
    out: Path | None = typer.Option(None, "--out", help="CSV file to write (default: review-<date>.csv in this folder)."),
) -> None:
    """A day's activations as a table (one row per team told) and a CSV, for the next-day review."""
    from datetime import date as Date

    from reviews.review_cmd import day_rows, table, write_csv
    from stream.core.deployment import load_deployment

    try:
        chosen = Date.fromisoformat(day)
    except ValueError:
        typer.echo(f"vigil review: --date {day!r} is not a date of the form YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    with _review_store(db_url, "review") as store:
        rows = day_rows(store, chosen, load_deployment().coverage.zone)
    path = out or Path(f"review-{chosen.isoformat()}.csv")
    write_csv(rows, path)
    activations = len({r["activation"] for r in rows})
    typer.echo(table(rows))
    typer.echo(f"\n{activations} activation(s), {len(rows)} row(s) on {chosen.isoformat()}; CSV: {path}")


@app.command()
def parse(
    kind: str = typer.Argument(..., help="eido, hl7 or csv."),
    files: list[Path] = typer.Argument(..., help="Files to read."),
    hl7_secret: str = Hl7SecretOption,
) -> None:
    """Print what Vigil makes of each message: one JSON line of event, skipped or rejected."""
    from stream.cli.parse import KINDS, parse_files
    from stream.core.deployment import load_deployment

    if kind not in KINDS:
        typer.echo(f"vigil parse: unknown kind {kind!r}; expected one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    secret = _hl7_secret(hl7_secret, required=False) if kind == "hl7" else b""
    raise typer.Exit(parse_files(kind, files, load_deployment().classification, secret, sys.stdout, sys.stderr))


@app.command()
def demo(
    bootstrap: str = typer.Option(None, "--bootstrap", help="Use this Kafka instead of the embedded broker."),
    serve: bool = typer.Option(False, "--serve", help="Keep the broker, worker and inbox running after the sample."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Folder for the demo's files (default: a new temporary one)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the alerts."),
) -> None:
    """Run the whole pipeline on the bundled Minneapolis sample and print each alert as it arrives."""
    from stream.devtools.demo import run_demo

    code = asyncio.run(run_demo(bootstrap=bootstrap, serve=serve, workdir=workdir, timeout=timeout))
    raise typer.Exit(code)


users_app = typer.Typer(help="Users of the activation review: DNS staff and team leads.", no_args_is_help=True)
app.add_typer(users_app, name="users")

ReviewDbUrlOption = typer.Option(
    "sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL (sqlite:/// or postgresql+psycopg://)."
)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="The sign-in name."),
    role: str = typer.Option(..., "--role", metavar="dns|lead", help="dns (reviews every team) or lead (reviews their team)."),
    team: str | None = typer.Option(None, "--team", help="The lead's team id (leads only)."),
    db_url: str = ReviewDbUrlOption,
) -> None:
    """Add a review user; the password comes from VIGIL_NEW_PASSWORD, else is asked for twice.

    Brings the review store's schema up to date first."""
    from datetime import UTC


    if "VIGIL_NEW_PASSWORD" in os.environ:
        password = os.environ["VIGIL_NEW_PASSWORD"]
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _review_store(db_url, "users") as store:
        try:
            now = datetime.now(UTC)
            store.add_user(username, password, role, team, now)  # the store refuses an unknown role
            store.audit(None, "user_added", username, now, detail=f"role={role}" + (f" team={team}" if team else ""))
        except ValueError as exc:
            typer.echo(f"vigil users: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"added {role} {username}" + (f" of team {team}" if team else ""))


@users_app.command("list")
def users_list(db_url: str = ReviewDbUrlOption) -> None:
    """Print the review users: username, role, team, disabled (brings the schema up to date first)."""

    with _review_store(db_url, "users") as store:
        rows = [(u.username, u.role, u.team or "-", "yes" if u.disabled else "no") for u in store.users()]
    header = ("username", "role", "team", "disabled")
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    for cells in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())


def _add_planner_commands() -> None:
    from stream.cli.backtest import backtest_command
    from stream.cli.geofences import coverage_app, geofences_app
    from stream.cli.rules import replay_command, rules_app

    app.add_typer(geofences_app, name="geofences")
    app.add_typer(coverage_app, name="coverage")
    app.add_typer(rules_app, name="rules")
    app.command("replay")(replay_command)
    app.command("backtest")(backtest_command)


_add_planner_commands()


def main() -> None:
    """Entry point of the ``vigil`` script."""
    app(prog_name="vigil")


if __name__ == "__main__":
    sys.exit(main())
