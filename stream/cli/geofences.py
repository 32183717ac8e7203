"""`vigil geofences ...` and `vigil coverage ...`: the planners' commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer

from geofences.coverage import CoverageError, compile_coverage
from geofences.gaps import HistoricShooting
from stream.cli.options import moment_option, report_problems
from stream.core.deployment import DeploymentPaths
from stream.feeds.classify import Classification
from stream.feeds.opendata import ingest_csv_row, read_csv_rows
from stream.model.events import ShootingEvent

geofences_app = typer.Typer(help="Coverage maps and shifts: lint, compile, look up a place.", no_args_is_help=True)
coverage_app = typer.Typer(help="Coverage analysis over a history of shootings.", no_args_is_help=True)

TeamsOption = typer.Option(None, "--teams", help="The teams file (default: the bundled Minneapolis deployment).")


def _teams_path(teams: Path | None) -> Path:
    return teams or DeploymentPaths.bundled().teams


@geofences_app.command("lint")
def lint_command(teams: Path | None = TeamsOption) -> None:
    """Check a teams file: errors with file and line (exit 1), then notes on overlaps and uncovered hours."""
    from geofences.lint import lint

    problems, coverage = lint(_teams_path(teams))
    report_problems(problems)
    assert coverage is not None
    typer.echo(f"ok: {len(coverage.teams)} teams, {len(coverage.cells)} cells, version {coverage.version}")


@geofences_app.command("compile")
def compile_command(
    teams: Path | None = TeamsOption,
    out: Path | None = typer.Option(None, "--out", help="Write the compiled cells as JSON here."),
) -> None:
    """Compile a teams file to H3 cell sets and print each team's size and the content hash."""
    try:
        coverage = compile_coverage(_teams_path(teams))
    except CoverageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for team_id, cells in coverage.team_cells.items():
        team = coverage.teams[team_id]
        typer.echo(f"{team_id:<24} {team.audience.value:<9} {len(cells):>5} cells")
    typer.echo(f"version {coverage.version} (resolution {coverage.resolution})")
    if out is not None:
        compiled = {
            "version": coverage.version, "jurisdiction": coverage.jurisdiction, "resolution": coverage.resolution,
            "teams": {t: {"audience": coverage.teams[t].audience.value, "cells": sorted(c)} for t, c in coverage.team_cells.items()},
        }
        out.write_text(json.dumps(compiled, indent=1, sort_keys=True), encoding="utf-8")
        typer.echo(f"wrote {out}")


@geofences_app.command("show")
def show_command(
    lat: float = typer.Option(..., "--lat", help="Latitude (WGS84)."),
    lon: float = typer.Option(..., "--lon", help="Longitude (WGS84)."),
    at: str = typer.Option(..., "--at", help="Moment, ISO 8601 with offset (e.g. 2026-07-04T22:15:00-05:00)."),
    teams: Path | None = TeamsOption,
) -> None:
    """Who covers a place, who is on shift at a moment, and the schools nearby."""
    when = moment_option("--at", at)
    try:
        coverage = compile_coverage(_teams_path(teams))
    except CoverageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    place = coverage.at(lat, lon, when)
    local = when.astimezone(coverage.zone)
    typer.echo(f"place        {lat:.5f}, {lon:.5f}  (cell {place.cell})")
    typer.echo(f"moment       {local:%a %Y-%m-%d %H:%M %Z}")
    typer.echo(f"neighborhood {place.neighborhood or '-- outside the city'}")
    typer.echo(f"community    {place.community or '--'}    precinct {place.precinct or '--'}")
    for team_id in place.covering:
        state = "ON SHIFT" if team_id in place.on_shift else "off"
        typer.echo(f"  covers     {team_id:<24} {coverage.teams[team_id].audience.value:<8} {state}")
    if not place.street_teams:
        typer.echo("  no street team covers this place")
    elif not place.street_on_shift:
        typer.echo("  no street team on shift: a coverage gap")
    for school in place.schools:
        typer.echo(f"  school     {school.name} ({school.id}), {school.distance_m:.0f} m")
    if not place.schools:
        typer.echo(f"  no school within {coverage.schools_within_m:.0f} m")


@coverage_app.command("gaps")
def gaps_command(
    events: Path = typer.Option(..., "--events", help="History: open-data CSV, or JSON Lines (history generator or `vigil parse`)."),
    first: str = typer.Option(..., "--from", help="First local date, YYYY-MM-DD."),
    last: str = typer.Option(..., "--to", help="Last local date, YYYY-MM-DD (inclusive)."),
    out: Path = typer.Option(..., "--out", help="Folder for the CSVs and PNGs."),
    teams: Path | None = TeamsOption,
) -> None:
    """Shootings with no street team on shift, ranked by neighborhood and hour of the week: CSVs, a map and a heat strip."""
    from datetime import date

    from geofences.gaps import HistoryError, build_report, read_history, summary_lines, write_report
    from stream.core.deployment import load_deployment

    try:
        period = (date.fromisoformat(first), date.fromisoformat(last))
    except ValueError as exc:
        typer.echo(f"vigil: --from/--to must be dates YYYY-MM-DD ({exc})", err=True)
        raise typer.Exit(2) from None
    if period[0] > period[1]:
        typer.echo(f"vigil: --from {first} is after --to {last}", err=True)
        raise typer.Exit(2)
    teams_path = _teams_path(teams)
    try:
        coverage = compile_coverage(teams_path)
    except CoverageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    try:
        report = build_report(read_history(events, csv_shootings(load_deployment().classification)), coverage, *period)
    except (HistoryError, OSError) as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    city = teams_path.parent
    written = write_report(report, coverage, out, city / "neighborhoods.geojson", city / "communities.geojson")
    for line in summary_lines(report):
        typer.echo(line)
    typer.echo("\nwrote " + ", ".join(str(p) for p in written))


def csv_shootings(classification: Classification) -> Callable[[Path], Iterator[HistoricShooting]]:
    """A reader of the city's open-data CSV for ``read_history``: the shootings with a place, as the feeds see them."""

    def read(path: Path) -> Iterator[HistoricShooting]:
        now = datetime.now(UTC)  # the rows carry their own report times; this only stamps the reading
        for row in read_csv_rows(path):
            outcome = ingest_csv_row(row, classification, now)
            if isinstance(outcome, ShootingEvent) and outcome.location is not None:
                yield HistoricShooting(outcome.ref, outcome.kind.value, outcome.reported_at, outcome.location.lat, outcome.location.lon)

    return read
