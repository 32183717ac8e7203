"""Small shared pieces of Vigil's aiohttp services."""

from __future__ import annotations

import logging
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

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


async def start_site(application: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``application`` on ``host:port`` (0 picks a free port); returns the runner and the bound port."""
    runner = web.AppRunner(application, access_log=None, logger=_ServerLog(server_logger, {}))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = site._server.sockets[0].getsockname()[1] if port == 0 else port  # type: ignore[union-attr]
    return runner, bound
