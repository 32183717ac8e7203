"""`vigil rules ...`, `vigil replay` and `vigil backtest`: the planners' protocol commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from stream.cli.options import moment_option
from stream.core.deployment import Deployment, DeploymentPaths, load_deployment
from stream.core.standdowns import Standdown

rules_app = typer.Typer(help="Notification protocols: lint and scenario tests.", no_args_is_help=True)

ConfigOption = typer.Option(None, "--config", help="A folder laid out like this repository (default: the shipped Minneapolis deployment).")


def deployment_from(config: Path | None) -> Deployment:
    """The deployment of a config folder, or the shipped one; config errors end the command (exit 1)."""
    try:
        return load_deployment(DeploymentPaths.at_root(config) if config else None)
    except (ValueError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def default_scenarios(config: Path | None) -> list[Path]:
    """The scenario files beside the protocols file."""
    protocols = (DeploymentPaths.at_root(config) if config else DeploymentPaths.bundled()).protocols
    return sorted((protocols.parent / "scenarios").glob("*.yaml"))


@rules_app.command("lint")
def lint_command(config: Path | None = ConfigOption) -> None:
    """Check the protocol file against the teams: every error with file and line (exit 1)."""
    from geofences.coverage import CoverageError, compile_coverage
    from rules.protocols import check_protocol_file

    paths = DeploymentPaths.at_root(config) if config else DeploymentPaths.bundled()
    try:
        teams = set(compile_coverage(paths.teams).teams)
    except CoverageError as exc:
        typer.echo(str(exc))
        typer.echo("the teams file has errors: fix them first (vigil geofences lint)", err=True)
        raise typer.Exit(1) from None
    loaded, problems = check_protocol_file(paths.protocols, teams)
    for problem in problems:
        typer.echo(str(problem))
    if loaded is None:
        typer.echo(f"{len(problems)} error(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(loaded.spec.protocols)} protocols, {len(loaded.spec.templates)} templates, version {loaded.version}, "
               f"languages {', '.join(loaded.languages)}")


@rules_app.command("test")
def test_command(
    scenarios: list[Path] = typer.Argument(None, help="Scenario files (default: the deployment's scenarios/ folder)."),
    config: Path | None = ConfigOption,
) -> None:
    """Run scenario files: each lists inputs and the notifications expected (exit 1 on any failure)."""
    from stream.core.scenarios import check_scenario

    deployment = deployment_from(config)
    paths = scenarios or default_scenarios(config)
    if not paths:
        typer.echo("vigil rules test: no scenario files", err=True)
        raise typer.Exit(2)
    failed = 0
    for path in paths:
        result = check_scenario(path, deployment)
        typer.echo(f"{'PASS' if result.passed else 'FAIL'}  {path.name}: {result.name}")
        for problem in result.problems:
            typer.echo(f"      {problem}")
        failed += not result.passed
    typer.echo(f"{len(paths) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


def load_standdowns(path: Path, teams: set[str]) -> tuple[Standdown, ...]:
    """The standdowns of a file (JSON Lines, or a YAML list of standdowns), each checked; every problem is reported
    with the file and line (and a did-you-mean for an unknown team), then the command exits."""
    import difflib

    import yaml
    from pydantic import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"vigil: cannot read {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    try:
        entries = [(n, json.loads(line)) for n, line in lines]
    except json.JSONDecodeError:
        entries = [(0, entry) for entry in (yaml.safe_load(text) or [])]
    found, problems = [], []
    for number, entry in entries:
        where = f"{path}:{number}" if number else f"{path}"
        try:
            standdown = Standdown.model_validate(entry)
        except ValidationError as exc:
            problems.append(f"{where}: {exc.errors()[0]['msg']} ({'.'.join(map(str, exc.errors()[0]['loc']))})")
            continue
        if standdown.team is not None and standdown.team not in teams:
            near = difflib.get_close_matches(standdown.team, sorted(teams), n=1)
            problems.append(f"{where}: {standdown.id}: no team {standdown.team!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        found.append(standdown)
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise typer.Exit(1)
    return tuple(found)


def replay_command(
    scenario: Path = typer.Argument(..., help="Scenario JSON Lines: {at, source: eido|hl7|csv, payload} or {at, source: ack, ref, team}."),
    out: Path = typer.Option(..., "--out", help="Notifications, one JSON line each, in time order."),
    config: Path | None = ConfigOption,
    until: str | None = typer.Option(None, "--until", help="Run the clock to this moment (default: two hours after the last input)."),
    people: bool = typer.Option(False, "--people", help="Also one line per person paged (the rosters; every person on push, SMS and e-mail)."),
    standdowns: Path | None = typer.Option(None, "--standdowns", help="Standdowns in force during the replay: JSON Lines as "
                                           "`vigil standdown list --json` prints them (or a YAML list of the same fields)."),
    tasks: Path | None = typer.Option(None, "--tasks", help="Also write the follow-up tasks made, one JSON line each (activation, "
                                      "team, kind, due, task)."),
) -> None:
    """Replay a scenario through the stream's core on a simulated clock (same input, same output)."""
    from stream.core.replay import notification_line, person_names, replay, task_line

    deployment = deployment_from(config)
    end = moment_option("--until", until) if until else None
    windows = load_standdowns(standdowns, set(deployment.coverage.teams)) if standdowns else ()
    try:
        with open(scenario, encoding="utf-8") as fh:
            made: list = []
            notifications = replay(fh, deployment, until=end, err=sys.stderr, people=people, standdowns=windows, tasks=made)
    except OSError as exc:
        typer.echo(f"vigil: cannot read {scenario}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    names = person_names(deployment)
    with open(out, "w", encoding="utf-8") as fh:
        for intent in notifications:
            fh.write(json.dumps(notification_line(intent, names), ensure_ascii=False) + "\n")
    typer.echo(f"{len(notifications)} notifications written to {out}", err=True)
    if tasks is not None:
        with open(tasks, "w", encoding="utf-8") as fh:
            for task in made:
                fh.write(json.dumps(task_line(task), ensure_ascii=False) + "\n")
        typer.echo(f"{len(made)} follow-up tasks written to {tasks}", err=True)
