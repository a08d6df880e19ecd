"""One socket write per small response instead of one per h11 event.

Hypercorn writes the response head, each body chunk and the end of the message as separate
`write()`s, each a send() syscall on a loopback or LAN socket that wakes the peer: on the
2-core test VM a small GET paid three of them, the largest single cost of a request
(benchmarks/README.md, "Where a small request's time goes"). Here the head of a final
response waits for what follows it (the first body chunk, or the end of a bodiless
response) and goes out in the same write; an empty end-of-message (Content-Length bodies)
writes nothing. A head the application does not follow up at once is written on the next
turn of the event loop, so a response that streams slowly still starts at once; a response
given before the request body was read (a refusal) is written at once, as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from hypercorn.events import RawData
from hypercorn.protocol.h11 import H11Protocol


class CoalescedWrites(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol with the head of a response held for its body."""

    _held = b""
    _flushes: set[asyncio.Task[None]] | None = None

    async def _send_h11_event(self, event: Any) -> None:
        try:
            data = self.connection.send(event)
        except h11.LocalProtocolError:
            if self.connection.their_state != h11.ERROR:
                raise
            return
        if data is None:  # ConnectionClosed: nothing of its own to write, a held head still goes
            data = b""
        if type(event) is h11.Response and self.connection.their_state is h11.DONE:
            # Only once the request is read whole: a refusal before its body (Expect: 100-continue)
            # is written at once, as before, and the connection then closes.
            self._held += data
            asyncio.get_running_loop().call_soon(self._flush_soon)
            return
        if self._held:
            data, self._held = self._held + data, b""
        if data:
            await self.send(RawData(data=data))

    def _flush_soon(self) -> None:
        """The head is still held a loop turn later: the body is not ready, send the head alone."""
        if not self._held:
            return
        if self._flushes is None:
            self._flushes = set()
        task = asyncio.get_running_loop().create_task(self._flush())
        self._flushes.add(task)  # a reference until it is done (the loop keeps only weak ones)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        data, self._held = self._held, b""
        if data:
            await self.send(RawData(data=data))
