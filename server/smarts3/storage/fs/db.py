"""SQLite schema and connection handling for the metadata database.

Every blocking call here runs in a worker thread. Correctness across
processes (several hypercorn workers share one data dir) rests only on SQLite
transactions: writers use BEGIN IMMEDIATE, readers see WAL snapshots and never
wait for writers. A process-local lock additionally queues this process's
writers so they do not spin in SQLite's busy handler against each other.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 4  # 2: bucket_usage and the triggers that keep it; 3: versioning (versions.py); 4: inline bodies

# Versioning (schema 3). `objects` stays the table of *current* versions, so unversioned
# GET/HEAD/PUT/LIST keep their one-row, primary-key paths and their speed. `versions` holds
# every noncurrent version and every delete marker; a key whose newest row here is a
# marker and that has no `objects` row is "deleted" (current version: the marker). `seq`
# orders the versions of one key (newest = highest), including "null" versions, whose id
# says nothing about their age. One row per version, each body referenced by one row.
#
# Keys are BLOBs of UTF-8 bytes: ORDER BY on a BLOB is memcmp, which is exactly
# S3's UTF-8 binary order. Segments are a JSON list of [body_id, size].
#
# Inline bodies (schema 4, inline.py): a small body lives in the row's `body` BLOB, written
# by the transaction that writes the row; such a row has no segments, and `body` is NULL
# for every row whose bytes are in files. `body` is the last column, so the other columns
# stay in the row's first (local) page and listings never read it.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    region TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    versioning TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    meta TEXT NOT NULL,
    checksum_algos TEXT NOT NULL DEFAULT '',
    checksum_type TEXT,
    part_checksums TEXT NOT NULL DEFAULT '[]',
    segments TEXT NOT NULL,
    version_id TEXT NOT NULL DEFAULT 'null',
    seq INTEGER NOT NULL DEFAULT 0,
    body BLOB,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    seq INTEGER NOT NULL,
    version_id TEXT NOT NULL,
    marker INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    meta TEXT NOT NULL,
    checksum_algos TEXT NOT NULL DEFAULT '',
    checksum_type TEXT,
    part_checksums TEXT NOT NULL DEFAULT '[]',
    segments TEXT NOT NULL,
    body BLOB,
    PRIMARY KEY (bucket, key, seq DESC)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_id ON versions (bucket, key, version_id);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiated REAL NOT NULL,
    meta TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksums TEXT NOT NULL,
    body TEXT NOT NULL,
    last_modified REAL NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
-- Completed multipart uploads, remembered for a grace period so a retried Complete
-- gets the same answer (parts: JSON [[number, etag]], result: JSON of the answer).
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    completed REAL NOT NULL,
    parts TEXT NOT NULL,
    result TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS completed_uploads_by_time ON completed_uploads (completed);
CREATE TABLE IF NOT EXISTS bucket_usage (
    bucket TEXT PRIMARY KEY,
    objects INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    uploads INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""

# Per-bucket usage kept by the database itself, in the transaction of every write, so a
# metrics scrape reads one row per bucket instead of counting every object row. Triggers
# rather than code at each write: no write path can forget them. (REPLACE would fire the
# delete triggers only with recursive_triggers on: writes use UPSERT, and connect() sets it
# anyway.) Each costs a primary-key update of a one-row-per-bucket table.
_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS usage_bucket_created AFTER INSERT ON buckets BEGIN
        INSERT OR REPLACE INTO bucket_usage (bucket) VALUES (NEW.name);
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_bucket_deleted AFTER DELETE ON buckets BEGIN
        DELETE FROM bucket_usage WHERE bucket = OLD.name;
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_object_added AFTER INSERT ON objects BEGIN
        UPDATE bucket_usage SET objects = objects + 1, bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_object_removed AFTER DELETE ON objects BEGIN
        UPDATE bucket_usage SET objects = objects - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_object_resized AFTER UPDATE OF bucket, size ON objects BEGIN
        UPDATE bucket_usage SET objects = objects - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
        UPDATE bucket_usage SET objects = objects + 1, bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
    END""",
    # Noncurrent versions (and delete markers, size 0) count in `bytes`, which is what the
    # bucket occupies on disk; `objects` counts current objects only, as ListObjectsV2 sees them.
    """CREATE TRIGGER IF NOT EXISTS usage_version_added AFTER INSERT ON versions BEGIN
        UPDATE bucket_usage SET bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_version_removed AFTER DELETE ON versions BEGIN
        UPDATE bucket_usage SET bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_upload_started AFTER INSERT ON uploads BEGIN
        UPDATE bucket_usage SET uploads = uploads + 1 WHERE bucket = NEW.bucket;
    END""",
    """CREATE TRIGGER IF NOT EXISTS usage_upload_ended AFTER DELETE ON uploads BEGIN
        UPDATE bucket_usage SET uploads = uploads - 1 WHERE bucket = OLD.bucket;
    END""",
)

