"""A minimal, fast asyncio S3 client for load generation.

Raw HTTP/1.1 keep-alive connections over asyncio streams, AWS Signature V4 header
auth computed here with ``hashlib``/``hmac`` (signing key cached per day), path-style
URLs. Bodies are sent with ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` so a large body
never has to be hashed; requests without a body sign the empty-string hash.

The point is to keep the load generator cheap enough that, on a 2-core machine shared
with the server under test, the server is what gets measured. No boto3, no per-request
object churn beyond what a request strictly needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, cast
from urllib.parse import quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_ALGORITHM = "AWS4-HMAC-SHA256"
_BUFFER_SIZE = 1 << 20  # per-connection receive buffer
_MIN_RECV = 64 << 10  # compact/grow the buffer when less free space than this is left
_READ_HIGH_WATER = 8 << 20  # stop reading when this much is buffered and unconsumed
_READ_LOW_WATER = 1 << 20
_WRITE_HIGH_WATER = 4 << 20
_MAX_HEADER = 1 << 20


_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")
_PLAIN_PARAM = re.compile(r"[A-Za-z0-9_.~-]*")


def quote_path(path: str) -> str:
    """URI-encode a path the way SigV4 wants it for S3 (``/`` kept, no double encoding)."""
    return path if _PLAIN_PATH.fullmatch(path) else quote(path, safe="/-_.~")


def quote_param(value: str) -> str:
    """URI-encode a query-string key or value (RFC 3986 unreserved set only)."""
    return value if _PLAIN_PARAM.fullmatch(value) else quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> str:
    """Canonical (sorted, encoded) query string; also used verbatim as the request's query."""
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    encoded = sorted((quote_param(k), quote_param(v)) for k, v in items)
    return "&".join(f"{k}={v}" for k, v in encoded)


class SigV4Signer:
    """AWS Signature Version 4, header-based, for one access key / region / service."""

    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1", service: str = "s3") -> None:
        self.access_key = access_key
        self._secret = secret_key
        self.region = region
        self.service = service
        self._key_day = ""
        self._key = b""
        self._date_second = -1
        self._amz_date = ""

    def _signing_key(self, day: str) -> bytes:
        if day != self._key_day:
            k = hmac.new(f"AWS4{self._secret}".encode(), day.encode(), hashlib.sha256).digest()
            k = hmac.new(k, self.region.encode(), hashlib.sha256).digest()
            k = hmac.new(k, self.service.encode(), hashlib.sha256).digest()
            self._key = hmac.new(k, b"aws4_request", hashlib.sha256).digest()
            self._key_day = day
        return self._key

    def sign(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        payload_hash: str,
        now: float | None = None,
    ) -> None:
        """Add ``x-amz-date``, ``x-amz-content-sha256`` and ``Authorization`` to ``headers``.

        ``path`` must already be URI-encoded and ``query`` canonical (see
        :func:`canonical_query`). Header names in ``headers`` must be lower-case. Signed:
        ``host``, ``content-md5``, ``content-type`` and every ``x-amz-*`` header.
        """
        if now is None:
            now = time.time()
        second = int(now)
        if second != self._date_second:  # strftime once per second, not per request
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._date_second = second
        amz_date = self._amz_date
        day = amz_date[:8]
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        signed = sorted(
            k for k in headers if k == "host" or k.startswith("x-amz-") or k in ("content-md5", "content-type")
        )
        canonical_headers = "".join(f"{k}:{' '.join(headers[k].split())}\n" for k in signed)
        signed_headers = ";".join(signed)
        canonical_request = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        string_to_sign = f"{_ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day), string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"{_ALGORITHM} Credential={self.access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        )


class RepeatingBody:
    """A body of ``size`` bytes streamed from one reusable buffer, repeated as needed.

    Nothing of ``size`` is ever allocated: a 1 GiB PUT writes the same buffer again and
    again. The buffer's content is pseudo-random so compressing layers gain nothing.
    """

    def __init__(self, buffer: bytes | bytearray | memoryview, size: int) -> None:
        self.view = memoryview(buffer).cast("B")
        if len(self.view) == 0:
            raise ValueError("empty buffer")
        self.size = size

    def __len__(self) -> int:
        return self.size

    def chunks(self) -> Iterator[memoryview]:
        left = self.size
        n = len(self.view)
        while left > 0:
            take = min(left, n)
            yield self.view[:take]
            left -= take


