"""`vigil roster ...`: the planners' commands for people on call (lint, show a team, who is on call)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import typer

from geofences.coverage import CoverageError, CoverageMap, compile_coverage
from geofences.problems import ERROR, LineLocator, Problem, did_you_mean
from geofences.roster import Roster, RosterError, compile_rosters, load_rosters
from rules.protocols import ProtocolSet, check_protocol_file
from stream.cli.options import moment_option, report_problems
from stream.core.deployment import DeploymentPaths
from stream.core.oncall import gaps, people_without_contact, who_is_on_call
from stream.core.paging import deadline_problems
from stream.core.phrases import language_for

roster_app = typer.Typer(help="People on call: rosters per team, rotations, overrides and swaps.", no_args_is_help=True)

TeamsOption = typer.Option(None, "--teams", help="The teams file (default: the bundled Minneapolis deployment).")
RostersOption = typer.Option(None, "--rosters", help="The folder of roster files (default: rosters/ beside the teams file).")
WARNING = "warning"


def _coverage(teams: Path | None) -> CoverageMap:
    try:
        return compile_coverage(teams or DeploymentPaths.bundled().teams)
    except CoverageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _folder(teams: Path | None, rosters: Path | None) -> Path:
    return rosters or (teams or DeploymentPaths.bundled().teams).parent / "rosters"


def _protocols_path(teams: Path | None, protocols: Path | None) -> Path:
    # a deployment laid out like this repository: geofences/<name>/teams.yaml beside rules/<name>/protocols.yaml
    if protocols is not None or teams is None:
        return protocols or DeploymentPaths.bundled().protocols
    return teams.resolve().parents[2] / "rules" / teams.resolve().parent.name / "protocols.yaml"


def person_language_problems(roster: Roster, audience: str, protocols: ProtocolSet, path: Path) -> list[Problem]:
    """Warnings, at each person's line, for a language of theirs the protocols have no templates in (they get
    their next language, or English) and for the language they get lacking their team's audience (English)."""
    locator = LineLocator(path.read_text(encoding="utf-8"))
    problems = []
    for index, person in enumerate(roster.people):
        line = locator.line(("people", index))
        chosen = language_for(person.languages, protocols.languages)
        for code in person.languages[:person.languages.index(chosen)] if chosen in person.languages else person.languages:
            problems.append(Problem(path, line, WARNING, f"{person.id}: no templates in {protocols.path} for language {code!r}: "
                                                         f"alerts reach them in {chosen}"))
        if not protocols.has_template(audience, chosen):
            problems.append(Problem(path, line, WARNING, f"{person.id}: no {chosen} template for audience {audience!r} in {protocols.path}: "
                                                         f"{roster.team}'s alerts reach them in English"))
    return problems


def _language_problems(path: Path, coverage: CoverageMap, rosters: dict[str, Roster], files: dict[str, Path]) -> list[Problem]:
    """The protocols' own problems (every template in every language is checked there), then each person's
    languages against the templates."""
    protocols, problems = check_protocol_file(path, set(coverage.teams))
    if protocols is None:
        return problems
    found: list[Problem] = []
    for team, roster in rosters.items():
        if team in coverage.teams:
            audience = coverage.teams[team].audience.value
            found += person_language_problems(roster, audience, protocols, files[team])
            found += [Problem(files[team], 1, WARNING, text) for text in deadline_problems(roster, audience, protocols)]
    return found


def _contact_problems(contacts: Path | None, found: dict, files: dict) -> list[Problem]:
    """A warning per person with no contact method in the contacts file, or a note that none was given."""
    from notifiers.contacts import ContactsFileError, person_channels

    if contacts is None:
        return [Problem(Path("-"), 0, "note", "no contacts file (--contacts or VIGIL_CONTACTS): contact methods not checked")]
    try:
        channels = person_channels(contacts)
    except ContactsFileError as exc:
        return [Problem(contacts, 1, ERROR, str(exc))]
    return [Problem(files[team], 1, WARNING, f"{person}: no contact method in {contacts} (tag a URL person-{person})")
            for team, roster in found.items() for person in people_without_contact(roster, channels)]


