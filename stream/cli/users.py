"""`vigil users ...`: the review pages' users."""

from __future__ import annotations

import os
from datetime import datetime

import typer

from stream.cli.options import ReviewDbUrlOption, review_store

users_app = typer.Typer(help="Users of the activation review: DNS staff and team leads.", no_args_is_help=True)

@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="The sign-in name."),
    role: str = typer.Option(..., "--role", metavar="dns|lead", help="dns (reviews every team) or lead (reviews their team)."),
    team: str | None = typer.Option(None, "--team", help="The lead's team id (leads only)."),
    db_url: str = ReviewDbUrlOption,
) -> None:
    """Add a review user; the password comes from VIGIL_NEW_PASSWORD, else is asked for twice.

    Brings the review store's schema up to date first."""
    from datetime import UTC


    if "VIGIL_NEW_PASSWORD" in os.environ:
        password = os.environ["VIGIL_NEW_PASSWORD"]
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with review_store(db_url, "users") as store:
        try:
            now = datetime.now(UTC)
            store.add_user(username, password, role, team, now)  # the store refuses an unknown role
            store.audit(None, "user_added", username, now, detail=f"role={role}" + (f" team={team}" if team else ""))
        except ValueError as exc:
            typer.echo(f"vigil users: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"added {role} {username}" + (f" of team {team}" if team else ""))


@users_app.command("list")
def users_list(db_url: str = ReviewDbUrlOption) -> None:
    """Print the review users: username, role, team, disabled (brings the schema up to date first)."""

    with review_store(db_url, "users") as store:
        rows = [(u.username, u.role, u.team or "-", "yes" if u.disabled else "no") for u in store.users()]
    header = ("username", "role", "team", "disabled")
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    for cells in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
