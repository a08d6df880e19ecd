"""The group committer: batched jobs, per-job rollback, visibility only after commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
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


def test_jobs_from_the_event_loop_commit_in_batches_and_fail_alone(pool: Pool) -> None:
    commits = GroupCommitter(pool)
    batches: list[int] = []

    def insert(n: int) -> Callable[[sqlite3.Connection], int]:
        def txn(c: sqlite3.Connection) -> int:
            if n == 7:
                c.execute("INSERT INTO t VALUES ('partial')")
                raise ValueError("job 7 fails")
            c.execute("INSERT INTO t VALUES (?)", (f"k{n}",))
            return n

        return txn

    async def main() -> list[int | BaseException]:
        # Each `after` sees its own transaction durable: the row is readable from another connection.
        def after(n: int) -> None:
            batches.append(n if f"k{n}" in _keys(pool) else -1)

        jobs = [commits.run_async(insert(n), after) for n in range(32)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(main())
    commits.close()
    assert [r for r in results if isinstance(r, BaseException)] == [results[7]]
    assert isinstance(results[7], ValueError)
    assert [r for r in results if not isinstance(r, BaseException)] == [n for n in range(32) if n != 7]
    assert sorted(batches) == [n for n in range(32) if n != 7]  # never for the failed job, never before commit
    assert _keys(pool) == {f"k{n}" for n in range(32) if n != 7}


def test_a_cancelled_caller_still_gets_its_after_call(pool: Pool) -> None:
    commits = GroupCommitter(pool)
    gate = threading.Event()
    after_called = threading.Event()

    def slow(c: sqlite3.Connection) -> str:
        gate.wait(timeout=60)
        c.execute("INSERT INTO t VALUES ('slow')")
        return "slow"

    async def main() -> None:
        task = asyncio.ensure_future(commits.run_async(slow, lambda _: after_called.set()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()  # the job, already handed over, commits after its caller gave up
        await asyncio.to_thread(after_called.wait, 60)

    asyncio.run(main())
    commits.close()
    assert after_called.is_set()
    assert _keys(pool) == {"slow"}
