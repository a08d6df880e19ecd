"""A cap on concurrent connections per worker process.

Hypercorn has no such setting, so each accepted connection goes through this
subclass of its TCP server (installed in place of the one `worker_serve` uses).
A connection over the cap is answered S3's 503 SlowDown at once and closed,
without reading its request, so a flood of idle sockets cannot pin the worker.
It also ends a connection as soon as its peer closes it, reads with a cheaper timeout,
and drops a client that has not sent a whole request head within `request_head_timeout`.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import suppress
from ssl import SSLError
from typing import ClassVar, Final

import h11
import hypercorn.asyncio.run as hypercorn_run
import hypercorn.protocol as hypercorn_protocol
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config
from hypercorn.events import Closed, RawData
from hypercorn.protocol.h11 import H11Protocol

from smarts3.coalesce import CoalescedWrites
from smarts3.expect import DeferredContinue
from smarts3.response_head import CheckedHeads

READ_BYTES = 256 * 1024
DEFAULT_HEAD_TIMEOUT: Final = 30.0
_HEAD_TIMEOUT_ATTR: Final = "smarts3_request_head_timeout"

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_SLOW_DOWN)).encode() + b"\r\n\r\n" + _SLOW_DOWN
)


def set_request_head_timeout(config: Config, seconds: float) -> None:
    """Hypercorn has no such setting: the value rides on its config, which each connection sees."""
    setattr(config, _HEAD_TIMEOUT_ATTR, seconds)


def _head_timeout_reply() -> bytes:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeout</Code>'
        "<Message>The request head was not received within the time allowed.</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/xml\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class LimitedTCPServer(TCPServer):
    limit: ClassVar[int | None] = None
    active: ClassVar[int] = 0

    async def run(self) -> None:
        cls = LimitedTCPServer
        if getattr(self.config, "uncapped", False):
            # The ops listener (serve.OpsConfig): probes must answer while S3 slots are full.
            await super().run()
            return
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
        # Hypercorn's loop, with asyncio.timeout_at instead of asyncio.wait_for: wait_for wraps
        # every read in a new task (Python 3.11), a measurable share of a small request.
        loop = self.loop
        read_timeout = self.config.read_timeout
        head_timeout: float = getattr(self.config, _HEAD_TIMEOUT_ATTR, DEFAULT_HEAD_TIMEOUT)
        # read_timeout bounds each read; this bounds a whole request head, so a client trickling
        # a byte now and then cannot hold the slot. It runs from the accept, is cleared once the
        # head is parsed (a body may take as long as it needs), and restarts with the first byte
        # of the next request (an idle keep-alive connection is keep_alive_timeout's business).
        head_deadline: float | None = loop.time() + head_timeout
        heads = 0  # requests parsed on this connection when the deadline was last set
        # Bigger reads than hypercorn's 64 KiB: a large body then takes a quarter of the trips
        # through h11, hypercorn and the app (+20-30% on a 256 MiB PUT). The stream's buffer
        # limit must grow with it, or the transport pauses before a read can fill.
        self.reader._limit = READ_BYTES  # type: ignore[attr-defined]
        while not self.reader.at_eof():
            until = head_deadline
            if read_timeout is not None:
                read_until = loop.time() + read_timeout
                if until is None or read_until < until:
                    until = read_until
            try:
                async with asyncio.timeout_at(until):
                    data = await self.reader.read(READ_BYTES)
            except TimeoutError:  # before OSError, of which it is a subclass
                if head_deadline is not None and loop.time() >= head_deadline:
                    await self._refuse_slow_head()
                break
            except (ConnectionError, OSError, SSLError):
                break
            await self.protocol.handle(RawData(data))
            head_deadline, heads = self._next_head_deadline(head_deadline, heads, head_timeout)
        await self.protocol.handle(Closed())
        # The peer is gone: hypercorn would otherwise hold the socket (and our slot) until its
        # keep-alive timer fires, because that timer lives in the connection's task group.
        await self.idle_task.stop()

    def _next_head_deadline(self, current: float | None, heads: int, head_timeout: float) -> tuple[float | None, int]:
        """After a read: keep the deadline while the same head is incomplete, start one when a
        new head begins, clear it once the head is parsed (h11 then leaves its IDLE state)."""
        protocol = self.protocol.protocol
        if not isinstance(protocol, H11Protocol):
            # HTTP/2 with prior knowledge: the deadline covers its first request's headers.
            return (current if protocol.keep_alive_requests == 0 else None), heads
        connection = protocol.connection
        if connection.their_state is not h11.IDLE:
            return None, heads
        if current is not None and protocol.keep_alive_requests == heads:
            return current, heads
        # A response ended (maybe inside that read, for a pipelined request): only bytes of a
        # next head already in h11's buffer start its clock; an idle connection has none.
        heads = protocol.keep_alive_requests
        return (self.loop.time() + head_timeout if connection.trailing_data[0] else None), heads

    async def _refuse_slow_head(self) -> None:
        """Answer 408 RequestTimeout where no response has begun; the caller closes."""
        protocol = self.protocol.protocol
        if not isinstance(protocol, H11Protocol) or protocol.connection.our_state is not h11.IDLE:
            return
        async with self.send_lock:
            with suppress(OSError, RuntimeError, TimeoutError):
                self.writer.write(_head_timeout_reply())
                async with asyncio.timeout(1):
                    await self.writer.drain()


class Http11Only(DeferredContinue, CoalescedWrites, CheckedHeads):
    """Hypercorn's HTTP/1.1 protocol without its switches to HTTP/2 (an `Upgrade: h2c` header or
    the `PRI *` preface): such a request stays HTTP/1.1 and S3 answers it (400 for `PRI *`).
    `100 Continue` waits until the request is authorized (smarts3.expect); a response's head
    goes out with its first body bytes (smarts3.coalesce), checked once (smarts3.response_head)."""

    async def _check_protocol(self, event: h11.Request) -> None:
        return None


def install(limit: int | None) -> None:
    LimitedTCPServer.limit = limit
    hypercorn_run.TCPServer = LimitedTCPServer  # type: ignore[attr-defined]
    hypercorn_protocol.H11Protocol = Http11Only  # type: ignore[attr-defined]