# The full count the counters stand for: run once by the migration, and by tests to compare.
RECOUNT_USAGE = (
    "SELECT b.name,"
    " (SELECT COUNT(*) FROM objects o WHERE o.bucket = b.name),"
    " (SELECT COALESCE(SUM(o.size), 0) FROM objects o WHERE o.bucket = b.name)"
    " + (SELECT COALESCE(SUM(v.size), 0) FROM versions v WHERE v.bucket = b.name),"
    " (SELECT COUNT(*) FROM uploads u WHERE u.bucket = b.name)"
    " FROM buckets b"
)


def connect(path: Path, *, fsync: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves.
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA recursive_triggers = ON")  # see _TRIGGERS
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    with write_txn(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"metadata schema {version} is newer than this server ({SCHEMA_VERSION})")
        if 0 < version < 3:
            _add_version_columns(conn)
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        for stmt in _TRIGGERS:
            conn.execute(stmt)
        if 0 < version < 4:
            _add_columns(conn, (("objects", "body", "BLOB"), ("versions", "body", "BLOB")))
        if version < 2:  # once, in the transaction that adds the triggers: later writes keep it
            conn.execute(f"INSERT OR REPLACE INTO bucket_usage (bucket, objects, bytes, uploads) {RECOUNT_USAGE}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _add_version_columns(conn: sqlite3.Connection) -> None:
    """2 → 3 in place: ALTER TABLE ADD COLUMN with a constant default rewrites no row, so a
    large database opens as fast as before; every existing object becomes the current
    "null" version of its key (what S3 calls objects written before versioning was enabled)."""
    _add_columns(
        conn,
        (
            ("buckets", "versioning", "TEXT NOT NULL DEFAULT ''"),
            ("objects", "version_id", "TEXT NOT NULL DEFAULT 'null'"),
            ("objects", "seq", "INTEGER NOT NULL DEFAULT 0"),
        ),
    )


def _add_columns(conn: sqlite3.Connection, columns: tuple[tuple[str, str, str], ...]) -> None:
    """Each (table, column, declaration) the table lacks; 3 → 4 adds the NULL `body` columns
    the same way (no row rewritten: every existing body stays a file)."""
    for table, column, decl in columns:
        names = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in names:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A consistent snapshot across several statements (listing re-queries)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


class Pool:
    """A small pool of connections shared by worker threads.

    A connection is used by one thread at a time (checked out, then returned),
    so check_same_thread=False is safe. `init` (idempotent) runs before the
    first connection is made: it creates the layout and schema.
    """

    def __init__(self, path: Path, *, fsync: bool, init: Callable[[], None]) -> None:
        self._path = path
        self._init = init
        self._fsync = fsync
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.write_lock = threading.Lock()

    @contextmanager
    def conn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            c = self._idle.pop() if self._idle else None
        if c is None:
            self._init()
            c = connect(self._path, fsync=self._fsync)
            with self._lock:
                self._all.append(c)
        try:
            yield c
        finally:
            if c.in_transaction:  # never hand on a connection mid-transaction
                c.execute("ROLLBACK")
            with self._lock:
                self._idle.append(c)

    @contextmanager
    def writer(self) -> Iterator[sqlite3.Connection]:
        """A connection inside BEGIN IMMEDIATE, serialized within this process."""
        with self.conn() as c, self.write_lock, write_txn(c):
            yield c

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all, self._idle = self._all, [], []
        for c in conns:
            c.close()
