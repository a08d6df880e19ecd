"""Responses: XML documents, empty answers and streamed object bodies."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from smarts3.storage.base import ObjectReader

# Bodies above this size get a disconnect watcher, so an abandoned download
# stops reading the disk instead of streaming into the void.
_WATCH_DISCONNECT_OVER = 1024 * 1024


def xml_response(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=dict(headers or {}), media_type="application/xml")


def empty(status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(b"", status_code=status, headers=dict(headers or {}))
    if status in (204, 304):
        # Starlette adds content-length: 0; S3 sends none on these.
        response.raw_headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
    return response


class ObjectStream:
    """Sends bytes [start, end) of an opened object, then closes it."""

    def __init__(
        self,
        reader: ObjectReader,
        start: int,
        end: int,
        *,
        status: int,
        headers: Mapping[str, str],
        head: bool = False,
    ) -> None:
        self.reader = reader
        self.start = start
        self.end = end
        self.status = status
        self.head = head
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers.append((b"content-length", str(end - start).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
            if self.head or self.end <= self.start:
                await send({"type": "http.response.body", "body": b""})
            elif self.end - self.start <= _WATCH_DISCONNECT_OVER:
                await self._stream(send)
            else:
                async with anyio.create_task_group() as tg:

                    async def watch() -> None:
                        while True:
                            message: Message = await receive()
                            if message["type"] == "http.disconnect":
                                tg.cancel_scope.cancel()
                                return

                    tg.start_soon(watch)
                    await self._stream(send)
                    tg.cancel_scope.cancel()
        finally:
            await self.reader.close()  # shields itself (ObjectReader.close)

    async def _stream(self, send: Send) -> None:
        remaining = self.end - self.start
        async for chunk in self.reader.iter_range(self.start, self.end):
            remaining -= len(chunk)
            # The last chunk ends the body: a small object goes out in one message, not two.
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            if remaining <= 0:
                return
        await send({"type": "http.response.body", "body": b""})
