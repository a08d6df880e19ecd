"""Group commit: write transactions from many threads share one SQLite commit.

Each write used to be its own BEGIN IMMEDIATE … COMMIT under the process write lock.
Under load the lock holder needs the GIL back after every SQLite call while the event
loop keeps it busy, so commits crawled at a few hundred per second. One committer thread
now takes every job waiting, runs each inside its own SAVEPOINT (a job that raises rolls
back only its own changes) and commits them together: one WAL fsync and one lock hand-off
for the whole batch. A job's caller gets its result only after the batch committed, so
"acknowledged" still means "durable" under `fsync: always`.

The event loop hands its jobs over without a worker thread in between (`run_async`): a
thread that only waits for the committer cost a hop each way and a GIL hand-off per write.
Its jobs are settled by one callback per batch and loop, not one wake-up per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from smarts3.storage.fs.db import Pool

T = TypeVar("T")

MAX_BATCH = 256
# How long the committer sleeps before it takes a batch, when the previous batch had more
# than one job (a lone writer never waits). Over HTTP on one core, jobs reach it one by one
# and batches were ~1.8 PUTs; every batch costs BEGIN, COMMIT, a WAL fsync and two thread
# wake-ups whatever its size. Sleeping (not a timed queue wait, which wakes the thread per
# arriving job) let batches grow and cut the server's CPU per request 5-10 % (PUT 683 →
# 659 µs, DELETE 458 → 408 µs, benchmarks/README.md). Every job still waits for its commit.
LINGER_S = 0.0005


class _Job(Generic[T]):
    __slots__ = ("after", "done", "error", "fn", "future", "result")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], T],
        future: asyncio.Future[T] | None = None,
        after: Callable[[T], None] | None = None,
    ) -> None:
        self.fn = fn
        self.after = after
        # A thread's job waits on `done`; an event loop's on `future` (set on its loop).
        self.done: threading.Event | None = threading.Event() if future is None else None
        self.future = future
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommitter:
    """One thread per process that batches write transactions."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._queue: queue.SimpleQueue[_Job[object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` inside a write transaction; return once it is committed.

        Blocks the calling thread (never call it on the event loop). `fn` must not
        BEGIN or COMMIT itself, and must leave side effects outside the database to
        its caller, after this returns.
        """
        job: _Job[T] = _Job(fn)
        self._submit(job)
        assert job.done is not None
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    async def run_async(
        self, fn: Callable[[sqlite3.Connection], T], after: Callable[[T], None] | None = None
    ) -> T:
        """`run` for the event loop: the same transaction, awaited instead of blocking a thread.

        `fn` still runs in the committer thread. A job once submitted commits even if its
        caller is cancelled meanwhile, so what must follow the commit (unlinking the bodies
        it stopped referencing) goes in `after(result)`: the committer calls it once the
        batch is durable, whether or not anybody still waits."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._submit(_Job(fn, future, after))
        return await future

    def _submit(self, job: _Job[T]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="smarts3-commit", daemon=True)
                self._thread.start()
            self._queue.put(job)  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _loop(self) -> None:
        company = False
        while True:
            first = self._queue.get()
            if first is None:
                return
            if company:
                time.sleep(LINGER_S)
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            company = len(batch) > 1
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job[object]]) -> None:
        committed = False
        try:
            with self._pool.conn() as c, self._pool.write_lock:
                c.execute("BEGIN IMMEDIATE")
                try:
                    for job in batch:
                        _run_in_savepoint(c, job)
                    c.execute("COMMIT")
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                committed = True
        except BaseException as exc:  # the whole batch failed: nothing of it is visible
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.result = None
        try:
            if committed:
                _after_commit(batch)
        finally:
            _settle(batch)


def _after_commit(batch: list[_Job[object]]) -> None:
    for job in batch:
        if job.after is not None and job.error is None:
            # Committed all the same: bodies it fails to hand on are orphans for recovery.
            with contextlib.suppress(Exception):
                job.after(job.result)


def _run_in_savepoint(c: sqlite3.Connection, job: _Job[object]) -> None:
    c.execute("SAVEPOINT job")
    try:
        job.result = job.fn(c)
    except Exception as exc:
        c.execute("ROLLBACK TO job")
        c.execute("RELEASE job")
        job.error = exc
        return
    c.execute("RELEASE job")


def _settle(batch: list[_Job[object]]) -> None:
    """Wake every waiter of a committed (or failed) batch: threads one by one, each event
    loop once for all of its jobs."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job[object]]] = {}
    for job in batch:
        if job.future is None:
            assert job.done is not None
            job.done.set()
        else:
            by_loop.setdefault(job.future.get_loop(), []).append(job)
    for loop, jobs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, jobs)


def _resolve(jobs: list[_Job[object]]) -> None:
    for job in jobs:
        future = job.future
        assert future is not None
        if future.cancelled():
            continue
        if job.error is not None:
            future.set_exception(job.error)
        else:
            future.set_result(job.result)
