"""A cap on concurrent connections per worker process.

Hypercorn has no such setting, so each accepted connection goes through this
subclass of its TCP server (installed in place of the one `worker_serve` uses).
A connection over the cap is answered S3's 503 SlowDown at once and closed,
without reading its request, so a flood of idle sockets cannot pin the worker.
It also ends a connection as soon as its peer closes it, and reads with a cheaper timeout.
"""

from __future__ import annotations

import asyncio
from ssl import SSLError
from typing import ClassVar

import hypercorn.asyncio.run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.events import Closed, RawData

READ_BYTES = 256 * 1024

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_SLOW_DOWN)).encode() + b"\r\n\r\n" + _SLOW_DOWN
)


class LimitedTCPServer(TCPServer):
    limit: ClassVar[int | None] = None
    active: ClassVar[int] = 0

    async def run(self) -> None:
        cls = LimitedTCPServer
        if cls.limit is not None and cls.active >= cls.limit:
            try:
                self.writer.write(_REFUSAL)
                await self.writer.drain()
            except OSError:
                pass
            finally:
                self.writer.close()
            return
        cls.active += 1
        try:
            await super().run()
        finally:
            cls.active -= 1

    async def _read_data(self) -> None:
        # Hypercorn's loop, with asyncio.timeout instead of asyncio.wait_for: wait_for wraps
        # every read in a new task (Python 3.11), a measurable share of a small request.
        timeout = self.config.read_timeout
        # Bigger reads than hypercorn's 64 KiB: a large body then takes a quarter of the trips
        # through h11, hypercorn and the app (+20-30% on a 256 MiB PUT). The stream's buffer
        # limit must grow with it, or the transport pauses before a read can fill.
        self.reader._limit = READ_BYTES  # type: ignore[attr-defined]
        while not self.reader.at_eof():
            try:
                async with asyncio.timeout(timeout):
                    data = await self.reader.read(READ_BYTES)
            except (ConnectionError, OSError, TimeoutError, SSLError):
                break
            await self.protocol.handle(RawData(data))
        await self.protocol.handle(Closed())
        # The peer is gone: hypercorn would otherwise hold the socket (and our slot) until its
        # keep-alive timer fires, because that timer lives in the connection's task group.
        await self.idle_task.stop()


def install(limit: int | None) -> None:
    LimitedTCPServer.limit = limit
    hypercorn_run.TCPServer = LimitedTCPServer  # type: ignore[attr-defined]