def make_buffer(size: int, seed: int = 1) -> bytes:
    """Deterministic, incompressible-enough bytes, built once and reused.

    64 KiB of SHA-256 output in counter mode, tiled up to ``size``.
    """
    tile = bytearray()
    counter = 0
    while len(tile) < min(size, 65536):
        tile += hashlib.sha256(seed.to_bytes(8, "big") + counter.to_bytes(8, "big")).digest()
        counter += 1
    reps = -(-size // len(tile))
    return (bytes(tile) * reps)[:size]


Body = bytes | bytearray | memoryview | RepeatingBody | None


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""
    body_length: int = 0  # bytes received, whether kept or discarded

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def describe(self) -> str:
        """Short error description: status plus the S3 error code/message when present."""
        text = self.body[:400].decode("utf-8", "replace")
        code = _between(text, "<Code>", "</Code>")
        message = _between(text, "<Message>", "</Message>")
        if code:
            return f"{self.status} {code}: {message}".strip()
        return f"{self.status} {self.reason}".strip()


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    j = text.find(end, i + len(start))
    return text[i + len(start) : j] if j >= 0 else ""


class ProtocolError(Exception):
    """The server's response could not be parsed."""


@dataclass
class Endpoint:
    host: str
    port: int
    host_header: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"only plain http:// endpoints are supported, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"no host in endpoint {url!r}")
        port = parts.port or 80
        host = parts.hostname
        host_header = parts.netloc.rsplit("@", 1)[-1]
        return cls(host=host, port=port, host_header=host_header)


class _HttpProtocol(asyncio.BufferedProtocol):
    """Receives straight into one reusable buffer (``recv_into``, no per-read bytes objects).

    A body being discarded is swallowed inside :meth:`buffer_updated` without waking the
    reader at all, which is what lets one Python process read a large GET at loopback speed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buf = bytearray(_BUFFER_SIZE)
        self.start = 0  # unread data is buf[start:end]
        self.end = 0
        self.discard = 0  # body bytes still to drop as they arrive
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False

    # -- transport callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.start == self.end:
            self.start = self.end = 0
        elif len(self.buf) - self.end < _MIN_RECV:
            pending = self.end - self.start
            if self.start:
                self.buf[:pending] = self.buf[self.start : self.end]
                self.start, self.end = 0, pending
            if len(self.buf) - self.end < _MIN_RECV:
                self.buf.extend(bytes(len(self.buf)))  # a huge header block: grow
        return memoryview(self.buf)[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        if self.discard:
            take = min(self.discard, self.end - self.start)
            self.start += take
            self.discard -= take
            if self.discard:
                return
        if self.end - self.start > _READ_HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._read_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None:
            self.error = exc
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(ConnectionResetError("connection lost while sending"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- consumer side
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_data(self) -> None:
        """Wait until more data arrived or a pending discard completed; raise if closed."""
        if self.closed:
            raise self._closed_error()
        discarding = self.discard > 0
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if discarding and self.discard == 0:
            return
        if self.closed and self.start == self.end:
            raise self._closed_error()

    def _closed_error(self) -> BaseException:
        if isinstance(self.error, ConnectionError):
            return self.error
        return ConnectionResetError(str(self.error) if self.error else "connection closed")

    def consumed(self, n: int) -> None:
        self.start += n
        if self._read_paused and self.end - self.start < _READ_LOW_WATER:
            self._read_paused = False
            if self.transport is not None:
                self.transport.resume_reading()

    async def drain(self) -> None:
        if self.closed:
            raise self._closed_error()
        if self._write_paused:
            self._drain = self.loop.create_future()
            try:
                await self._drain
            finally:
                self._drain = None


class _Watchdog:
    """One task per event loop that aborts connections whose request is past its deadline."""

    _conns: ClassVar[weakref.WeakSet[Connection]] = weakref.WeakSet()
    _task: ClassVar[asyncio.Task[None] | None] = None
    _loop: ClassVar[asyncio.AbstractEventLoop | None] = None

    @classmethod
    def register(cls, conn: Connection) -> None:
        cls._conns.add(conn)
        loop = asyncio.get_running_loop()
        if cls._task is None or cls._task.done() or cls._loop is not loop:
            cls._loop = loop
            cls._task = loop.create_task(cls._run())

    @classmethod
    async def _run(cls) -> None:
        while cls._conns:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for conn in list(cls._conns):
                if conn.deadline is not None and now > conn.deadline:
                    conn._expire()


class Connection:
    """One HTTP/1.1 keep-alive connection. Not safe for concurrent use: one request at a time.

    Reconnects transparently when the server closed it (``Connection: close``, idle
    timeout); a request that failed on a reused connection before any response byte was
    received is retried once on a fresh connection.
    """

    def __init__(self, endpoint: Endpoint, signer: SigV4Signer) -> None:
        self.endpoint = endpoint
        self.signer = signer
        self._proto: _HttpProtocol | None = None
        self._got_bytes = False
        self.connects = 0
        self.deadline: float | None = None
        self.timed_out = False

    async def connect(self) -> None:
        if self._proto is not None and not self._proto.closed:
            return
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: _HttpProtocol(loop), self.endpoint.host, self.endpoint.port)
        self._proto = proto
        self.connects += 1

    async def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()

    def _abort(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None:
            proto.closed = True
            proto._wake()
            if proto.transport is not None:
                proto.transport.abort()

    async def request(
        self,
        method: str,
        bucket: str = "",
        key: str = "",
        *,
        query: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        keep_body: bool = True,
        time_limit: float | None = 120.0,
    ) -> Response:
        """Send one signed request and read the whole response.

        With ``keep_body=False`` the response body is received into the connection's
        buffer and dropped (only its length is kept) — for large GETs. ``time_limit`` bounds
        the whole exchange; on expiry the connection is dropped and ``TimeoutError`` raised.
        """
        path = "/"
        if bucket:
            path += quote_path(bucket)
            if key:
                path += "/" + quote_path(key)
        qs = canonical_query(query)
        hdrs: dict[str, str] = {"host": self.endpoint.host_header}
        if headers:
            hdrs.update((k.lower(), v) for k, v in headers.items())
        payload_hash = EMPTY_SHA256 if body is None else UNSIGNED_PAYLOAD
        self.signer.sign(method, path, qs, hdrs, payload_hash)
        if body is not None or method in ("PUT", "POST"):
            hdrs["content-length"] = str(0 if body is None else len(body))
        target = f"{path}?{qs}" if qs else path
        head = [f"{method} {target} HTTP/1.1\r\n"]
        head.extend(f"{k}: {v}\r\n" for k, v in hdrs.items())
        head.append("\r\n")
        head_bytes = "".join(head).encode("latin-1")

        # No asyncio.timeout() per request (it costs a timer handle each time): a shared
        # watchdog aborts connections whose request overran its deadline.
        self.deadline = (time.monotonic() + time_limit) if time_limit else None
        self.timed_out = False
        _Watchdog.register(self)
        try:
            for attempt in (0, 1):
                reused = self._proto is not None and not self._proto.closed
                await self.connect()
                try:
                    await self._send(head_bytes, body)
                    return await self._read_response(method, keep_body)
                except ConnectionError:
                    # A reused connection the server had closed while idle: nothing of a
                    # response arrived, so send the request again on a fresh one.
                    self._abort()
                    if attempt == 0 and reused and not self._got_bytes and not self.timed_out:
                        continue
                    raise
        except BaseException as exc:
            self._abort()
            if self.timed_out:
                raise TimeoutError(f"no complete response within {time_limit:g}s") from exc
            raise
        finally:
            self.deadline = None
        raise AssertionError("unreachable")

    def _expire(self) -> None:
        """Called by the watchdog when the current request overran its deadline."""
        self.timed_out = True
        self.deadline = None
        self._abort()

    async def _send(self, head: bytes, body: Body) -> None:
        proto = self._proto
        assert proto is not None and proto.transport is not None
        self._got_bytes = False
        t = proto.transport
        if body is None:
            t.write(head)
        elif isinstance(body, RepeatingBody):
            t.write(head)
            for chunk in body.chunks():
                t.write(chunk)
                await proto.drain()
            return
        elif len(body) <= 65536:
            t.write(head + bytes(body))
        else:
            t.write(head)
            t.write(body)
        await proto.drain()

    async def _read_response(self, method: str, keep_body: bool) -> Response:
        p = self._proto
        assert p is not None
        scanned = 0  # relative to p.start: the buffer may be compacted while we wait
        while True:
            i = p.buf.find(b"\r\n\r\n", p.start + max(0, scanned - 3), p.end)
            if i >= 0:
                break
            scanned = p.end - p.start
            if scanned:
                self._got_bytes = True
            if scanned > _MAX_HEADER:
                raise ProtocolError("response header block too large")
            await p.wait_data()
        self._got_bytes = True
        raw = bytes(p.buf[p.start : i])
        p.consumed(i + 4 - p.start)
        lines = raw.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
            raise ProtocolError(f"bad status line {lines[0]!r}")
        status = int(status_line[1])
        reason = status_line[2] if len(status_line) > 2 else ""
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()

        if 100 <= status < 200:  # e.g. an unsolicited 100 Continue: the real one follows
            return await self._read_response(method, keep_body)
        close = headers.get("connection", "").lower() == "close" or status_line[0] == "HTTP/1.0"
        resp = Response(status=status, reason=reason, headers=headers)
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            await self._read_chunked(resp, keep_body)
        elif "content-length" in headers:
            await self._read_exact(resp, int(headers["content-length"]), keep_body)
        else:
            await self._read_to_eof(resp, keep_body)
            close = True
        if close:
            await self.close()
        return resp

    async def _read_exact(self, resp: Response, n: int, keep_body: bool) -> None:
        p = self._proto
        assert p is not None
        parts: list[bytes] = []
        left = n
        while left:
            avail = p.end - p.start
            if avail:
                take = min(avail, left)
                if keep_body:
                    parts.append(bytes(p.buf[p.start : p.start + take]))
                p.consumed(take)
                left -= take
                continue
            if not keep_body:
                p.discard = left  # swallowed as it arrives; wakes us once done
                try:
                    await p.wait_data()
                finally:
                    left = p.discard
                    p.discard = 0
                continue
            await p.wait_data()
        resp.body_length += n
        if keep_body:
            resp.body += b"".join(parts)

    async def _readline(self) -> bytes:
        p = self._proto
        assert p is not None
        while True:
            i = p.buf.find(b"\n", p.start, p.end)
            if i >= 0:
                line = bytes(p.buf[p.start : i + 1])
                p.consumed(i + 1 - p.start)
                return line
            if p.end - p.start > _MAX_HEADER:
                raise ProtocolError("line too long")
            await p.wait_data()

    async def _read_chunked(self, resp: Response, keep_body: bool) -> None:
        while True:
            size_line = await self._readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ProtocolError(f"bad chunk size line {size_line!r}") from exc
            if size == 0:
                while (await self._readline()) not in (b"\r\n", b"\n"):
                    pass  # trailers
                return
            await self._read_exact(resp, size, keep_body)
            if (await self._readline()) not in (b"\r\n", b"\n"):
                raise ProtocolError("missing CRLF after chunk")

    async def _read_to_eof(self, resp: Response, keep_body: bool) -> None:
        p = self._proto
        assert p is not None
        parts: list[bytes] = []
        while True:
            avail = p.end - p.start
            if avail:
                if keep_body:
                    parts.append(bytes(p.buf[p.start : p.end]))
                resp.body_length += avail
                p.consumed(avail)
            if p.closed:
                break
            try:
                await p.wait_data()
            except ConnectionError:
                if p.error is not None:
                    raise
                break
        if keep_body:
            resp.body += b"".join(parts)


@dataclass
class S3Client:
    """Factory for connections that share an endpoint and a signer."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    endpoint: Endpoint = field(init=False)
    signer: SigV4Signer = field(init=False)

    def __post_init__(self) -> None:
        # Comma-separated URLs: replicas of one store; connections go round-robin over them.
        self._endpoints = [Endpoint.parse(url) for url in self.endpoint_url.split(",")]
        self._next = 0
        self.endpoint = self._endpoints[0]
        self.signer = SigV4Signer(self.access_key, self.secret_key, self.region, "s3")

    def connection(self) -> Connection:
        endpoint = self._endpoints[self._next % len(self._endpoints)]
        self._next += 1
        return Connection(endpoint, self.signer)

    async def connections(self, n: int) -> list[Connection]:
        """``n`` connected connections (opened concurrently)."""
        conns = [self.connection() for _ in range(n)]
        await asyncio.gather(*(c.connect() for c in conns))
        return conns
