"""`vigil web` and `vigil review`: the answer and review pages, and the day's review in the terminal."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from stream.cli.options import (
    BootstrapOption,
    TopicPrefixOption,
    moment_option,
    require_bootstrap,
    review_store,
    run_until_interrupted,
)

ACK_SECRET_MIN_BYTES = 16
SUPPORT_CONTACT_MAX_CHARS = 200


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
    support_contact: str | None = typer.Option(
        None, "--support-contact", envvar="VIGIL_SUPPORT_CONTACT",
        help="Whom the sign-in page tells a locked-out user to contact, e.g. \"DNS on-call, 612-555-0100\" (default: the DNS on-call)."),
) -> None:
    """Serve the alerts' answer pages (/ack/{token}, publishing to the acks topic) and the next-day review
    pages for signed-in staff (secret: VIGIL_ACK_SECRET; users: `vigil users add`)."""
    from reviews.web.app import run_web
    from stream.core.deployment import load_deployment
    from stream.ops.kafka import Topics, ensure_topics

    require_bootstrap(bootstrap)
    secret = os.environ.get("VIGIL_ACK_SECRET", "").encode()
    if not secret:
        typer.echo("vigil: no ack-link secret: set VIGIL_ACK_SECRET (the key the alerts' ack links are signed with)", err=True)
        raise typer.Exit(2)
    if len(secret) < ACK_SECRET_MIN_BYTES:
        typer.echo(f"vigil: the ack-link secret (VIGIL_ACK_SECRET) must be at least {ACK_SECRET_MIN_BYTES} bytes", err=True)
        raise typer.Exit(2)
    if support_contact is not None and not 0 < len(support_contact.strip()) <= SUPPORT_CONTACT_MAX_CHARS:
        typer.echo(f"vigil: --support-contact must be 1 to {SUPPORT_CONTACT_MAX_CHARS} characters (who to call, and how)", err=True)
        raise typer.Exit(2)
    topics = Topics(topic_prefix)
    zone = load_deployment().classification.zone

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        await run_web(host, port, bootstrap, topics, db_url, secret, public_url or f"http://{host}:{port}", zone=zone,
                      trusted_user_header=trusted_user_header, support_contact=support_contact and support_contact.strip())

    run_until_interrupted(run())


def review(
    day: str = typer.Option(..., "--date", help="The local calendar day to review (YYYY-MM-DD)."),
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL."),
    out: Path | None = typer.Option(None, "--out", help="CSV file to write (default: review-<date>.csv in this folder)."),
    now: str | None = typer.Option(
        None, "--now", help="Judge the deadlines at this moment (ISO 8601 with an offset; default: the clock). One after it is 'awaiting'."),
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
    moment = moment_option("--now", now) if now else datetime.now(UTC)
    with review_store(db_url, "review") as store:
        rows = day_rows(store, chosen, load_deployment().coverage.zone, moment)
    path = out or Path(f"review-{chosen.isoformat()}.csv")
    write_csv(rows, path)
    activations = len({r["activation"] for r in rows})
    typer.echo(table(rows))
    typer.echo(f"\n{activations} activation(s), {len(rows)} row(s) on {chosen.isoformat()}; CSV: {path}")
