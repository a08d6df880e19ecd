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

# table -> its primary key columns (the tables are WITHOUT ROWID)
_TABLES = {"objects": ("bucket", "key"), "versions": ("bucket", "key", "seq"), "uploads": ("upload_id",)}


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
                meta = json.loads(row[-1])
                raw = meta.get("extra", {}).get(EXTRA_KEY)
                if raw is None:
                    continue
                new = rewrapped(keyring, Record.decode(raw))
                if new is None:
                    report.current += 1
                    continue
                meta["extra"][EXTRA_KEY] = new.encode()
                where = " AND ".join(f"{k} = ?" for k in keys)
                conn.execute(
                    f"UPDATE {table} SET meta = ? WHERE {where}",  # noqa: S608 - fixed names
                    (json.dumps(meta), *row[:-1]),
                )
                report.rewrapped += 1
    return report


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
                raw = json.loads(row[-1]).get("extra", {}).get(EXTRA_KEY)
                if raw is not None and rewrapped(keyring, Record.decode(raw)) is None:
                    report.current += 1
                elif raw is not None:
                    todo.append((table, tuple(row[:-1])))
    for table, pk_and_bucket in todo:
        if commits.run(partial(_rewrap_one, keyring, table, pk_and_bucket)):
            report.rewrapped += 1
        else:
            report.current += 1
    return report


def _rewrap_one(keyring: Keyring, table: str, pk_and_bucket: tuple[Any, ...], conn: sqlite3.Connection) -> bool:
    """One record under its lock: False if it is gone or already current since the first pass."""
    keys = _TABLES[table]
    pk, bucket = pk_and_bucket[:-1], str(pk_and_bucket[-1])
    if table == "uploads":
        hold_upload(conn, bucket, str(pk[0]))
    else:
        hold_key(conn, bucket, bytes(pk[1]))
    where = " AND ".join(f"{k} = ?" for k in keys)
    row = conn.execute(f"SELECT meta FROM {table} WHERE {where}", pk).fetchone()  # noqa: S608 - fixed names
    if row is None:
        return False
    meta = json.loads(row[0])
    raw = meta.get("extra", {}).get(EXTRA_KEY)
    new = rewrapped(keyring, Record.decode(raw)) if raw is not None else None
    if new is None:
        return False
    meta["extra"][EXTRA_KEY] = new.encode()
    conn.execute(f"UPDATE {table} SET meta = ? WHERE {where}", (json.dumps(meta), *pk))  # noqa: S608 - fixed names
    return True
