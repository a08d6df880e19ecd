"""A PostgreSQL restart or outage under a running server (a cluster of this module's own).

After a restart every pooled connection is dead: none may fail a request (pg.closed_by_server).
While the database is down `/_ready` answers 503 and `/_health` stays 200; once it is back,
`/_ready` answers 200 and requests succeed again (pgready.MetadataProbe).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError

from smarts3.config.settings import Settings
from smarts3.pytest_plugin import serving
from smarts3.storage.base import MetadataUnavailable
from smarts3.storage.fs import pg
from smarts3.storage.fs.pgready import MetadataProbe
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.postgres import PostgresCluster, pooled_connections


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pg_server(own_postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    dsn = own_postgres_cluster.new_database()
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(data_dir=data_dir, access_key=ACCESS_KEY, secret_key=SECRET_KEY, metadata=dsn,
                        fsync="never")
    with serving(settings) as url:
        yield Server(url, Path(data_dir), metadata=dsn)


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return -1


def test_requests_after_a_restart_succeed(pg_server: Server, own_postgres_cluster: PostgresCluster) -> None:
    s3: Any = pg_server.client(max_pool_connections=16)  # no retries: a failed request fails the test
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    with ThreadPoolExecutor(12) as pool:  # concurrent requests: the pool grows to several connections
        list(pool.map(lambda _: s3.head_object(Bucket=bucket, Key="k"), range(200)))
    pooled = pooled_connections(pg_server.metadata)
    assert pooled >= 2, pooled
    own_postgres_cluster.restart()  # every pooled connection is now closed by the server
    for i in range(2 * pooled + 4):  # one at a time: each checkout meets a dead connection first
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"before"
        s3.put_object(Bucket=bucket, Key=f"after-{i}", Body=b"after")
    with ThreadPoolExecutor(12) as pool:
        heads = list(pool.map(lambda i: s3.head_object(Bucket=bucket, Key=f"after-{i % 4}"), range(48)))
    assert all(h["ContentLength"] == 5 for h in heads)


def test_ready_follows_the_database_and_health_does_not(pg_server: Server,
                                                        own_postgres_cluster: PostgresCluster) -> None:
    ready, health = pg_server.url + "/_ready", pg_server.url + "/_health"
    assert status(ready) == 200
    s3: Any = pg_server.client()  # one attempt: the answer itself is under test
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    own_postgres_cluster.pause()
    try:
        wait_for(lambda: status(ready) == 503, 60, "/_ready to answer 503 while PostgreSQL is down")
        assert "metadata database" in httpx.get(ready, timeout=10).text
        assert status(health) == 200  # liveness: restarting smarts3 would not bring the database back
        assert status(ready) == 503
        # A request meanwhile: 503 ServiceUnavailable (SDKs retry it) after the checkout timeout, never a 500.
        started = time.monotonic()
        with pytest.raises(ClientError) as refused:
            s3.head_object(Bucket=bucket, Key="k")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key="k", Body=b"lost")
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert time.monotonic() - started < 60
    finally:
        own_postgres_cluster.resume()
    wait_for(lambda: status(ready) == 200, 60, "/_ready to answer 200 once PostgreSQL is back")
    assert status(health) == 200
    s3.put_object(Bucket=bucket, Key="k", Body=b"back")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"back"


def test_the_pool_reconnects_promptly_after_a_long_outage(own_postgres_cluster: PostgresCluster) -> None:
    """psycopg_pool waits 1 s, then doubling, between reconnection attempts. With its default
    reconnect_timeout (5 minutes) a 20 s outage put the next attempt about 10 s after the
    database was back, and every request meanwhile was answered 503 (pg.RECONNECT_TIMEOUT)."""
    dsn = own_postgres_cluster.new_database()
    pool = pg.PgPool(dsn, init=lambda: None, max_size=4, checkout_timeout=1.0)

    def select_one() -> bool:
        try:
            with pool.conn() as c:
                return bool(c.execute("SELECT 1").fetchone() == (1,))
        except MetadataUnavailable:
            return False

    try:
        assert select_one()
        own_postgres_cluster.pause()
        try:
            outage_ends = time.monotonic() + 20
            while time.monotonic() < outage_ends:  # requests keep meeting the outage
                assert not select_one()
        finally:
            own_postgres_cluster.resume()
        wait_for(select_one, 5, "a pooled connection within 5 s of the database's return")
    finally:
        pool.close()


def test_ready_probes_are_cached(own_postgres_cluster: PostgresCluster) -> None:
    """Many probes, one query: the probe's connection (application_name smarts3-ready) runs its
    SELECT 1 at most once per ttl, however often /_ready is asked."""
    dsn = own_postgres_cluster.new_database()  # no server's probe there

    def last_probe_query() -> Any:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT state_change FROM pg_stat_activity"
                                " WHERE datname = current_database() AND application_name = 'smarts3-ready'"
                                " AND query = 'SELECT 1'").fetchall()
        assert len(rows) == 1, rows
        return rows[0][0]

    async def probes(probe: MetadataProbe, n: int) -> list[str | None]:
        return [await probe.problem() for _ in range(n)]

    cached = MetadataProbe(dsn, ttl=600)
    try:
        assert anyio.run(probes, cached, 1) == [None]
        first = last_probe_query()
        assert anyio.run(probes, cached, 100) == [None] * 100
        assert last_probe_query() == first  # no query since the first
    finally:
        cached.close()
    uncached = MetadataProbe(dsn, ttl=0)
    try:
        anyio.run(probes, uncached, 1)
        first = last_probe_query()
        wait_for(lambda: anyio.run(probes, uncached, 1) == [None] and last_probe_query() != first, 30,
                 "a probe with ttl 0 to query again")  # the measure above can see a query
    finally:
        uncached.close()
