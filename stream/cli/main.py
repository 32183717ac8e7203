"""The ``vigil`` command line: every command group's module, assembled."""

from __future__ import annotations

import sys

import typer

from stream.cli import (
    backtest,
    demo,
    feeds,
    geofences,
    inbox,
    kafka,
    parse,
    roster,
    rules,
    standdown,
    tokens,
    topics,
    users,
    web,
    worker,
)
from stream.cli.publish import publish as publish_command
from stream.ops.logs import configure_logging

app = typer.Typer(
    help="Vigil: real-time shooting activation and notification service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error.")) -> None:
    """Vigil: real-time shooting activation and notification service."""
    configure_logging(log_level)


app.command("broker")(kafka.broker)
app.command("worker")(worker.worker)
app.command("inbox")(inbox.inbox)
app.command("produce")(kafka.produce)
app.command("hl7-listen")(feeds.hl7_listen)
app.command("ingest-http")(feeds.ingest_http)
app.command("web")(web.web)
app.command("review")(web.review)
app.command("publish")(publish_command)
app.command("parse")(parse.parse)
app.command("demo")(demo.demo)
app.add_typer(users.users_app, name="users")
app.add_typer(geofences.geofences_app, name="geofences")
app.add_typer(geofences.coverage_app, name="coverage")
app.add_typer(rules.rules_app, name="rules")
app.add_typer(roster.roster_app, name="roster")
app.add_typer(topics.topics_app, name="topics")
app.add_typer(standdown.standdown_app, name="standdown")
app.add_typer(tokens.tokens_app, name="tokens")
app.command("replay")(rules.replay_command)
app.command("backtest")(backtest.backtest_command)


def main() -> None:
    """Entry point of the ``vigil`` script."""
    app(prog_name="vigil")


if __name__ == "__main__":
    sys.exit(main())
