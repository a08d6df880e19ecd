"""Re-wrap data keys under the newest master key, in the metadata database only.

Bodies are sealed with the data key, not the master key, so rotation rewrites one small JSON
value per object, version and upload; no body is read or written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import partial
from typing import Any

from smarts3.sse.keys import Keyring
from smarts3.sse.record import EXTRA_KEY, Record, rewrapped
from smarts3.storage.fs.env import Committer, MetaPool
from smarts3.storage.fs.locks import hold_key, hold_upload

# table -> its primary key columns (the tables are WITHOUT ROWID), and the WHERE clause naming one row
_TABLES = {"objects": ("bucket", "key"), "versions": ("bucket", "key", "seq"), "uploads": ("upload_id",)}
_WHERE = {table: " AND ".join(f"{k} = ?" for k in keys) for table, keys in _TABLES.items()}


@dataclass(slots=True)
class RewrapReport:
    rewrapped: int = 0
    current: int = 0  # already under the newest master key, or not master-wrapped (SSE-C, named KMS keys)


def rewrap_all(conn: sqlite3.Connection, keyring: Keyring) -> RewrapReport:
    """One transaction: every record wrapped by an older master key gets the newest one.

    Raises record.MissingKey when a record names a master key the keyring lacks (nothing changes).
    """
    report = RewrapReport()
    with conn:
        for table, keys in _TABLES.items():
            cols = ", ".join(keys)
            rows = conn.execute(
                f"SELECT {cols}, meta FROM {table} WHERE meta LIKE ?",  # noqa: S608 - fixed names
                (f'%"{EXTRA_KEY}"%',),
            ).fetchall()
            for row in rows:
                has_record, new = _rewrapped_meta(keyring, row[-1])
                if new is not None:
                    conn.execute(f"UPDATE {table} SET meta = ? WHERE {_WHERE[table]}", (new, *row[:-1]))  # noqa: S608
                    report.rewrapped += 1
                elif has_record:
                    report.current += 1
    return report


def _rewrapped_meta(keyring: Keyring, meta_json: str) -> tuple[bool, str | None]:
    """(whether a row's meta carries an encryption record, that meta with the record re-wrapped
    under the newest master key, or None when there is nothing to re-wrap)."""
    meta = json.loads(meta_json)
    raw = meta.get("extra", {}).get(EXTRA_KEY)
    if raw is None:
        return False, None
    new = rewrapped(keyring, Record.decode(raw))
    if new is None:
        return True, None
    meta["extra"][EXTRA_KEY] = new.encode()
    return True, json.dumps(meta)


def rewrap_shared(pool: MetaPool, commits: Committer, keyring: Keyring) -> RewrapReport:
    """rewrap_all for PostgreSQL metadata, beside running replicas: each record is re-wrapped in a
    transaction of its own that holds the lock every write of its key (or upload) takes
    (storage/fs/locks.py) and reads the row again, so a concurrent overwrite is never undone.

    A first, read-only pass raises MissingKey before anything changes. The replicas must already
    have the newest master key in their keyring (they read what this writes)."""
    report = RewrapReport()
    todo: list[tuple[str, tuple[Any, ...]]] = []
    with pool.conn() as conn:
        for table, keys in _TABLES.items():
            cols = ", ".join(keys)
            rows = conn.execute(
                f"SELECT {cols}, bucket, meta FROM {table} WHERE meta LIKE ?",  # noqa: S608 - fixed names
                (f'%"{EXTRA_KEY}"%',),
            ).fetchall()
            for row in rows:
                has_record, new = _rewrapped_meta(keyring, row[-1])
                if new is not None:
                    todo.append((table, tuple(row[:-1])))
                elif has_record:
                    report.current += 1
    for table, pk_and_bucket in todo:
        if commits.run(partial(_rewrap_one, keyring, table, pk_and_bucket)):
            report.rewrapped += 1
        else:
            report.current += 1
    return report


def _rewrap_one(keyring: Keyring, table: str, pk_and_bucket: tuple[Any, ...], conn: sqlite3.Connection) -> bool:
    """One record under its lock: False if it is gone or already current since the first pass."""
    pk, bucket = pk_and_bucket[:-1], str(pk_and_bucket[-1])
    if table == "uploads":
        hold_upload(conn, bucket, str(pk[0]))
    else:
        hold_key(conn, bucket, bytes(pk[1]))
    row = conn.execute(f"SELECT meta FROM {table} WHERE {_WHERE[table]}", pk).fetchone()  # noqa: S608 - fixed names
    if row is None:
        return False
    _, new = _rewrapped_meta(keyring, row[0])
    if new is None:
        return False
    conn.execute(f"UPDATE {table} SET meta = ? WHERE {_WHERE[table]}", (new, *pk))  # noqa: S608 - fixed names
    return True
