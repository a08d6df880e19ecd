"""A PostgreSQL connection that dies in the middle of a request (rerun.py, pg.PgConnection.lost).

Made deterministic by holding what the request waits for: the test takes the lock a request
needs on a connection of its own, waits (pg_stat_activity) until the server's backend waits
for it, terminates that backend, and only then lets go. Before its COMMIT the request is run
again on a fresh connection and succeeds, applied once; a connection lost during the COMMIT
(held there by a synchronous standby that never comes) answers 503 ServiceUnavailable and
leaves what the commit wrote intact. The clients make one attempt: a failure fails the test.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from botocore.exceptions import ClientError

from smarts3.config.settings import Settings
from smarts3.pytest_plugin import serving
from smarts3.storage.fs import pg
from smarts3.storage.fs.locks import hold_key
from smarts3.storage.fs.rerun import CommitInDoubt, ConnectionLost, committed, rerunning
from smarts3.storage.fs.rows import enc_key
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.postgres import PostgresCluster

T = TypeVar("T")
BODY = os.urandom(100 * 1024)  # above the inline threshold: a body file, which must survive a commit in doubt


def wait_for(find: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def dsn(own_postgres_cluster: PostgresCluster) -> str:
    dsn = own_postgres_cluster.new_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The test cluster runs with synchronous_commit off; on here, so that a synchronous
        # standby (test_a_commit_in_doubt_...) holds this database's commits.
        conn.execute(f'ALTER DATABASE "{conn.info.dbname}" SET synchronous_commit = on'.encode())
    return dsn


@pytest.fixture(scope="module")
def pg_server(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(data_dir=data_dir, access_key=ACCESS_KEY, secret_key=SECRET_KEY, metadata=dsn,
                        fsync="never")
    with serving(settings) as url:
        yield Server(url, Path(data_dir), metadata=dsn)


@pytest.fixture
def admin(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def waiting(admin: psycopg.Connection[Any], event: str, *, app: str = "smarts3", skip: int = 0) -> int | None:
    """The pid of a backend of `app` waiting on `event` (other than `skip`), or None. Each test's
    server or pool has a database of its own, but one cluster: `app` tells them apart."""
    row = admin.execute("SELECT pid FROM pg_stat_activity"
                        " WHERE application_name = %s AND wait_event = %s AND pid <> %s LIMIT 1",
                        (app, event, skip)).fetchone()
    return None if row is None else int(row[0])


def terminate(admin: psycopg.Connection[Any], pid: int) -> None:
    row = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert row == (True,)


def new_bucket(s3: Any, *, versioned: bool = False) -> str:
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def test_a_put_whose_connection_dies_before_its_commit_runs_again_once(pg_server: Server, dsn: str,
                                                                       admin: psycopg.Connection[Any]) -> None:
    s3: Any = pg_server.client()
    bucket = new_bucket(s3, versioned=True)  # a second application would show as a second version
    with psycopg.connect(dsn, autocommit=True) as holder, ThreadPoolExecutor(1) as pool:
        holder.execute("BEGIN")
        locker = pg.PgConnection(holder)
        hold_key(pg.as_sqlite(locker), bucket, enc_key("k"))  # the PUT's own locks
        locker.flush()  # queued until a statement needs sending (pg.PgConnection): take them now
        put = pool.submit(s3.put_object, Bucket=bucket, Key="k", Body=BODY)
        first = wait_for(lambda: waiting(admin, "advisory"), 60, "the PUT to wait for the key's lock")
        terminate(admin, first)  # mid-transaction, before its COMMIT
        wait_for(lambda: waiting(admin, "advisory", skip=first), 60, "the PUT to run again on another connection")
        holder.execute("ROLLBACK")
        version = put.result(timeout=60)["VersionId"]
    versions = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    assert [(v["Key"], v["VersionId"]) for v in versions] == [("k", version)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY


@pytest.mark.parametrize("read", ["get", "list"])
def test_a_read_whose_connection_dies_runs_again(pg_server: Server, dsn: str, admin: psycopg.Connection[Any],
                                                 read: str) -> None:
    s3: Any = pg_server.client()
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)

    def do_read() -> Any:
        if read == "get":
            # A query string keeps it off the fast path (s3/fast_read.py), which hands a failed
            # attempt to the generic path: that second read would hide whether the store reruns.
            return s3.get_object(Bucket=bucket, Key="k", ResponseContentType="application/x-test")["Body"].read()
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]

    with psycopg.connect(dsn, autocommit=True) as holder, ThreadPoolExecutor(1) as pool:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE objects IN ACCESS EXCLUSIVE MODE")  # every read of the table waits
        answer = pool.submit(do_read)
        first = wait_for(lambda: waiting(admin, "relation"), 60, "the read to wait for the table")
        terminate(admin, first)
        wait_for(lambda: waiting(admin, "relation", skip=first), 60, "the read to run again on another connection")
        holder.execute("ROLLBACK")
        assert answer.result(timeout=60) == (BODY if read == "get" else ["k"])


def insert(pool: pg.PgPool, in_transaction: bool, found: list[BaseException], sql: str) -> None:
    try:
        with pool.writer() if in_transaction else pool.conn() as c:
            c.execute(sql)
    except BaseException as exc:
        found.append(exc)


def test_the_pool_tells_a_lost_transaction_from_a_commit_in_doubt(dsn: str, admin: psycopg.Connection[Any]) -> None:
    """A statement lost inside a transaction: ConnectionLost (rolled back, rerunnable). A write
    outside a transaction is its own commit: CommitInDoubt. So is one inside: it is sent with
    the COMMIT, in one round trip (pg.PgConnection)."""
    admin.execute("CREATE TABLE IF NOT EXISTS doubt_probe (x int)")
    pool = pg.PgPool(dsn, init=lambda: None, max_size=2)
    try:
        for in_transaction, sql, expected in (
            (True, "SELECT count(*) FROM doubt_probe", ConnectionLost),
            (True, "INSERT INTO doubt_probe VALUES (1)", CommitInDoubt),
            (False, "INSERT INTO doubt_probe VALUES (1)", CommitInDoubt),
        ):
            with psycopg.connect(dsn, autocommit=True) as holder:
                holder.execute("BEGIN")
                holder.execute("LOCK TABLE doubt_probe IN ACCESS EXCLUSIVE MODE")
                found: list[BaseException] = []
                thread = threading.Thread(target=insert, args=(pool, in_transaction, found, sql))
                thread.start()
                terminate(admin, wait_for(lambda: waiting(admin, "relation"), 60, "the statement to wait"))
                thread.join(60)
                holder.execute("ROLLBACK")
            assert [type(e) for e in found] == [expected]
        with pool.conn() as c:  # the pool replaced the dead connections
            assert c.execute("SELECT count(*) FROM doubt_probe").fetchone() == (0,)
    finally:
        pool.close()


def test_an_operation_runs_again_only_if_it_committed_nothing() -> None:
    calls: list[int] = []

    def lose(commit_first: bool) -> Callable[[], str]:
        def op() -> str:
            calls.append(1)
            if len(calls) == 1:
                if commit_first:
                    committed()
                raise ConnectionLost("lost")
            return "done"
        return op

    assert rerunning(lose(commit_first=False)) == "done"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ConnectionLost):
        rerunning(lose(commit_first=True))  # a change was committed: running it again could repeat it
    assert len(calls) == 1


def wait_until_commits_wait_for_the_standby(cluster: PostgresCluster) -> None:
    """A reloaded synchronous_standby_names takes effect a moment later: commit on a probe
    connection until one waits for the standby (then cancel its wait: the commit completes)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS sync_probe (x int)")
        while True:
            with psycopg.connect(cluster.dsn(), autocommit=True, application_name="sync-probe") as probe:
                probe.execute("SET synchronous_commit = on")
                insert = threading.Thread(target=probe.execute, args=("INSERT INTO sync_probe VALUES (1)",))
                insert.start()
                try:
                    while insert.is_alive():
                        if waiting(admin, "SyncRep", app="sync-probe") is not None:
                            admin.execute("SELECT pg_cancel_backend(%s)", (probe.info.backend_pid,))
                            return
                        if time.monotonic() > deadline:
                            raise AssertionError("commits do not wait for the synchronous standby")
                        time.sleep(0.05)
                finally:
                    insert.join(60)
            # committed at once: the setting was not in force yet


