"""What every blocking storage operation needs: layout, connections, fsync policy.

The metadata seam is `Env.pool` (connections: `conn()`, `writer()`) and `Env.commits`
(`run(fn)`: one committed write transaction). SQLite (db.Pool, commits.GroupCommitter) is
the default; a `postgresql://` metadata URL selects PostgreSQL (pg.PgPool, pg.PgCommitter).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio.to_thread

from smarts3.storage.fs.commits import GroupCommitter
from smarts3.storage.fs.db import Pool, connect, ensure_schema
from smarts3.storage.fs.layout import Layout, unlink_quietly

T = TypeVar("T")


class MetaPool(Protocol):
    def conn(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def writer(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def close(self) -> None: ...


class Committer(Protocol):
    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    def close(self) -> None: ...


class Reaper:
    """Unlinks bodies that committed transactions stopped referencing.

    Off the request path: unlinking a freshly fsynced file costs about a
    millisecond on ext4, which would otherwise dominate DELETE latency and
    make a 1,000-key DeleteObjects take a second. A crash before the unlink
    leaves orphans, which recovery removes. The bounded queue pushes back on
    the worker threads (never the event loop) if unlinking falls behind.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=100_000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, paths: Iterable[str]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="smarts3-reaper", daemon=True)
                self._thread.start()
        for path in paths:
            self._queue.put(path)

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            try:
                if path is None:
                    return
                unlink_quietly(path)
            except OSError:
                pass  # left as an orphan for recovery
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        """Block until everything submitted so far is unlinked."""
        self._queue.join()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()


@dataclass(frozen=True, slots=True)
class Env:
    layout: Layout
    pool: MetaPool
    fsync: bool
    commits: Committer
    reaper: Reaper = field(default_factory=Reaper)
    inline_max: int = 0  # bodies up to this many bytes live in their row (inline.py); 0: none
    # Point reads may run on the event loop: true for SQLite (tens of microseconds from a warm
    # WAL), never for a database across the network.
    reads_on_loop: bool = True

    def unlink_bodies(self, body_ids: Iterable[str]) -> None:
        """Remove bodies no row references any more (called after the commit)."""
        self.reaper.submit([self.layout.body_path(body_id) for body_id in body_ids])

    async def commit(self, fn: Callable[[sqlite3.Connection], T], after: Callable[[T], None]) -> T:
        """`commits.run(fn)` from the event loop, then `after(result)` once it is durable (and
        even if the caller was cancelled meanwhile). The group committer takes the job straight
        from the loop; another committer (PostgreSQL's) runs both in a worker thread."""
        commits = self.commits
        if isinstance(commits, GroupCommitter):
            return await commits.run_async(fn, after)

        def work() -> T:
            result = commits.run(fn)
            after(result)
            return result

        return await anyio.to_thread.run_sync(work)

    def close(self) -> None:
        self.commits.close()
        self.reaper.close()
        self.pool.close()


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    """`fn` the first time the result is called (from any thread), nothing afterwards; a failure
    leaves it to the next call (the database may come up later)."""
    lock = threading.Lock()
    done = False

    def run() -> None:
        nonlocal done
        with lock:
            if not done:
                fn()
                done = True

    return run


def make_env(layout: Layout, *, fsync: bool, inline_max: int = 0, metadata: str = "", pool_size: int = 16) -> Env:
    """`pool_size`: the PostgreSQL connections of this process (SQLite opens one per thread)."""
    if metadata:
        return _make_pg_env(layout, fsync=fsync, inline_max=inline_max, dsn=metadata, pool_size=pool_size)

    def init() -> None:
        # Runs in the first worker thread that needs the database.
        layout.ensure(fsync=fsync)
        conn = connect(layout.db_path, fsync=fsync)
        try:
            ensure_schema(conn)
        finally:
            conn.close()

    pool = Pool(layout.db_path, fsync=fsync, init=_once(init))
    return Env(layout=layout, pool=pool, fsync=fsync, commits=GroupCommitter(pool), inline_max=inline_max)


def _make_pg_env(layout: Layout, *, fsync: bool, inline_max: int, dsn: str, pool_size: int) -> Env:
    from smarts3.storage.fs import pg, pgschema  # psycopg is an optional dependency

    if not pg.is_postgres(dsn):
        raise ValueError("metadata: expected empty (SQLite) or a postgresql:// URL")
    def init() -> None:
        layout.ensure(fsync=fsync)
        pgschema.ensure_schema(dsn)

    pool = pg.PgPool(dsn, init=_once(init), max_size=pool_size)
    return Env(
        layout=layout,
        pool=pool,
        fsync=fsync,
        commits=pg.PgCommitter(pool),
        inline_max=inline_max,
        reads_on_loop=False,
    )
