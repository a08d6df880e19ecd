"""smarts3.response_head: a response head validated once, with the bytes h11 would write."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import h11
import pytest
from hypercorn.config import Config

from smarts3 import connlimit
from smarts3.response_head import checked_response, server_headers

_BAD_VALUES = [b"a\r\nx-evil: 1", b"a\nb", b"a\rb", b"a\x00b", b"a\x0bb", b"a\x0cb"]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    value = _BAD_VALUES[int(path.rsplit("/", 1)[1])] if path.startswith("/bad/") else b"fine"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2"), (b"x-a", value)]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _served() -> Iterator[int]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = None
    connlimit.install(connlimit.LimitedTCPServer.limit)  # the protocol `smarts3 serve` runs; the cap as it was
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(serve(_app, config, shutdown_trigger=stop.wait)), daemon=True
    )
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)


def _exchange(port: int, path: str, *, to_close: bool = False) -> bytes:
    """The reply to one GET, read until its body is in (or, `to_close`, until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and not to_close and b"content-length: " in head.lower():
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    return data


def test_header_with_cr_lf_or_nul_never_reaches_the_wire() -> None:
    """As before: the application's send fails, Hypercorn answers 500 and closes."""
    with _served() as port:
        good = _exchange(port, "/good")
        assert good.startswith(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-a: fine\r\ndate: ")
        assert good.endswith(b"\r\nserver: hypercorn-h11\r\n\r\nok")
        for i in range(len(_BAD_VALUES)):
            reply = _exchange(port, f"/bad/{i}", to_close=True)  # nothing follows the 500
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n")
            assert b"x-a" not in reply and b"evil" not in reply and body == b""


def _wire(response: Any, method: bytes = b"GET") -> bytes | str:
    """What an h11 server connection writes for this response head, or the error it raises."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(method + b" / HTTP/1.1\r\nhost: x\r\n\r\n")
    connection.next_event()
    try:
        head = response()
        return connection.send(head) or b""
    except h11.LocalProtocolError as exc:
        return f"LocalProtocolError {exc}"


_NAMES = [b"content-length", b"Content-Length", b"transfer-encoding", b"etag", b"X-Amz-Meta-A", b"x-a", b"x a",
          b"", b"x:a", b"x\na", b"x\ra", b"\xc3\xa9", b"connection", b"x-!#$%&'*+.^_`|~"]
_VALUES = [b"", b"0", b"5", b"5, 5", b"5,6", b" 5", b"chunked", b"Chunked", b"gzip", b"close", b"a b", b"a\tb",
           b"a  \t b", b"\x01\x7f", b"\x80\xff caf\xc3\xa9", b" a", b"a ", b"\ta", b"a\r\nx: y", b"a\n",
           b"\na", b"\x00", b"a\x0bb", b"a\x0cb", b'"etag"', b"123456789012345678901", b"-1", b"1e3"]


@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_same_bytes_as_h11_or_the_same_refusal(method: bytes) -> None:
    rng = random.Random(17)
    for _ in range(3000):
        headers = [(rng.choice(_NAMES), rng.choice(_VALUES)) for _ in range(rng.randint(0, 6))]
        status = rng.choice([200, 204, 304, 403, 500])
        ours = _wire(partial(checked_response, status, list(headers), b"OK"), method)
        theirs = _wire(partial(h11.Response, status_code=status, headers=list(headers), reason=b"OK"), method)
        assert ours == theirs, headers


def test_server_headers_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    import hypercorn.config

    from smarts3 import response_head

    clock = [1_800_000_000.2]
    monkeypatch.setattr(response_head, "time", lambda: clock[0])
    monkeypatch.setattr(hypercorn.config, "time", lambda: clock[0])
    config = Config()
    first = server_headers(config)
    assert first == config.response_headers("h11")
    assert first[0] == (b"date", b"Fri, 15 Jan 2027 08:00:00 GMT")
    clock[0] = 1_800_000_000.99
    assert server_headers(config) is first  # the same second: not formatted again
    clock[0] = 1_800_000_001.0
    assert server_headers(config) == config.response_headers("h11") != first
