"""The web app with the live board served for real (``serve_web`` on a loopback port, in a thread of its own), for
the board's server and browser tests: a SQLite store the test fills, a settable review clock, a list of what
was published."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.web.app import create_web_app
from reviews.web.deps import BoardTiming
from reviews.web.server import ServerLimits, serve_web
from tests.reviews.web.fixtures import MORNING, PASSWORD

CHICAGO = ZoneInfo("America/Chicago")


@dataclass
class ServedBoard:
    """A served app: its address, store, what it published, and its review clock (``now``)."""

    url: str
    store: ReviewStore
    published: list = field(default_factory=list)
    now: datetime = MORNING


@contextlib.contextmanager
def serve_board(tmp_path: Path, limits: ServerLimits | None = None, timing: BoardTiming | None = None, now: datetime = MORNING
                ) -> Iterator[ServedBoard]:
    """The app over a fresh SQLite store with DNS user ``dana`` and lead ``lee`` (vi-north-nearnorth), both with
    ``PASSWORD``; nothing in the timeline yet."""
    store = ReviewStore(f"sqlite:///{tmp_path / 'board.sqlite'}")
    store.create_schema()
    store.add_user("dana", PASSWORD, "dns", None, now)
    store.add_user("lee", PASSWORD, "lead", "vi-north-nearnorth", now)
    served = ServedBoard("", store, now=now)

    async def publish(message) -> None:
        served.published.append(message)

    app = create_web_app(AckSigner(b"board-served-secret-0123", "https://vigil.example.org"), store, publish, lambda: served.now,
                         zone=CHICAGO, board_timing=timing)
    limits = limits or ServerLimits()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def serve(ready: asyncio.Future[str], stop: asyncio.Event) -> None:
        task = asyncio.create_task(serve_web(app, "127.0.0.1", 0, limits, ready))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def start() -> tuple[asyncio.Future[str], asyncio.Event]:
        return asyncio.get_running_loop().create_future(), asyncio.Event()

    ready, stop = asyncio.run_coroutine_threadsafe(start(), loop).result()
    serving = asyncio.run_coroutine_threadsafe(serve(ready, stop), loop)
    try:
        served.url = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 10), loop).result()
        yield served
    finally:
        loop.call_soon_threadsafe(stop.set)
        serving.result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        store.dispose()
