"""Body files: the temp file being written and the async writer around it.

Small writes are buffered and flushed to the temp file in worker threads at
least FLUSH_BYTES at a time, hashing in the same thread, so a 5 GiB body
neither blocks the event loop nor pays a thread hop per small chunk. A small
body never touches the disk before commit, where write, fsync, rename and the
database transaction share one thread hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self, TypeVar

import anyio
import anyio.to_thread

from smarts3.budget import BUDGET
from smarts3.storage.base import BodyCipher
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.layout import fsync_dir, new_body_id, unlink_quietly
from smarts3.storage.fs.rerun import CommitInDoubt, rerunning

FLUSH_BYTES = 1024 * 1024
# What an upload writes through at once while the process-wide memory budget is spent.
TIGHT_FLUSH_BYTES = 64 * 1024
EARLY_SYNC_BYTES = 4 * 1024 * 1024

# Early data syncs of bodies being written (see TempBody.append).
_SYNCER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smarts3-sync")

T = TypeVar("T")


class TempBody:
    """The blocking half: a file in tmp/ that becomes a committed body file.

    Every method runs in a worker thread.
    """

    def __init__(self, env: Env, sealer: Sealer | None = None) -> None:
        self.env = env
        self.sealer = sealer
        # Named at the first write: a body that goes inline (inline.py) never needs a file, and
        # drawing an id (os.urandom) for each small PUT was measurable.
        self._id: str | None = None
        self.hasher = hashlib.md5()  # noqa: S324 - S3's ETag, not security
        self._fd: int | None = None
        self.sealed = False
        self._unsynced = 0
        self._sync: Future[None] | None = None

    @property
    def body_id(self) -> str:
        if self._id is None:
            self._id = new_body_id()
        return self._id

    def append(self, chunks: list[bytes], hashed: int) -> None:
        """Write chunks; chunks[:hashed] are already in the hasher."""
        if self._fd is None:
            self._fd = self.env.layout.create_temp(self.body_id)
        for chunk in chunks[hashed:]:
            self.hasher.update(chunk)
        if self.sealer is not None:
            self._write_pieces([piece for chunk in chunks for piece in self.sealer.feed(chunk)])
            return
        self._write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def _write_pieces(self, pieces: list[bytes]) -> None:
        assert self._fd is not None
        views = [memoryview(p) for p in pieces if p]
        total = sum(len(v) for v in views)
        while views:
            n = os.writev(self._fd, views[:512])
            done = 0
            while done < len(views) and n >= len(views[done]):
                n -= len(views[done])
                done += 1
            views = views[done:]
            if views and n:
                views[0] = views[0][n:]
        self._written(total)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._written(len(data))

    def _written(self, n: int) -> None:
        assert self._fd is not None
        self._unsynced += n
        if self.env.fsync and self._unsynced >= EARLY_SYNC_BYTES and (self._sync is None or self._sync.done()):
            # Flush what is written so far while the rest still arrives: the fsync at seal()
            # then finds little left to write, instead of the whole body (disk and network
            # overlap; +30% on a 256 MiB PUT here). Never waited for, except before close.
            self._wait_sync()  # already done: raises if it failed, before a later one can "succeed"
            self._unsynced = 0
            self._sync = _SYNCER.submit(os.fdatasync, self._fd)

    def _wait_sync(self) -> None:
        sync, self._sync = self._sync, None
        if sync is not None:
            # Raised, not left to the final fsync: after a failed fsync Linux may report
            # the next one as a success although the pages were never written.
            error = sync.exception()
            if error is not None:
                raise error

    def seal(self) -> str:
        """Make the bytes durable and move them under bodies/; returns the id.

        The file is still unreferenced: only a database commit makes it part of
        an object, and recovery removes it if that commit never happens.
        """
        if self._fd is None:
            self.append([], 0)  # an empty body is still a file
        if self.sealer is not None:
            self._write_pieces(self.sealer.finish())
        assert self._fd is not None
        try:
            self._wait_sync()
            if self.env.fsync:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        os.rename(self.env.layout.tmp_path(self.body_id), self.env.layout.body_path(self.body_id))
        self.sealed = True
        if self.env.fsync:
            fsync_dir(self.env.layout.body_dir(self.body_id))
        return self.body_id

    @property
    def started(self) -> bool:
        return self._fd is not None

    def keep(self) -> None:
        """Leave the sealed body file in place whatever happens to its writer (a commit in doubt)."""
        self.sealed = False

    def discard(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self._wait_sync()  # never close an fd another thread is syncing
            os.close(self._fd)
            self._fd = None
        if self.sealed:
            unlink_quietly(self.env.layout.body_path(self.body_id))
        elif self._id is not None:
            unlink_quietly(self.env.layout.tmp_path(self._id))


class Sealer:
    """Plaintext in, the sealed body file out: header, then chunks sealed by a BodyCipher.

    Up to one chunk of plaintext is held back, so the chunk sealed as last is known to be
    the last one when finish() seals it (an empty body gets one empty last chunk). Pieces
    come out as a list for writev: no large buffer is built (fresh ones cost page faults).
    """

    def __init__(self, cipher: BodyCipher, part_number: int) -> None:
        self._cipher = cipher
        self._header = cipher.new_header(part_number)
        self._held = b""
        self._index = 0
        self._started = False

    def _seal(self, data: bytes | memoryview, last: bool) -> bytes:
        sealed = self._cipher.seal(self._header, self._index, data, last)
        self._index += 1
        return sealed

    def feed(self, data: bytes) -> list[bytes]:
        out = [] if self._started else [self._header]
        self._started = True
        size = self._cipher.chunk_size
        view = memoryview(data)
        if self._held:
            need = size - len(self._held)
            if len(view) <= need:  # still not more than one chunk: keep holding
                self._held += data
                return out
            out.append(self._seal(self._held + view[:need], False))
            view = view[need:]
        full = (len(view) - 1) // size if len(view) else 0  # keep 1..size bytes for finish()
        out.extend(self._seal(view[n * size : (n + 1) * size], False) for n in range(full))
        self._held = bytes(view[full * size :])
        return out

    def finish(self) -> list[bytes]:
        out = [] if self._started else [self._header]
        self._started = True
        out.append(self._seal(self._held, True))
        self._held = b""
        return out


class BufferedBodyWriter:
    """The async half shared by object and part writers.

    Subclasses implement `_enter_sync` (existence checks, in a thread) and a
    `commit` that calls `_commit_in_thread`.
    """

    def __init__(self, env: Env, cipher: BodyCipher | None = None, part_number: int = 0) -> None:
        self._env = env
        self._cipher = cipher
        self._body = TempBody(env, None if cipher is None else Sealer(cipher, part_number))
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_hashed = 0
        self._size = 0
        self._state = "new"  # new → open → done | failed
        # The flush running in a worker thread while the next batch arrives (double buffering).
        self._inflight: asyncio.Future[None] | None = None

    def _enter_sync(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        if self._env.reads_on_loop:
            self._enter_sync()  # a metadata point read: cheaper on the loop than a thread hop
        else:
            await anyio.to_thread.run_sync(rerunning, self._enter_sync)
        self._state = "open"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state == "done":
            return
        self._state = "failed"
        self._take_pending()
        # Shielded: a cancelled request must still leave no trace, and the flush in flight
        # must finish before the file it writes to is removed.
        with anyio.CancelScope(shield=True):
            if self._inflight is not None:
                await asyncio.wait([self._inflight])
                self._inflight = None
            if self._body.started or self._body.sealed:
                await anyio.to_thread.run_sync(self._body.discard)

    async def write(self, data: bytes) -> None:
        self._check_open()
        if not data:
            return
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        self._size += len(data)
        BUDGET.take(len(data))
        # Many slow uploads each holding almost FLUSH_BYTES add up: past the process budget,
        # buffers go to disk in small pieces.
        if self._pending_bytes >= FLUSH_BYTES or (BUDGET.spent and self._pending_bytes >= TIGHT_FLUSH_BYTES):
            await self.flush()
            chunks, hashed = self._take_pending()
            self._inflight = asyncio.get_running_loop().run_in_executor(None, self._body.append, chunks, hashed)

    async def flush(self) -> None:
        """Wait for the flush in flight (and raise its error, if any)."""
        inflight = self._inflight
        if inflight is not None:
            # Shielded: a cancelled request must not abandon a thread still writing the temp
            # file; __aexit__ waits for it (it stays in _inflight) before discarding.
            await asyncio.shield(inflight)
            self._inflight = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def md5(self) -> bytes:
        if self._inflight is not None:
            raise RuntimeError("await flush() before reading md5: a flush is still hashing")
        # Pending bytes are under FLUSH_BYTES: hashing them here is cheap, and
        # they are marked hashed so the flush does not hash them again.
        for chunk in self._pending[self._pending_hashed :]:
            self._body.hasher.update(chunk)
        self._pending_hashed = len(self._pending)
        return self._body.hasher.digest()

    @property
    def spilt(self) -> bool:
        """Some of the body went (or is going) to its temp file."""
        return self._body.started or self._inflight is not None

    def take_whole(self, limit: int) -> tuple[bytes, str] | None:
        """(the whole body, its MD5 in hex), taken out of the buffer, if none of it went to a
        file and it is at most `limit` bytes (an inline body, inline.py); else None and nothing
        changes. Hashes up to `limit` bytes where it is called (inline bodies: on the loop)."""
        if self.spilt or self._size > limit:
            return None
        chunks, hashed = self._take_pending()
        for chunk in chunks[hashed:]:
            self._body.hasher.update(chunk)
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), self._body.hasher.hexdigest()

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"body writer is {self._state}, not open")

    def _take_pending(self) -> tuple[list[bytes], int]:
        chunks, hashed = self._pending, self._pending_hashed
        BUDGET.release(self._pending_bytes)
        self._pending, self._pending_bytes, self._pending_hashed = [], 0, 0
        return chunks, hashed

    async def _commit_in_thread(self, publish: Callable[[str, str], T]) -> T:
        """Flush, seal and run `publish(body_id, md5_hex)` in one thread hop.

        `publish` runs the database transaction; if it raises, the sealed
        body is removed before the error propagates.
        """
        self._check_open()
        await self.flush()
        chunks, hashed = self._take_pending()

        def work() -> T:
            try:
                self._body.append(chunks, hashed)
                body_id = self._body.seal()
                digest = self._body.hasher.digest()
                result = publish(body_id, digest.hex() if self._cipher is None else self._cipher.etag(digest))
            except CommitInDoubt:
                # The committed row may name the body: it stays (an orphan for the sweep if not).
                self._state = "failed"
                self._body.keep()
                raise
            except BaseException:
                self._state = "failed"
                self._body.discard()
                raise
            self._state = "done"
            return result

        return await anyio.to_thread.run_sync(work)
