"""The PostgreSQL schema: the tables of db.py in PostgreSQL types, applied at start under an advisory lock.

Migrations are yoyo-migrations SQL files in `pgmigrations/` (`NNNN.name.sql`, applied in order,
each in one transaction, recorded in yoyo's `_yoyo_migration`). Whichever replica starts first
applies them while the others wait on a PostgreSQL advisory lock, which the server releases if
the holder dies; yoyo's own lock (a row, left behind by a holder killed mid-migration) is only
ever taken under it, so a row found there is stale and cleared.

Differences from the SQLite schema: keys are `bytea` (ordered bytewise, like SQLite's BLOB,
which is S3's UTF-8 binary order); text that is ordered or compared (bucket names, upload ids)
uses the "C" collation so order never depends on the cluster's locale; the `versions`
primary key ascends (PostgreSQL scans a B-tree backwards as cheaply). Usage counters are kept
by triggers as in SQLite, but sharded per backend: every write of a bucket updating one
counter row would make concurrent writers of a bucket wait for each other's commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import DatabaseURI

# pg_advisory_lock keys (64-bit): schema migration, and the one replica that sweeps orphans.
SCHEMA_LOCK = 0x736D61727473_0001
SWEEP_LOCK = 0x736D61727473_0002
MULTIPART_LOCK = 0x736D61727473_0003  # held for as long as a replica runs the multipart/lifecycle sweeper

MIGRATIONS_DIR = Path(__file__).with_name("pgmigrations")
# Databases made before yoyo recorded their version in this table (version 1 = 0001.initial).
_LEGACY_TABLE = "smarts3_schema"
_LEGACY_VERSIONS = ("0001.initial",)


class _Backend(PostgresqlPsycopgBackend):  # type: ignore[misc]  # yoyo is untyped: its classes are Any
    """yoyo's psycopg 3 backend on a libpq DSN as smarts3 takes it (URL or key=value, any libpq
    option), not a yoyo URI: the DSN rides in the URI's args (yoyo copies a backend by its URI)."""

    @classmethod
    def for_dsn(cls, dsn: str) -> Any:
        database = conninfo_to_dict(dsn).get("dbname") or ""
        return cls(DatabaseURI("postgresql+psycopg", None, None, None, None, database, {"dsn": dsn}), "_yoyo_migration")

    def connect(self, dburi: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(dburi.args["dsn"], autocommit=True)


def ensure_schema(dsn: str) -> None:
    """Create or upgrade the schema; concurrent starts wait on the advisory lock, and each
    migration commits with its record, so a replica that dies halfway leaves a consistent version."""
    backend = _Backend.for_dsn(dsn)
    conn: psycopg.Connection[Any] = backend.connection
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            migrations = read_migrations(str(MIGRATIONS_DIR))
            backend.init_database()
            if not _exists(conn, backend.lock_table):  # yoyo swallowed why it could not create it: say it
                with backend.transaction():
                    backend.execute(backend.format_sql(backend.create_lock_table_sql))
            backend.break_lock()  # under the advisory lock, a yoyo lock row is a dead holder's
            _adopt_legacy(conn, backend, migrations)
            known = {m.hash for m in migrations}
            unknown = [h for h in backend.get_applied_migration_hashes() if h not in known]
            if unknown:
                raise RuntimeError(f"the metadata schema has {len(unknown)} migration(s) this server does not know:"
                                   " it was made by a newer smarts3")
            with backend.lock():
                backend.apply_migrations(backend.to_apply(migrations))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
    finally:
        conn.close()


def _adopt_legacy(conn: psycopg.Connection[Any], backend: Any, migrations: Any) -> None:
    """A database whose schema versions were kept in `smarts3_schema`: its versions are marked as
    applied in yoyo's table, then the old table goes (a replica dying between the two redoes the
    marking, which skips what is marked)."""
    if not _exists(conn, _LEGACY_TABLE):
        return
    row = conn.execute(f"SELECT max(version) FROM {_LEGACY_TABLE}").fetchone()  # noqa: S608  (a constant)
    version = row[0] if row is not None and row[0] is not None else 0
    if version > len(_LEGACY_VERSIONS):
        raise RuntimeError(f"metadata schema {version} is newer than this server ({len(_LEGACY_VERSIONS)})")
    ids = set(_LEGACY_VERSIONS[:version])
    applied = set(backend.get_applied_migration_hashes())
    backend.mark_migrations([m for m in migrations if m.id in ids and m.hash not in applied])
    conn.execute(f"DROP TABLE {_LEGACY_TABLE}")


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])
