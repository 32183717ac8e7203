"""`vigil demo`: the whole pipeline on the bundled Minneapolis sample."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer


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
