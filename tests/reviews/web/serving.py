"""The web app served for real (``serve_web``, the server `vigil web` runs) on a thread and event loop of its own, for
tests that need real connections: the server's limits, the board's event stream, a browser."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from reviews.web.server import ServerLimits, serve_web


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, limits: ServerLimits, stop_within_s: float = 15, **serve_kw: Any) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends; yields its URL. ``serve_kw`` go to ``serve_web``
    (a metrics app and port, say); the server must stop within ``stop_within_s``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def serve(ready: asyncio.Future[str], stop: asyncio.Event) -> None:
        task = asyncio.create_task(serve_web(app, "127.0.0.1", 0, limits, ready, **serve_kw))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def start() -> tuple[asyncio.Future[str], asyncio.Event]:
        return asyncio.get_running_loop().create_future(), asyncio.Event()

    ready, stop = asyncio.run_coroutine_threadsafe(start(), loop).result()
    serving = asyncio.run_coroutine_threadsafe(serve(ready, stop), loop)
    try:
        yield asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 10), loop).result()
    finally:
        loop.call_soon_threadsafe(stop.set)
        serving.result(timeout=stop_within_s)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
