"""`vigil tokens add|list|revoke`: the provider API's per-team tokens (reviews/web/api.py, docs/api.md).

A token is printed once, when it is added: the store keeps only its SHA-256 (the token is 32 random bytes, so a
fast hash is enough), and no command can show it again; a lost token is revoked and a new one added. Each change is
audited (no username, ``cli:<who>`` in the detail, as the other commands do).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import typer

from stream.cli.options import ReviewDbUrlOption, review_store

tokens_app = typer.Typer(help="Provider API tokens: a team's read access to its own activations, notifications and tasks.",
                         no_args_is_help=True)

# what DNS may name its own token's team by: the deployment's on-call team, which reads every team's rows
DNS_ALIASES = ("dns",)


def _fail(message: str) -> Any:
    typer.echo(f"vigil tokens: {message}", err=True)
    raise typer.Exit(2)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def token_team(word: str, teams: Mapping[str, bool]) -> tuple[str, bool]:
    """The team a token is for, as the deployment names it, and whether it reads every team's rows (the on-call team's,
    DNS's: also named "dns"). ``teams``: team id to whether it is an on-call team. ``ValueError`` with a did-you-mean
    for a team the deployment does not have."""
    from geofences.problems import did_you_mean

    word = word.strip()
    oncall = sorted(team for team, is_oncall in teams.items() if is_oncall)
    if word.lower() in DNS_ALIASES:
        if len(oncall) != 1:
            raise ValueError(f"the deployment has {len(oncall)} on-call teams: name DNS's by its id ({', '.join(oncall) or 'none'})")
        return oncall[0], True
    by_case = {team.lower(): team for team in teams}
    if word.lower() not in by_case:
        raise ValueError(f"there is no team {word!r}{did_you_mean(word, sorted(teams))}")
    team = by_case[word.lower()]
    return team, teams[team]


def _deployment_teams() -> dict[str, bool]:
    from geofences.coverage import Audience
    from stream.core.deployment import load_deployment

    return {t.id: t.audience is Audience.ONCALL for t in load_deployment().coverage.teams.values()}


@tokens_app.command("add")
def tokens_add(
    team: str = typer.Option(..., "--team", help='The team whose rows the token reads (its id); "dns" or the on-call team: every team\'s.'),
    label: str | None = typer.Option(None, "--label", help="What the token is for, e.g. the provider's system (at most 200 characters)."),
    db_url: str = ReviewDbUrlOption,
) -> None:
    """Add an API token for a team and print it, once: only its hash is stored."""
    try:
        found, all_teams = token_team(team, _deployment_teams())
    except ValueError as exc:
        _fail(str(exc))
    if label is not None and len(label) > 200:
        _fail("a label is at most 200 characters")
    now = datetime.now(UTC)
    with review_store(db_url, "tokens") as store:
        stored, token = store.add_api_token(found, label, all_teams, now)
        store.audit(None, "api_token_added", f"token:{stored.id}", now,
                    detail=f"cli:{_who()}; team {found}" + ("; reads every team's rows" if all_teams else "") + (f"; label: {label}" if label else ""))
    scope = "every team's rows (DNS)" if all_teams else f"team {found}'s rows"
    typer.echo(f"added API token {stored.id} for {scope}. The token (shown this once, only its hash is kept):")
    typer.echo(token)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}Z"


@tokens_app.command("list")
def tokens_list(db_url: str = ReviewDbUrlOption) -> None:
    """The API tokens, revoked ones too: id, team, label, created, last used, revoked (never the token)."""
    with review_store(db_url, "tokens") as store:
        rows = [(str(t.id), t.team + (" (all teams)" if t.all_teams else ""), t.label or "-", _when(t.created_at), _when(t.last_used_at),
                 _when(t.revoked_at)) for t in store.api_tokens()]
    header = ("id", "team", "label", "created", "last used", "revoked")
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    for cells in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())


@tokens_app.command("revoke")
def tokens_revoke(token_id: int = typer.Argument(..., metavar="ID", help="The token's id (`vigil tokens list`)."),
                  db_url: str = ReviewDbUrlOption) -> None:
    """Revoke a token: from now on every request with it is refused (401)."""
    now = datetime.now(UTC)
    with review_store(db_url, "tokens") as store:
        try:
            stored = store.revoke_api_token(token_id, now)
        except ValueError as exc:
            _fail(str(exc))
        store.audit(None, "api_token_revoked", f"token:{stored.id}", now, detail=f"cli:{_who()}; team {stored.team}")
    typer.echo(f"revoked API token {stored.id} (team {stored.team}): it reads nothing from now on")
