"""The operator's PostgreSQL settings: the pool size, and what start-up says when the database refuses."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from smarts3.config.settings import Settings
from smarts3.pytest_plugin import serving
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, free_port
from tests.postgres import PostgresCluster, pooled_connections


def test_the_pool_size_bounds_the_connections(postgres_dsn: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        metadata=postgres_dsn, metadata_pool_size=2, fsync="never")
    with serving(settings) as url:
        s3: Any = Server(url, tmp_path / "data").client(max_pool_connections=16)
        s3.create_bucket(Bucket="pool-size")
        with ThreadPoolExecutor(12) as pool:  # more concurrent requests than connections: they queue
            list(pool.map(lambda i: s3.put_object(Bucket="pool-size", Key=f"k{i}", Body=b"x"), range(48)))
            heads = list(pool.map(lambda i: s3.head_object(Bucket="pool-size", Key=f"k{i}"), range(48)))
        assert all(h["ContentLength"] == 1 for h in heads)
        assert 1 <= pooled_connections(postgres_dsn) <= 2


def serve_and_fail(dsn: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY, "SMARTS3_METADATA": dsn}
    return subprocess.run(
        [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data_dir), "--port", str(free_port()),
         "--metrics-port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize("refusal", ["missing database", "unknown role", "no right to create the schema"])
def test_a_refused_database_stops_start_up_with_one_clear_line(postgres_cluster: PostgresCluster, tmp_path: Path,
                                                               refusal: str) -> None:
    role = f"r_{uuid.uuid4().hex[:12]}"
    if refusal == "missing database":
        dsn, reason = postgres_cluster.dsn("no_such_database"), 'database "no_such_database" does not exist'
    elif refusal == "unknown role":
        dsn, reason = postgres_cluster.dsn().replace("postgres@", f"{role}@"), f'role "{role}" does not exist'
    else:  # PostgreSQL 15+: only the database owner creates in schema public
        database = postgres_cluster.new_database()
        with psycopg.connect(postgres_cluster.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN'.encode())
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, "{role}"'.encode())
        dsn, reason = database.replace("postgres@", f"{role}@"), "permission denied for schema public"
    result = serve_and_fail(dsn, tmp_path / "data")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("smarts3: PostgreSQL metadata: "), result.stderr
    assert reason in result.stderr, result.stderr
