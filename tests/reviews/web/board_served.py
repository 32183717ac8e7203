"""The web app with the live board served for real (``serve_web`` on a loopback port, in a thread of its own), for
the board's server and browser tests: a SQLite store the test fills, a settable review clock, a list of what
was published."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.web.app import create_web_app
from reviews.web.deps import BoardTiming
from reviews.web.server import ServerLimits
from tests.reviews.web.fixtures import MORNING, PASSWORD
from tests.reviews.web.serving import serve_in_thread

CHICAGO = ZoneInfo("America/Chicago")
SIGNER_SECRET = b"board-served-secret-0123"  # the served app's link secret: a test makes its links with it


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

    app = create_web_app(AckSigner(SIGNER_SECRET, "https://vigil.example.org"), store, publish, lambda: served.now,
                         zone=CHICAGO, board_timing=timing)
    try:
        with serve_in_thread(app, limits or ServerLimits(), stop_within_s=30) as url:
            served.url = url
            yield served
    finally:
        store.dispose()
