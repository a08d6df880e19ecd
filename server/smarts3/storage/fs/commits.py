"""Group commit: write transactions from many threads share one SQLite commit.

Each write used to be its own BEGIN IMMEDIATE … COMMIT under the process write lock.
Under load the lock holder needs the GIL back after every SQLite call while the event
loop keeps it busy, so commits crawled at a few hundred per second. One committer thread
now takes every job waiting, runs each inside its own SAVEPOINT (a job that raises rolls
back only its own changes) and commits them together: one WAL fsync and one lock hand-off
for the whole batch. A job's caller gets its result only after the batch committed, so
"acknowledged" still means "durable" under `fsync: always`.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from smarts3.storage.fs.db import Pool

T = TypeVar("T")

MAX_BATCH = 256


class _Job(Generic[T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.done = threading.Event()
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
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="smarts3-commit", daemon=True)
                self._thread.start()
            self._queue.put(job)  # type: ignore[arg-type]
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
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
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job[object]]) -> None:
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
        except BaseException as exc:  # the whole batch failed: nothing of it is visible
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.result = None
        finally:
            for job in batch:
                job.done.set()


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
