"""The PostgreSQL schema's migrations (pgschema.ensure_schema, yoyo-migrations under an advisory lock)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from smarts3.storage.fs import pgschema

pytestmark = pytest.mark.usefixtures("postgres_cluster")

TABLES = {"buckets", "objects", "versions", "uploads", "parts", "completed_uploads", "bucket_usage"}


def query(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql.encode(), params).fetchall()


def applied(dsn: str) -> list[str]:
    return [r[0] for r in query(dsn, "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc")]


def tables(dsn: str) -> set[str]:
    return {r[0] for r in query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def every_migration() -> list[str]:
    return sorted(p.stem for p in pgschema.MIGRATIONS_DIR.glob("*.sql"))


def test_a_fresh_database_gets_every_migration_once(postgres_dsn: str) -> None:
    pgschema.ensure_schema(postgres_dsn)
    assert tables(postgres_dsn) >= TABLES
    assert applied(postgres_dsn) == every_migration() == ["0001.initial"]
    pgschema.ensure_schema(postgres_dsn)  # a second start: nothing to do
    assert applied(postgres_dsn) == every_migration()


def test_concurrent_starts_apply_each_migration_once(postgres_dsn: str) -> None:
    with ThreadPoolExecutor(4) as pool:  # four replicas starting together
        list(pool.map(lambda _: pgschema.ensure_schema(postgres_dsn), range(4)))
    assert applied(postgres_dsn) == every_migration()


def test_a_lock_left_by_a_killed_replica_does_not_stop_the_next(postgres_dsn: str) -> None:
    """yoyo's lock is a row; a replica killed mid-migration leaves it, and yoyo alone would wait
    10 s and refuse ("run yoyo break-lock"). Under the advisory lock the row is known stale."""
    pgschema.ensure_schema(postgres_dsn)
    query(postgres_dsn, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999) RETURNING pid")
    started = time.monotonic()
    pgschema.ensure_schema(postgres_dsn)
    assert time.monotonic() - started < 5
    assert query(postgres_dsn, "SELECT count(*) FROM yoyo_lock") == [(0,)]


def test_a_database_from_before_yoyo_is_adopted_with_its_data(postgres_dsn: str) -> None:
    """Databases made when the schema version lived in `smarts3_schema` (version 1): the same
    tables, now recorded as yoyo's 0001.initial, data untouched, the old table gone."""
    initial = (pgschema.MIGRATIONS_DIR / "0001.initial.sql").read_text()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # what the earlier server did
        conn.execute(initial.encode())
        conn.execute("CREATE TABLE smarts3_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO smarts3_schema (version) VALUES (1)")
        conn.execute("INSERT INTO buckets (name, created, region) VALUES ('kept', 1, 'us-east-1')")
    pgschema.ensure_schema(postgres_dsn)
    assert applied(postgres_dsn) == ["0001.initial"]
    assert "smarts3_schema" not in tables(postgres_dsn)
    assert query(postgres_dsn, "SELECT name FROM buckets") == [("kept",)]


def test_a_schema_from_a_newer_server_is_refused(postgres_dsn: str) -> None:
    pgschema.ensure_schema(postgres_dsn)
    query(postgres_dsn, "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)"
                        " VALUES ('f00d', '9999.future', now()) RETURNING migration_id")
    with pytest.raises(RuntimeError, match="newer smarts3"):
        pgschema.ensure_schema(postgres_dsn)


def test_the_migrations_ship_in_the_package() -> None:
    """The SQL files sit inside the package directory the wheel is built from (hatch takes every file)."""
    assert pgschema.MIGRATIONS_DIR.parent == Path(pgschema.__file__).parent
    assert every_migration()
