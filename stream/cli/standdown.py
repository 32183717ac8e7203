"""`vigil standdown add|list|end|publish`: standdowns from a terminal, as DNS makes them on ``/standdowns``.

Each change is written to the review store first (the source of truth, audited with no username and
``cli:<by>`` in the detail), then sent to the workers on the compacted ``standdowns`` topic. When the send
fails the change stays stored, the command says so and exits 1, and `vigil standdown publish` sends every
stored standdown again (harmless: the topic keeps the newest version per id).
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from stream.cli.options import BootstrapOption, ReviewDbUrlOption, TopicPrefixOption, require_bootstrap, review_store

standdown_app = typer.Typer(help="Standdowns: a team off alerts, or an area muted, for a window (DNS).", no_args_is_help=True)

SEND_TIMEOUT_S = 30.0


def _default_by() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


ByOption = typer.Option(None, "--by", help="Who makes the change (default: $USER).", show_default=False)


def _who(by: str | None) -> str:
    who = (by if by is not None else _default_by()).strip()
    if not 0 < len(who) <= 100:
        _fail("say who makes the change: --by NAME (1 to 100 characters)")
    return who


def _fail(message: str, code: int = 2) -> Any:
    typer.echo(f"vigil standdown: {message}", err=True)
    raise typer.Exit(code)


async def _send_all(bootstrap: str, prefix: str, standdowns: Sequence[Any]) -> None:
    """Send each standdown's current version to the standdowns topic (made first when missing), acknowledged by
    every in-sync replica."""
    from aiokafka import AIOKafkaProducer

    from reviews.standdowns import standdown_record
    from stream.ops.kafka import Topics, ensure_topics

    topics = Topics(prefix)
    await ensure_topics(bootstrap, topics)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=int(SEND_TIMEOUT_S * 1000))
    await producer.start()
    try:
        for standdown in standdowns:
            key, value = standdown_record(standdown)
            await producer.send_and_wait(topics.standdowns, value, key=key)
    finally:
        await producer.stop()


def _send(store: Any, bootstrap: str, prefix: str, stored: Sequence[Any]) -> str | None:
    """Send stored standdowns and note them sent; the reason when they could not be sent (they stay stored)."""
    try:
        asyncio.run(asyncio.wait_for(_send_all(bootstrap, prefix, [s.standdown for s in stored]), SEND_TIMEOUT_S * 2))
    except Exception as exc:  # noqa: BLE001 - whatever stopped the send, the change is stored and can be sent again
        said, name = str(exc), type(exc).__name__
        return said if said.startswith(name) else f"{name}: {said}" if said else name
    now = datetime.now(UTC)
    for item in stored:
        store.mark_standdown_published(item.standdown, now)
    return None


def _sent_or_exit(problem: str | None, what: str) -> None:
    if problem is None:
        typer.echo(f"{what}; sent to the workers")
        return
    typer.echo(what, err=False)
    _fail(f"saved, but NOT sent to the workers ({problem}); alerts go out as before until it is: "
          "run `vigil standdown publish` once the broker answers", code=1)


@standdown_app.command("add")
def standdown_add(
    team: str | None = typer.Option(None, "--team", help="The team to stand down (its id)."),
    area: str | None = typer.Option(None, "--area", help="Or the area to mute: a neighborhood of the coverage map."),
    starts: str | None = typer.Option(None, "--from", help='Local start, e.g. "2026-12-02 16:00" (default: now).', show_default=False),
    ends: str | None = typer.Option(None, "--until", help='Local end, e.g. "2026-12-02 18:00" (required unless --every).', show_default=False),
    every: str | None = typer.Option(None, "--every", help='A weekly window, e.g. "mon,wed 16:00-18:00".', show_default=False),
    reason: str = typer.Option(..., "--reason", help="Why (a funeral, a training, a drill); at most 300 characters."),
    by: str | None = ByOption,
    db_url: str = ReviewDbUrlOption,
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
) -> None:
    """Stand a team down, or mute an area, for a window: stored, audited, then sent to the workers."""
    from reviews.standdowns import StanddownError, StanddownRequest, StanddownRules, describe, new_standdown
    from stream.core.deployment import load_deployment

    require_bootstrap(bootstrap)
    who = _who(by)
    rules = StanddownRules.of(load_deployment().coverage)
    now = datetime.now(UTC)
    try:
        standdown = new_standdown(rules, StanddownRequest(team, area, starts, ends, every, reason), who, now)
    except StanddownError as exc:
        _fail(str(exc))
    with review_store(db_url, "standdown") as store:
        stored = store.add_standdown(standdown)
        store.audit(None, "standdown_added", standdown.id, now,
                    detail=f"cli:{who}; {standdown.subject}: {describe(standdown, rules.zone)}; reason: {standdown.reason}")
        problem = _send(store, bootstrap, topic_prefix, [stored])
    _sent_or_exit(problem, f"added {standdown.id}: {standdown.subject}, {describe(standdown, rules.zone)}")


@standdown_app.command("end")
def standdown_end(
    standdown_id: str = typer.Argument(..., metavar="ID", help="The standdown's id (`vigil standdown list`)."),
    by: str | None = ByOption,
    db_url: str = ReviewDbUrlOption,
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
) -> None:
    """End a standdown now (one not started yet is cancelled): stored, audited, then sent to the workers."""
    require_bootstrap(bootstrap)
    who = _who(by)
    now = datetime.now(UTC)
    with review_store(db_url, "standdown") as store:
        try:
            stored = store.end_standdown(standdown_id, who, now)
        except ValueError as exc:
            _fail(str(exc))
        store.audit(None, "standdown_ended", standdown_id, now, detail=f"cli:{who}; {stored.standdown.subject}")
        problem = _send(store, bootstrap, topic_prefix, [stored])
    _sent_or_exit(problem, f"ended {standdown_id}: {stored.standdown.subject}")


@standdown_app.command("publish")
def standdown_publish(
    db_url: str = ReviewDbUrlOption,
    bootstrap: str = BootstrapOption,
    topic_prefix: str = TopicPrefixOption,
) -> None:
    """Send every stored standdown to the workers again (after a failed send, or to a new topic): harmless, the
    topic keeps the newest version of each."""
    from stream.ops.kafka import Topics

    require_bootstrap(bootstrap)
    with review_store(db_url, "standdown") as store:
        stored = store.standdowns()
        problem = _send(store, bootstrap, topic_prefix, stored)
        if problem is None:
            store.audit(None, "standdowns_resent", None, datetime.now(UTC), detail=f"cli; {len(stored)} sent")
    if problem is not None:
        _fail(f"nothing was sent ({problem}): is the broker at {bootstrap} answering?", code=1)
    typer.echo(f"sent {len(stored)} standdown(s) to {Topics(topic_prefix).standdowns}")


@standdown_app.command("list")
def standdown_list(db_url: str = ReviewDbUrlOption,
                   as_json: bool = typer.Option(False, "--json", help="Every stored standdown as JSON Lines (what `vigil replay "
                                                "--standdowns` reads), instead of the listing.")) -> None:
    """The standdowns in force now, upcoming, and ended in the last two weeks, times local; one not yet sent to
    the workers says so."""
    from reviews.standdowns import ENDED_DAYS_SHOWN, describe, describe_moment, describe_window, listing
    from stream.core.deployment import load_deployment

    zone = load_deployment().coverage.zone
    now = datetime.now(UTC)
    if as_json:
        with review_store(db_url, "standdown") as store:
            for stored in store.standdowns():
                typer.echo(stored.standdown.model_dump_json())
        return
    with review_store(db_url, "standdown") as store:
        shown = listing(store.standdowns(now - timedelta(days=ENDED_DAYS_SHOWN)), now, zone)
    for title, items in (("in force now", shown.in_force), ("upcoming", shown.upcoming), (f"ended (last {ENDED_DAYS_SHOWN} days)", shown.ended)):
        typer.echo(f"{title}: {len(items)}")
        for item in items:
            s = item.standdown
            if item.window is not None:
                when = f"{'now' if item.window[0] <= now else 'next'} {describe_window(item.window, zone)}"
            else:
                when = f"ended {describe_moment(s.ended_at, zone)} by {s.ended_by}" if s.ended_at else "no window in the coming week"
            if item.window is None and s.ended_at is None and s.last_moment is not None and s.last_moment <= now:
                when = f"over {describe_moment(s.last_moment, zone)}"
            typer.echo(f"  {s.id}  {s.subject}  {when}")
            typer.echo(f"      {describe(s, zone)}; reason: {s.reason}; added by {s.by} {describe_moment(s.created_at, zone)}"
                       + ("" if item.stored.sent else "; NOT YET SENT to the workers (vigil standdown publish)"))
