"""`vigil publish`: the public static site (issue 19) from the review store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import typer

from stream.cli.options import moment_option, review_store

MAX_PUBLISH_DAYS = 3 * 366


def _day(flag: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        typer.echo(f"vigil publish: {flag} {text!r} is not a date of the form YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None


def publish(
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL."),
    start: str = typer.Option(..., "--from", help="First local day (YYYY-MM-DD); widened to the Monday of its ISO week."),
    end: str = typer.Option(..., "--to", help="Last local day (YYYY-MM-DD); widened to the Sunday of its ISO week."),
    out: Path = typer.Option(..., "--out", help="Folder to write the site in (created if absent; its files are overwritten)."),
    now: str | None = typer.Option(
        None, "--now", help="Judge deadlines and due times at this moment (ISO 8601 with an offset; default: the clock)."),
) -> None:
    """The public static site: figures by community and month and citywide by week, hour-of-week coverage, with
    small counts suppressed; HTML, SVG and CSV files in --out, no server needed."""
    from reviews.publish.site import publish as write
    from stream.core.deployment import load_deployment

    first, last = _day("--from", start), _day("--to", end)
    if last < first:
        typer.echo(f"vigil publish: --from ({first}) must be on or before --to ({last})", err=True)
        raise typer.Exit(2)
    if (last - first).days + 1 > MAX_PUBLISH_DAYS:
        typer.echo(f"vigil publish: a range is at most {MAX_PUBLISH_DAYS} days", err=True)
        raise typer.Exit(2)
    moment = moment_option("--now", now) if now else datetime.now(UTC)
    deployment = load_deployment()
    communities = sorted(set(deployment.coverage.neighborhood_community.values()))
    with review_store(db_url, "publish") as store:
        files = write(store, first, last, deployment.coverage.zone, moment, out, communities)
    typer.echo(f"vigil publish: {len(files)} files in {out} ({sum(f.suffix == '.csv' for f in files)} CSV tables); open {out / 'index.html'}")
