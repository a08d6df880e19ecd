"""Opened objects: the row read and the body fds taken together.

Holding fds means a concurrent overwrite or delete (which unlinks the old
bodies after its commit) never disturbs a GET in progress. Small bodies are
read whole in the same thread hop as the row, so a small GET costs one hop.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from smarts3.storage.base import BadRange, ObjectInfo
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.objects import resolve_read_sync

CHUNK_BYTES = 1024 * 1024
SMALL_BYTES = 256 * 1024
_OPEN_ATTEMPTS = 20


class FsObjectReader:
    def __init__(self, info: ObjectInfo, *, fds: list[int] | None = None, data: bytes | None = None) -> None:
        self.info = info
        self._fds = fds or []
        self._data = data
        # Start offset of each segment, for bisecting a position to a segment.
        self._starts: list[int] = []
        pos = 0
        for size in info.part_sizes:
            self._starts.append(pos)
            pos += size

    async def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        if not 0 <= start <= end <= self.info.size:
            raise BadRange(f"[{start}, {end}) outside [0, {self.info.size})")
        pos = start
        while pos < end:
            n = min(CHUNK_BYTES, end - pos)
            if self._data is not None:
                chunk = self._data[pos : pos + n]
            else:
                chunk = await anyio.to_thread.run_sync(self._pread, pos, n)
            if not chunk:
                raise OSError(f"body of {self.info.key!r} is shorter than recorded")
            yield chunk
            pos += len(chunk)

    def _pread(self, pos: int, n: int) -> bytes:
        """Read up to n bytes at object offset pos, across segment boundaries."""
        out: list[bytes] = []
        i = bisect.bisect_right(self._starts, pos) - 1
        while n > 0 and i < len(self._fds):
            seg_start, seg_size = self._starts[i], self.info.part_sizes[i]
            off = pos - seg_start
            want = min(n, seg_size - off)
            if want > 0:
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
        if fds:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close_all, fds)

    async def __aenter__(self) -> FsObjectReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def open_sync(env: Env, bucket: str, key: bytes, version_id: str | None = None) -> FsObjectReader:
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
        if row.size > SMALL_BYTES:
            return FsObjectReader(info, fds=fds)
        reader = FsObjectReader(info, fds=fds)
        try:
            data = reader._pread(0, row.size)
        finally:
            _close_all(fds)
        return FsObjectReader(info, data=data)
    raise OSError(f"body files of {bucket}/{key!r} keep vanishing")
