"""Small shared pieces of Vigil's aiohttp services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

from stream.ops.connections import ConnectionSlots, bytes_waiting, quiet_accept_errors

log = structlog.get_logger(__name__)


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, except that a request aiohttp could not parse (a bad Content-Length, a
    header over 8 KB, garbage) is the client's problem: the client gets its 400 with the reason, and the
    log gets one info line, not an ERROR with a traceback for every scanner that knocks."""

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        """Log a malformed request as info; anything else as aiohttp does (with its traceback)."""
        if isinstance(exc_info, HttpProcessingError) and 400 <= (exc_info.code or 0) < 500:
            log.info("http.bad_request", status=exc_info.code, error=type(exc_info).__name__,
                     message=str(exc_info.message).strip().splitlines()[0][:200] if exc_info.message else "")
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


class _CountedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, seen by the listener's ``ConnectionSlots``: admitted (or shed for)
    when it opens, stamped active when bytes arrive, released when it ends. Everything else passes through."""

    def __init__(self, inner: Any, slots: ConnectionSlots):
        self._inner = inner
        self._slots = slots
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Hand the connection to aiohttp, then take a slot (closing the longest-silent one at the cap)."""
        self._transport = transport
        self._inner.connection_made(transport)
        self._slots.admit(transport, transport.abort, bytes_waiting(transport))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        """Bytes arrived: the connection is not silent."""
        self._slots.active(self._transport)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        """The peer finished sending."""
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Free the slot, then let aiohttp clean up."""
        self._slots.release(self._transport)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Flow control, as aiohttp does it."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Flow control, as aiohttp does it."""
        self._inner.resume_writing()


class _CountedSite(web.TCPSite):
    """A TCPSite whose connections go through ``_CountedProtocol``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, slots: ConnectionSlots):
        super().__init__(runner, host, port)
        self._slots = slots

    async def start(self) -> None:
        """Listen, as TCPSite does, with every connection counted."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _CountedProtocol(server(), self._slots), self._host, self._port,
                                                backlog=self._backlog, reuse_address=self._reuse_address,
                                                reuse_port=self._reuse_port)
        self._bound_port = self._server.sockets[0].getsockname()[1]


def _busy_middleware(slots: ConnectionSlots) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Marks a connection as being answered while its handler runs: it is never shed then."""

    @web.middleware
    async def busy(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        with slots.busy(request.transport):
            return await handler(request)

    return busy


async def start_site(application: web.Application, host: str, port: int, *, header_timeout_s: float | None = None,
                     slots: ConnectionSlots | None = None) -> tuple[web.AppRunner, int]:
    """Serve ``application`` on ``host:port`` (0 picks a free port); returns the runner and the bound port.

    ``header_timeout_s``: a connection must complete a request's headers this long after it opens or after its
    last answer, else it is closed (aiohttp's keep-alive timer, which also runs before the first request).
    ``slots``: the connections are counted there and capped (stream/ops/connections.py); accept() failures
    for want of descriptors are then logged once a minute at most."""
    extra: dict[str, Any] = {} if header_timeout_s is None else {"keepalive_timeout": header_timeout_s}
    if slots is not None:
        application.middlewares.append(_busy_middleware(slots))
        restore = quiet_accept_errors(asyncio.get_running_loop(), slots.service)
        application.on_cleanup.append(lambda _app: _restored(restore))
    runner = web.AppRunner(application, access_log=None, logger=_ServerLog(server_logger, {}), **extra)
    await runner.setup()
    site = web.TCPSite(runner, host, port) if slots is None else _CountedSite(runner, host, port, slots)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = site._server.sockets[0].getsockname()[1] if port == 0 else port  # type: ignore[union-attr]
    return runner, bound


async def _restored(restore: Callable[[], None]) -> None:
    """Put the loop's previous exception handler back (an ``on_cleanup`` callback)."""
    restore()