@roster_app.command("lint")
def lint_command(
    teams: Path | None = TeamsOption,
    rosters: Path | None = RostersOption,
    contacts: Path | None = typer.Option(None, "--contacts", envvar="VIGIL_CONTACTS", help="The contacts file (kept out of git)."),
    start: str | None = typer.Option(None, "--from", help="First day checked for gaps, YYYY-MM-DD (default: today)."),
    days: int = typer.Option(28, "--days", min=1, max=366, help="How many days are checked for gaps."),
    protocols: Path | None = typer.Option(None, "--protocols", help="The protocols file whose templates the people's languages "
                                          "need (default: the deployment's, rules/<name>/protocols.yaml)."),
) -> None:
    """Check the rosters: errors with file, line and did-you-mean (exit 1); warnings for hours in a team's
    shift with nobody on call, teams with no roster, people with no contact method, and people's languages with
    no templates (they get English). A template that fails, in any language, is the protocols' error."""
    coverage = _coverage(teams)
    loaded, problems = load_rosters(_folder(teams, rosters), set(coverage.teams))
    first_day = date.fromisoformat(start) if start else date.today()
    for team in coverage.teams:
        if team not in loaded.rosters and not any(p.level == ERROR and p.path.stem == team for p in problems):
            problems.append(Problem(_folder(teams, rosters) / f"{team}.yaml", 0, WARNING, f"team {team!r} has no roster"))
    for team, roster in loaded.rosters.items():
        for gap in gaps(roster, coverage.schedules[team], coverage.zone, first_day, days):
            problems.append(Problem(loaded.files[team], 1, WARNING, str(gap)))
    problems += _contact_problems(contacts, loaded.rosters, loaded.files)
    problems += _language_problems(_protocols_path(teams, protocols), coverage, loaded.rosters, loaded.files)
    report_problems(problems)
    typer.echo(f"ok: {len(loaded.rosters)} rosters, gaps checked {first_day} to {first_day + timedelta(days=days - 1)}")


def _team_roster(teams: Path | None, rosters: Path | None, team: str):  # noqa: ANN202 - (coverage, roster)
    coverage = _coverage(teams)
    try:
        loaded = compile_rosters(_folder(teams, rosters), set(coverage.teams))
    except RosterError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if team not in loaded.rosters:
        typer.echo(f"vigil roster: no roster for team {team!r}{did_you_mean(team, loaded.rosters)}", err=True)
        raise typer.Exit(2)
    return coverage, loaded.rosters[team]


@roster_app.command("show")
def show_command(team: str = typer.Argument(..., help="The team id."), teams: Path | None = TeamsOption,
                 rosters: Path | None = RostersOption) -> None:
    """A team's people, rotation layers, overrides and swaps."""
    _, roster = _team_roster(teams, rosters, team)
    typer.echo(f"team {roster.team}")
    for person in roster.people:
        typer.echo(f"  person    {person.id:<20} {person.name:<24} {', '.join(person.languages)}")
    for rotation in roster.rotations:
        hours = "; ".join(f"{s.days if s.days == 'daily' else ','.join(s.days)} {s.start:%H:%M}-{s.end:%H:%M}" for s in rotation.shifts)
        typer.echo(f"  {rotation.layer:<9} {' > '.join(rotation.people)}: turns of {rotation.turn_days} day(s), handoff "
                   f"{rotation.handoff:%H:%M} local from {rotation.starts}{f', on {hours}' if hours else ''}")
    for o in roster.overrides:
        typer.echo(f"  override  {o.layer} {o.person} {o.start:%Y-%m-%d %H:%M} to {o.end:%Y-%m-%d %H:%M} {o.note}".rstrip())
    for s in roster.swaps:
        typer.echo(f"  swap      {s.layer} turn of {s.date}: {s.covered_by} covers {s.person} {s.note}".rstrip())


@roster_app.command("who")
def who_command(
    team: str = typer.Option(..., "--team", help="The team id."),
    at: str = typer.Option(..., "--at", help="Moment, ISO 8601 with offset (e.g. 2026-11-01T01:30:00-06:00)."),
    teams: Path | None = TeamsOption,
    rosters: Path | None = RostersOption,
) -> None:
    """Who of a team is on call at a moment, and why (rotation, swap or override)."""
    when = moment_option("--at", at)
    coverage, roster = _team_roster(teams, rosters, team)
    on_call = who_is_on_call(roster, when, coverage.zone)
    typer.echo(f"{team} at {when.astimezone(coverage.zone):%a %Y-%m-%d %H:%M %Z}"
               f" ({'on shift' if coverage.on_shift(team, when) else 'off shift'})")
    for entry in on_call.layers:
        person = roster.person(entry.person)
        typer.echo(f"  {entry.layer:<9} {person.id:<20} {person.name:<24} {','.join(person.languages):<8} ({entry.source})")
    if on_call.nobody:
        typer.echo("  nobody on call")



