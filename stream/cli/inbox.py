"""`vigil inbox`: the local phone inbox (demo, tests, drills)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from stream.cli.options import run_until_interrupted


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

    run_until_interrupted(serve())
