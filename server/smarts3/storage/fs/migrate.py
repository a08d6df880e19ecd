"""Copy a data directory's SQLite index into PostgreSQL (`smarts3 admin migrate-metadata`).

Rows are copied as they are (keys, versions and their order, uploads in progress with their
parts, inline bodies); body files stay where they are, in the data directory the replicas
will share. One PostgreSQL transaction: a failed copy leaves the target as it was. The usage
triggers are off during the copy and the counters are recounted once at the end, rather
than one counter update per copied row. Afterwards the SQLite index is renamed, so that a
server started without the PostgreSQL URL cannot serve (or, worse, recover against) a
stale index; a marker file says where the metadata went (recovery.py refuses it).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg

from smarts3.storage.fs import pgschema
from smarts3.storage.fs.db import connect, ensure_schema
from smarts3.storage.fs.layout import Layout

TABLES: tuple[tuple[str, str], ...] = (
    ("buckets", "name, created, region, tags, extra, versioning"),
    ("objects", "bucket, key, size, etag, last_modified, meta, checksum_algos, checksum_type, part_checksums,"
                " segments, version_id, seq, body"),
    ("versions", "bucket, key, seq, version_id, marker, size, etag, last_modified, meta, checksum_algos,"
                 " checksum_type, part_checksums, segments, body"),
    ("uploads", "upload_id, bucket, key, initiated, meta"),
    ("parts", "upload_id, part_number, size, etag, checksums, body, last_modified"),
    ("completed_uploads", "upload_id, bucket, key, completed, parts, result"),
)
_TRIGGERS = (("buckets", "usage_buckets"), ("objects", "usage_objects"), ("versions", "usage_versions"),
             ("uploads", "usage_uploads"))
_RECOUNT = (
    "INSERT INTO bucket_usage (bucket, shard, objects, bytes, uploads) SELECT b.name, 0,"
    " (SELECT count(*) FROM objects o WHERE o.bucket = b.name),"
    " (SELECT coalesce(sum(o.size), 0) FROM objects o WHERE o.bucket = b.name)"
    " + (SELECT coalesce(sum(v.size), 0) FROM versions v WHERE v.bucket = b.name),"
    " (SELECT count(*) FROM uploads u WHERE u.bucket = b.name) FROM buckets b"
)
MARKER = "metadata-in-postgresql"  # recovery.py and shared.py name it too
MIGRATED_SUFFIX = ".migrated-to-postgresql"


class TargetNotEmpty(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Copied:
    rows: dict[str, int]


def postgres_marker(layout: Layout) -> Path:
    """Present once a data directory's metadata lives in PostgreSQL."""
    return layout.root / MARKER


def migrate(data_dir: Path, dsn: str, *, force: bool = False) -> Copied:
    """Copy; the caller holds the data directory's lock (the server is stopped)."""
    layout = Layout(Path(data_dir))
    src = connect(layout.db_path, fsync=True)
    try:
        ensure_schema(src)  # an older index is upgraded first, as the server would
        pgschema.ensure_schema(dsn)
        with psycopg.connect(dsn) as dst:  # one transaction, committed when the block ends
            counts = {t: _count(dst, t) for t, _ in TABLES}
            if any(counts.values()):
                if not force:
                    raise TargetNotEmpty(", ".join(f"{t}: {n} row(s)" for t, n in counts.items() if n))
                dst.execute("TRUNCATE " + ", ".join(t for t, _ in TABLES) + ", bucket_usage")
            for table, trigger in _TRIGGERS:
                dst.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}".encode())
            copied = {table: _copy(src, dst, table, cols) for table, cols in TABLES}
            for table, trigger in _TRIGGERS:
                dst.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}".encode())
            dst.execute("DELETE FROM bucket_usage")
            dst.execute(_RECOUNT)
    finally:
        src.close()
    postgres_marker(layout).write_text("the metadata of this data directory is in PostgreSQL (--metadata)\n")
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{layout.db_path}{suffix}")
        if path.exists():
            os.rename(path, f"{path}{MIGRATED_SUFFIX}")
    return Copied(copied)


def _count(dst: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = dst.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()  # noqa: S608 - fixed names
    return int(str(row[0])) if row is not None else 0


def _copy(src: sqlite3.Connection, dst: psycopg.Connection[tuple[object, ...]], table: str, cols: str) -> int:
    n = 0
    with dst.cursor().copy(f"COPY {table} ({cols}) FROM STDIN".encode()) as copy:
        for row in src.execute(f"SELECT {cols} FROM {table}"):  # noqa: S608 - fixed names
            copy.write_row(row)
            n += 1
    return n
