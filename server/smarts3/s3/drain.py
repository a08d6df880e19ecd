"""Read and discard a refused request's unread body before answering, when it is small.

A request refused before its body was read (AccessDenied, NoSuchUpload, a failed precondition)
would otherwise be answered while the client is still sending: the server then closes a socket
with unread bytes in its receive buffer, the kernel answers them with a reset, and the client
often loses the error response itself (botocore: "Connection was closed before we received a
valid response"). Draining a bounded amount first lets the client read the answer and keep the
connection. Bodies above the bound are not read for nothing: those connections close after the
response (expect.py says so in a `Connection: close` header). A client waiting for
`100 Continue` has sent nothing, so nothing is drained for it (reading would release the 100).
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
from starlette.types import Message, Receive

DRAIN_MAX_BYTES = 16 * 1024 * 1024  # one SDK multipart part (8 MiB by default) with room to spare
DRAIN_SECONDS = 5.0


class BodyTracker:
    """The app's `receive`, noting whether the request body has been read to its end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message

    async def drain_if_small(self, headers: Mapping[str, str]) -> None:
        if self.done or headers.get("expect", "").lower() == "100-continue":
            return
        length = headers.get("content-length")
        if length is None and "chunked" not in headers.get("transfer-encoding", "").lower():
            return
        if length is not None and (not length.isdigit() or int(length) == 0 or int(length) > DRAIN_MAX_BYTES):
            return
        read = 0
        with anyio.move_on_after(DRAIN_SECONDS):
            while not self.done and read <= DRAIN_MAX_BYTES:
                message = await self()
                read += len(message.get("body", b""))