def test_a_commit_in_doubt_answers_503_and_keeps_what_it_wrote(pg_server: Server, own_postgres_cluster: PostgresCluster,
                                                                admin: psycopg.Connection[Any]) -> None:
    s3: Any = pg_server.client()
    bucket = new_bucket(s3)
    with psycopg.connect(own_postgres_cluster.dsn(), autocommit=True) as system, ThreadPoolExecutor(1) as pool:
        system.execute("ALTER SYSTEM SET synchronous_standby_names = 'smarts3_test_absent'")
        system.execute("SELECT pg_reload_conf()")
        try:
            wait_until_commits_wait_for_the_standby(own_postgres_cluster)
            put = pool.submit(s3.put_object, Bucket=bucket, Key="k", Body=BODY)
            # Committed locally, waiting for the standby: the client cannot know whether it applied.
            terminate(admin, wait_for(lambda: waiting(admin, "SyncRep"), 60, "the PUT's COMMIT to wait"))
            with pytest.raises(ClientError) as refused:
                put.result(timeout=60)
        finally:
            system.execute("ALTER SYSTEM RESET synchronous_standby_names")
            system.execute("SELECT pg_reload_conf()")
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert error["Error"]["Code"] == "ServiceUnavailable"
    # The commit had applied: the object is there, and its body file was not removed as a failed write's.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY
    s3.put_object(Bucket=bucket, Key="k2", Body=b"after")  # commits go through again
