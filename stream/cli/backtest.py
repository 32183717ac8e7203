"""`vigil backtest`: what a protocol or coverage change would have done to a history.

    vigil backtest --events HISTORY --base CONFIG --head CONFIG [--out REPORT.md] [--examples 5]

CONFIG is a folder laid out like this repository, or a git revision of the repository the command runs in
(its three deployment folders are extracted to a temporary folder). The replay and the comparison are the
core's (stream/core/backtest.py); this module finds the two configs and prints the report.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, TextIO

import typer

from stream.core.backtest import (
    DEPLOYMENT,
    DEPLOYMENT_FOLDERS,
    BacktestError,
    Comparison,
    ConfigSource,
    Progress,
    compare,
    read_history,
    render_markdown,
    run,
)
from stream.core.deployment import Deployment, DeploymentPaths, load_deployment


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)


def resolve_config(spec: str, repo: Path, stack: ExitStack, option: str = "--base") -> ConfigSource:
    """A config folder, or a git revision of ``repo`` extracted to a temporary folder that ``stack`` removes."""
    folder = Path(spec)
    if folder.is_dir():
        missing = [p for p in _deployment_files(folder) if not p.is_file()]
        if missing:
            raise BacktestError(f"vigil backtest: {option} {spec}: the folder has no {missing[0].relative_to(folder).as_posix()}", 2)
        return ConfigSource(spec, folder)
    top = _git(repo, "rev-parse", "--show-toplevel")
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}") if top.returncode == 0 else None
    if commit is None or commit.returncode != 0:
        where = f"a git revision of {repo}" if top.returncode == 0 else f"a git revision ({repo} is not in a git repository)"
        raise BacktestError(f"vigil backtest: {option} {spec!r} is neither a config folder nor {where}", 2)
    sha = commit.stdout.decode().strip()
    archive = _git(Path(top.stdout.decode().strip()), "archive", "--format=tar", sha, "--", *DEPLOYMENT_FOLDERS)
    if archive.returncode != 0:
        reason = archive.stderr.decode(errors="replace").strip().splitlines()
        raise BacktestError(f"vigil backtest: {option} {spec!r} ({sha[:12]}): cannot extract the deployment: {' '.join(reason)}", 2)
    root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vigil-backtest-")))
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    missing = [p for p in _deployment_files(root) if not p.is_file()]
    if missing:
        raise BacktestError(f"vigil backtest: {option} {spec!r} ({sha[:12]}) has no {missing[0].relative_to(root).as_posix()}", 2)
    return ConfigSource(spec, root, sha)


def _deployment_files(root: Path) -> tuple[Path, Path, Path]:
    paths = DeploymentPaths.at_root(root, DEPLOYMENT)
    return paths.classification, paths.teams, paths.protocols


def load_side(source: ConfigSource, option: str) -> Deployment:
    """The deployment of one side; config errors name the side."""
    try:
        return load_deployment(DeploymentPaths.at_root(source.root, DEPLOYMENT))
    except (ValueError, OSError) as exc:
        message = str(exc)
        if source.commit:
            # the extracted copy is deleted when the command ends: name the file as git does, rev:path
            message = message.replace(f"{source.root}{os.sep}", f"{source.commit[:12]}:")
        raise BacktestError(f"vigil backtest: {option} {source.label}: {message}") from None


def backtest(events: Path, base: str, head: str, repo: Path | None = None, err: TextIO | None = None) -> Comparison:
    """Run the history through both configs and compare; raises ``BacktestError`` for bad options or inputs."""
    repo = repo or Path.cwd()
    with ExitStack() as stack:
        base_source = resolve_config(base, repo, stack, "--base")
        head_source = resolve_config(head, repo, stack, "--head")
        history = read_history(events, err)
        base_deployment = load_side(base_source, "--base")
        head_deployment = load_side(head_source, "--head")
        progress = Progress(2 * history.size, err, f"replaying {history.size} {history.kind} through base and head")
        base_run = run(history, base_source, base_deployment, progress, "base")
        head_run = run(history, head_source, head_deployment, progress, "head")
        comparison = compare(history, base_run, head_run)
        progress.finish(f"{len(comparison.added)} added, {len(comparison.removed)} removed, {len(comparison.retimed)} retimed")
        return comparison


def backtest_command(
    events: Annotated[Path, typer.Option("--events", help="History: a replay scenario, a synthetic history or `vigil parse` output (JSON Lines).")],
    base: Annotated[str, typer.Option("--base", help="The config before the change: a folder laid out like this repository, or a git revision.")],
    head: Annotated[str, typer.Option("--head", help="The config after the change: a folder, or a git revision.")],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the Markdown report to this file.")] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Examples of added, removed and retimed notifications.")] = 5,
) -> None:
    """What a protocol or coverage change would have done to a history: a Markdown report for the pull request."""
    try:
        comparison = backtest(events, base, head, Path.cwd(), sys.stderr)
    except BacktestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.code) from None
    report = render_markdown(comparison, examples)
    typer.echo(report, nl=False)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(report, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"vigil backtest: cannot write {out}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None


def main() -> None:
    """Run the command on its own (`python -m rules.backtest`), before or without the `vigil` wiring."""
    typer.run(backtest_command)


if __name__ == "__main__":
    main()
