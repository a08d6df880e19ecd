"""The bucket configuration a small PutObject decides on without reading SQLite first.

Every PutObject needs its bucket's object-lock default and default encryption, and the read
on the event loop cost more than the rest of the handler: an on-loop SQLite read hands the
GIL to the group-commit thread and waits to get it back. A small PUT (body up to
REPLAY_MAX) therefore decides on the bucket as this worker last read it, and its commit
names that configuration (ObjectWriter.commit's `bucket_extra`): the commit's own
transaction compares it with the bucket's row and refuses (BucketChanged) if another
request, in this worker or any other process, changed it since. The PUT then reads the
bucket again, decides again and commits the bytes it holds: a stale default can never be
committed. Object lock is a compliance feature; this is why the check is in the
transaction, not a time to live.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from smarts3.s3.context import Ctx
from smarts3.storage.base import BodyWriter, BucketInfo

# Bodies up to this size are held in memory while they stream, so a PUT whose commit
# finds a changed bucket can write them again with the new configuration.
REPLAY_MAX = 64 * 1024
_MAX_BUCKETS = 4096

_known: dict[tuple[int, str], BucketInfo] = {}


def known(ctx: Ctx) -> BucketInfo | None:
    """The bucket as last read here, if this request may decide on it: a body of a declared
    size up to REPLAY_MAX, and no 100-continue (a missing bucket must be refused before the
    client is asked for its body)."""
    if "100-continue" in ctx.headers.get("expect", "").lower():
        return None
    size = ctx.auth.decoded_length
    if size is None and not ctx.auth.payload.chunked:
        raw = ctx.headers.get("content-length", "")
        size = int(raw) if raw.isdigit() else None
    if size is None or size > REPLAY_MAX:
        return None
    return _known.get((id(ctx.store), ctx.bucket_name))


def remember(ctx: Ctx, info: BucketInfo) -> None:
    if len(_known) >= _MAX_BUCKETS:
        _known.clear()
    _known[(id(ctx.store), info.name)] = info


def forget(ctx: Ctx) -> None:
    _known.pop((id(ctx.store), ctx.bucket_name), None)


class Holding:
    """A BodyWriter that passes everything on to `writer` and keeps it (at most REPLAY_MAX
    bytes: a larger body is not held, and `body` is then None)."""

    def __init__(self, writer: BodyWriter) -> None:
        self._writer = writer
        self._chunks: list[bytes] | None = []
        self._held = 0

    async def write(self, data: bytes) -> None:
        if self._chunks is not None:
            self._held += len(data)
            if self._held > REPLAY_MAX:
                self._chunks = None
            else:
                self._chunks.append(bytes(data))
        await self._writer.write(data)

    async def flush(self) -> None:
        await self._writer.flush()

    @property
    def size(self) -> int:
        return self._writer.size

    @property
    def md5(self) -> bytes:
        return self._writer.md5

    @property
    def body(self) -> bytes | None:
        return None if self._chunks is None else b"".join(self._chunks)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
