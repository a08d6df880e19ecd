"""smarts3.coalesce: a response's head goes out in the same write as what follows it."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from hypercorn.events import RawData

from smarts3.coalesce import CoalescedWrites


def protocol(method: bytes = b"GET", *, body_read: bool = True) -> tuple[CoalescedWrites, list[bytes]]:
    """A CoalescedWrites past a request (its body read, or not), its writes recorded (no socket, no server)."""
    proto = object.__new__(CoalescedWrites)
    proto.connection = h11.Connection(h11.SERVER)
    proto.connection.receive_data(method + b" /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc")
    assert type(proto.connection.next_event()) is h11.Request
    if body_read:
        assert type(proto.connection.next_event()) is h11.Data
        assert type(proto.connection.next_event()) is h11.EndOfMessage
    writes: list[bytes] = []

    async def send(event: Any) -> None:
        assert isinstance(event, RawData)
        writes.append(event.data)

    proto.send = send  # type: ignore[method-assign]
    return proto, writes


def head(length: int) -> h11.Response:
    return h11.Response(status_code=200, headers=[(b"content-length", str(length).encode())], reason=b"OK")


def test_small_response_is_one_write() -> None:
    async def main() -> list[bytes]:
        proto, writes = protocol()
        await proto._send_h11_event(head(5))
        await proto._send_h11_event(h11.Data(data=b"hello"))
        await proto._send_h11_event(h11.EndOfMessage())
        await asyncio.sleep(0)  # the deferred flush finds nothing left
        return writes

    (only,) = asyncio.run(main())
    assert only.startswith(b"HTTP/1.1 200 OK\r\n") and only.endswith(b"\r\n\r\nhello")


def test_bodiless_response_is_one_write() -> None:
    async def main() -> list[bytes]:
        proto, writes = protocol(b"HEAD")
        await proto._send_h11_event(head(5))
        await proto._send_h11_event(h11.EndOfMessage())
        await asyncio.sleep(0)
        return writes

    (only,) = asyncio.run(main())
    assert only.startswith(b"HTTP/1.1 200 OK\r\n") and only.endswith(b"\r\n\r\n")


def test_head_not_followed_at_once_still_goes_out() -> None:
    async def main() -> tuple[list[bytes], list[bytes]]:
        proto, writes = protocol()
        await proto._send_h11_event(head(5))
        for _ in range(3):  # a slow body: the head must not wait for it
            await asyncio.sleep(0)
        before_body = list(writes)
        await proto._send_h11_event(h11.Data(data=b"hello"))
        await proto._send_h11_event(h11.EndOfMessage())
        return before_body, writes

    before_body, writes = asyncio.run(main())
    assert len(before_body) == 1 and before_body[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes == [before_body[0], b"hello"]  # in order, and the empty end wrote nothing


def test_refusal_before_the_body_is_read_is_written_at_once() -> None:
    async def main() -> list[bytes]:
        proto, writes = protocol(b"PUT", body_read=False)
        await proto._send_h11_event(head(0))
        return list(writes)

    (only,) = asyncio.run(main())
    assert only.startswith(b"HTTP/1.1 200 OK\r\n")
