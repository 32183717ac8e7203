"""Command-line option values shared by the commands."""

from __future__ import annotations

from datetime import datetime

import typer


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
