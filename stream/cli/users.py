"""`vigil users ...`: the review pages' users."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

import typer

from stream.cli.options import ReviewDbUrlOption, review_store

users_app = typer.Typer(help="Users of the activation review: DNS staff and team leads.", no_args_is_help=True)

UsernameArgument = typer.Argument(..., help="The sign-in name.")


def new_password() -> str:
    """The password to set: VIGIL_NEW_PASSWORD when set, else asked for twice without echo."""
    if "VIGIL_NEW_PASSWORD" in os.environ:
        return os.environ["VIGIL_NEW_PASSWORD"]
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def change_user(db_url: str, username: str, change: Callable[..., None], action: str, done: str) -> None:
    """Apply ``change(store)`` to a user, audit it as ``action`` (by the command line, on ``username``) and
    say ``done``; a refusal (unknown user, short password) is exit 2 with the reason on stderr, unaudited."""
    with review_store(db_url, "users") as store:
        try:
            change(store)
        except ValueError as exc:
            typer.echo(f"vigil users: {exc}", err=True)
            raise typer.Exit(2) from None
        store.audit(None, action, username, datetime.now(UTC))
    typer.echo(done)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="The sign-in name."),
    role: str = typer.Option(..., "--role", metavar="dns|lead", help="dns (reviews every team) or lead (reviews their team)."),
    team: str | None = typer.Option(None, "--team", help="The lead's team id (leads only)."),
    db_url: str = ReviewDbUrlOption,
) -> None:
    """Add a review user; the password comes from VIGIL_NEW_PASSWORD, else is asked for twice.

    Brings the review store's schema up to date first."""
    password = new_password()
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


@users_app.command("disable")
def users_disable(username: str = UsernameArgument, db_url: str = ReviewDbUrlOption) -> None:
    """Disable a user: no sign-in, and every session they have ends at once (their records stay)."""
    change_user(db_url, username, lambda store: store.set_disabled(username, True), "user_disabled",
                f"disabled {username}; every session of {username} is ended")


@users_app.command("enable")
def users_enable(username: str = UsernameArgument, db_url: str = ReviewDbUrlOption) -> None:
    """Enable a disabled user again: they can sign in (the sessions ended by disabling stay ended)."""
    change_user(db_url, username, lambda store: store.set_disabled(username, False), "user_enabled", f"enabled {username}")


@users_app.command("set-password")
def users_set_password(username: str = UsernameArgument, db_url: str = ReviewDbUrlOption) -> None:
    """Give a user a new password (VIGIL_NEW_PASSWORD, else asked for twice); every session they have ends."""
    password = new_password()
    change_user(db_url, username, lambda store: store.set_password(username, password), "password_set",
                f"password set for {username}; every session of {username} is ended")
