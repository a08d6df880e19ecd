"""What every blocking storage operation needs: layout, connections, fsync policy."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from smarts3.storage.fs.commits import GroupCommitter
from smarts3.storage.fs.db import Pool, connect, ensure_schema
from smarts3.storage.fs.layout import Layout, unlink_quietly


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
    pool: Pool
    fsync: bool
    commits: GroupCommitter
    reaper: Reaper = field(default_factory=Reaper)
    inline_max: int = 0  # bodies up to this many bytes live in their row (inline.py); 0: none

    def unlink_bodies(self, body_ids: Iterable[str]) -> None:
        """Remove bodies no row references any more (called after the commit)."""
        self.reaper.submit([self.layout.body_path(body_id) for body_id in body_ids])

    def close(self) -> None:
        self.commits.close()
        self.reaper.close()
        self.pool.close()


@dataclass(slots=True)
class _Once:
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_env(layout: Layout, *, fsync: bool, inline_max: int = 0) -> Env:
    once = _Once()

    def init() -> None:
        # Runs in the first worker thread that needs the database.
        with once.lock:
            if once.done:
                return
            layout.ensure(fsync=fsync)
            conn = connect(layout.db_path, fsync=fsync)
            try:
                ensure_schema(conn)
            finally:
                conn.close()
            once.done = True

    pool = Pool(layout.db_path, fsync=fsync, init=init)
    return Env(layout=layout, pool=pool, fsync=fsync, commits=GroupCommitter(pool), inline_max=inline_max)
