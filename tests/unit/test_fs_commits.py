"""The group committer: batched jobs, per-job rollback, visibility only after commit."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from smarts3.storage.fs.commits import GroupCommitter
from smarts3.storage.fs.db import Pool, connect


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    path = tmp_path / "t.db"
    conn = connect(path, fsync=False)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    conn.close()
    return Pool(path, fsync=False, init=lambda: None)


def _keys(pool: Pool) -> set[str]:
    with pool.conn() as c:
        return {r[0] for r in c.execute("SELECT k FROM t")}


def test_jobs_from_many_threads_all_commit(pool: Pool) -> None:
    commits = GroupCommitter(pool)
    results: list[int] = []

    def worker(n: int) -> None:
        def txn(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t VALUES (?)", (f"k{n}",))
            return n

        results.append(commits.run(txn))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    commits.close()
    assert sorted(results) == list(range(64))
    assert _keys(pool) == {f"k{n}" for n in range(64)}


def test_a_failing_job_rolls_back_only_itself(pool: Pool) -> None:
    commits = GroupCommitter(pool)
    gate = threading.Event()
    outcomes: dict[str, object] = {}

    def blocker(c: sqlite3.Connection) -> None:
        gate.wait()  # holds the committer so the next jobs queue up into one batch
        c.execute("INSERT INTO t VALUES ('first')")

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES ('bad')")
        raise ValueError("precondition failed")

    def good(c: sqlite3.Connection) -> str:
        c.execute("INSERT INTO t VALUES ('good')")
        return "ok"

    def call(name: str, fn: object) -> None:
        try:
            outcomes[name] = commits.run(fn)  # type: ignore[arg-type]
        except ValueError as exc:
            outcomes[name] = exc

    first = threading.Thread(target=call, args=("first", blocker))
    first.start()
    others = [threading.Thread(target=call, args=(n, f)) for n, f in (("bad", bad), ("good", good))]
    for t in others:
        t.start()
    gate.set()
    for t in [first, *others]:
        t.join()
    commits.close()
    assert isinstance(outcomes["bad"], ValueError)
    assert outcomes["good"] == "ok"
    assert _keys(pool) == {"first", "good"}


def test_closed_committer_refuses_work(pool: Pool) -> None:
    commits = GroupCommitter(pool)
    commits.close()
    with pytest.raises(RuntimeError):
        commits.run(lambda c: None)
