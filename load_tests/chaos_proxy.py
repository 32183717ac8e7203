"""A TCP proxy that a chaos run can cut and restore: the review database "goes down" for the workers
behind it while the machine's PostgreSQL, which others use, keeps running.

Cut: the proxy stops listening (new connections are refused at once, as from a host whose database
stopped) and closes every connection it carries (the workers' pooled connections break mid-use).
Restore: it listens on the same port again. It runs its own event loop in a thread, so that nothing the
chaos driver does can slow the database traffic down.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` until cut."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432, port: int = 0):
        self.target = (target_host, target_port)
        self.port = port
        self.connections = 0  # accepted while up: evidence that the workers really went through the proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def start(self) -> int:
        """Start the loop's thread and listen; returns the port."""
        self._thread.start()
        self._call(self._listen())
        return self.port

    def cut(self) -> None:
        """Refuse new connections and break the ones in use."""
        self._call(self._cut())

    def restore(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def stop(self) -> None:
        """Cut, then stop the thread."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def up(self) -> bool:
        """True while listening."""
        return self._server is not None

    def _call(self, coro) -> None:
        done: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        done.result(timeout=10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()  # a reset, as when the database's host goes away
        self._open.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._open |= {client_writer, server_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        self._open -= {client_writer, server_writer}
