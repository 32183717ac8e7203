"""Small shared pieces of Vigil's aiohttp services."""

from __future__ import annotations

from aiohttp import web


async def start_site(application: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``application`` on ``host:port`` (0 picks a free port); returns the runner and the bound port."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = site._server.sockets[0].getsockname()[1] if port == 0 else port  # type: ignore[union-attr]
    return runner, bound
