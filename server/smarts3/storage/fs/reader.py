"""Opened objects: the row read and the body fds taken together.

Holding fds means a concurrent overwrite or delete (which unlinks the old
bodies after its commit) never disturbs a GET in progress. Small bodies are
read whole in the same thread hop as the row, so a small GET costs one hop.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

import anyio
import anyio.to_thread

from smarts3.storage.base import BadRange, BodyCipher, IntegrityError, ObjectInfo
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.objects import resolve_read_sync

CHUNK_BYTES = 1024 * 1024
SMALL_BYTES = 256 * 1024
_OPEN_ATTEMPTS = 20
# Read-ahead of sealed bodies (see FsObjectReader._read_ahead).
_AHEAD = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smarts3-unseal")


class FsObjectReader:
    def __init__(
        self,
        info: ObjectInfo,
        *,
        fds: list[int] | None = None,
        data: bytes | None = None,
        unsealer: Unsealer | None = None,
    ) -> None:
        self.info = info
        self._fds = fds or []
        self._data = data
        self._unsealer = unsealer
        self._ahead: Future[bytes] | None = None
        # Start offset of each segment, for bisecting a position to a segment.
        self._starts: list[int] = []
        pos = 0
        for size in info.part_sizes:
            self._starts.append(pos)
            pos += size

    async def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        if not 0 <= start <= end <= self.info.size:
            raise BadRange(f"[{start}, {end}) outside [0, {self.info.size})")
        if self._unsealer is not None and not self._unsealer.in_memory:
            async for chunk in self._read_ahead(start, end):
                yield chunk
            return
        pos = start
        while pos < end:
            n = min(CHUNK_BYTES, end - pos)
            if self._data is not None:
                chunk = self._data[pos : pos + n]
            elif self._unsealer is not None and self._unsealer.in_memory:
                chunk = self._pread(pos, n)  # small and sealed: opened chunk by chunk, on the loop
            else:
                chunk = await anyio.to_thread.run_sync(self._pread, pos, n)
            if not chunk:
                raise OSError(f"body of {self.info.key!r} is shorter than recorded")
            yield chunk
            pos += len(chunk)

    async def _read_ahead(self, start: int, end: int) -> AsyncIterator[bytes]:
        """A sealed body: the next piece is read and opened in a thread while this one is sent.

        Opening chunks costs CPU that plain reads do not; overlapping it with the send (and the
        disk read) keeps large GETs closer to plain speed. close() waits for a read in flight.
        """
        pos = start
        ahead = _AHEAD.submit(self._pread, pos, min(CHUNK_BYTES, end - pos)) if pos < end else None
        self._ahead = ahead
        while ahead is not None:
            chunk = await asyncio.wrap_future(ahead)
            if not chunk:
                raise OSError(f"body of {self.info.key!r} is shorter than recorded")
            pos += len(chunk)
            ahead = None
            if pos < end and self._fds:
                ahead = _AHEAD.submit(self._pread, pos, min(CHUNK_BYTES, end - pos))
            self._ahead = ahead
            yield chunk

    def _pread(self, pos: int, n: int) -> bytes:
        """Read up to n bytes at object offset pos, across segment boundaries."""
        out: list[bytes] = []
        i = bisect.bisect_right(self._starts, pos) - 1
        in_memory = self._unsealer is not None and self._unsealer.in_memory
        segments = len(self.info.part_sizes) if in_memory else len(self._fds)
        while n > 0 and i < segments:
            seg_start, seg_size = self._starts[i], self.info.part_sizes[i]
            off = pos - seg_start
            want = min(n, seg_size - off)
            if want > 0:
                if self._unsealer is not None:
                    got = self._unsealer.read(i, self._fds[i] if self._fds else -1, seg_size, off, want)
                else:
                    got = os.pread(self._fds[i], want, off)
                if len(got) < want:  # truncated file: report what we have
                    out.append(got)
                    break
                out.append(got)
                pos += want
                n -= want
            i += 1
        return out[0] if len(out) == 1 else b"".join(out)

    async def close(self) -> None:
        fds, self._fds = self._fds, []
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead.done():
            with anyio.CancelScope(shield=True):
                await asyncio.wait([asyncio.wrap_future(ahead)])  # never close fds it reads
        if fds:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close_all, fds)

    async def __aenter__(self) -> FsObjectReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Unsealer:
    """Reads plaintext out of sealed body files, opening only the chunks a range touches.

    Checked at open: every file's header (as the cipher wants them: part order) and its
    exact sealed length, so a truncated or padded file fails before anything is served.
    """

    def __init__(self, cipher: BodyCipher, fds: list[int], sizes: tuple[int, ...], *, load: bool = False) -> None:
        self._cipher = cipher
        self._headers = []
        # load: the sealed files are read whole now (small objects), and chunks are opened as read.
        self._files: list[bytes] | None = [] if load else None
        self._scratch = bytearray()
        for fd, size in zip(fds, sizes, strict=True):
            if os.fstat(fd).st_size != self.sealed_size(size):
                raise IntegrityError("sealed body file has the wrong length")
            if self._files is not None:
                self._files.append(os.pread(fd, self.sealed_size(size), 0))
            self._headers.append(os.pread(fd, cipher.header_size, 0))
        cipher.check_headers(self._headers)

    @property
    def in_memory(self) -> bool:
        return self._files is not None

    def sealed_size(self, size: int) -> int:
        c = self._cipher
        return c.header_size + size + self._chunks(size) * c.tag_size

    def _chunks(self, size: int) -> int:
        return max(1, -(-size // self._cipher.chunk_size))

    def read(self, segment: int, fd: int, size: int, off: int, want: int) -> bytes:
        c = self._cipher
        step = c.chunk_size + c.tag_size
        first, last = off // c.chunk_size, (off + want - 1) // c.chunk_size
        offset, length = c.header_size + first * step, (last - first + 1) * step
        if self._files is not None:
            raw = memoryview(self._files[segment])[offset : offset + length]
        else:
            # Into a buffer kept for the reader: no fresh megabyte (page faults) per read.
            if len(self._scratch) < length:
                self._scratch = bytearray(length)
            raw = memoryview(self._scratch)[: os.preadv(fd, [memoryview(self._scratch)[:length]], offset)]
        final = self._chunks(size) - 1
        out = []
        for n in range(first, last + 1):
            plain = c.open(self._headers[segment], n, raw[(n - first) * step : (n - first + 1) * step], n == final)
            expected = c.chunk_size if n < final else size - final * c.chunk_size
            if len(plain) != expected:
                raise IntegrityError("sealed chunk has the wrong length")
            out.append(plain)
        data = out[0] if len(out) == 1 else b"".join(out)
        start = off - first * c.chunk_size
        return data if start == 0 and want == len(data) else data[start : start + want]


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def open_sync(
    env: Env,
    bucket: str,
    key: bytes,
    version_id: str | None = None,
    cipher_for: Callable[[ObjectInfo], BodyCipher | None] | None = None,
) -> FsObjectReader:
    for _ in range(_OPEN_ATTEMPTS):
        with env.pool.conn() as c:
            row, versioned, inline = resolve_read_sync(c, bucket, key, version_id)
        if inline is not None:  # the bytes were in the row (inline.py)
            return FsObjectReader(row.info(versioned=versioned), data=inline)
        fds: list[int] = []
        try:
            for body_id in row.body_ids:
                fds.append(os.open(env.layout.body_path(body_id), os.O_RDONLY | os.O_CLOEXEC))
        except FileNotFoundError:
            # Overwritten or deleted between the row read and the open.
            _close_all(fds)
            continue
        except BaseException:
            _close_all(fds)
            raise
        info = row.info(versioned=versioned)
        unsealer = None
        try:
            cipher = None if cipher_for is None else cipher_for(info)
            if cipher is not None:
                small = row.size <= SMALL_BYTES
                unsealer = Unsealer(cipher, fds, info.part_sizes or (info.size,), load=small)
        except BaseException:
            _close_all(fds)
            raise
        if unsealer is not None and unsealer.in_memory:
            # Read whole, opened per range: a bad chunk fails only the reads that touch it.
            _close_all(fds)
            return FsObjectReader(info, unsealer=unsealer)
        if row.size > SMALL_BYTES:
            return FsObjectReader(info, fds=fds, unsealer=unsealer)
        reader = FsObjectReader(info, fds=fds, unsealer=unsealer)
        try:
            data = reader._pread(0, row.size)
        finally:
            _close_all(fds)
        return FsObjectReader(info, data=data)
    raise OSError(f"body files of {bucket}/{key!r} keep vanishing")
