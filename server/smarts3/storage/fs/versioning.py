"""Versioning inside write transactions: where a replaced current version goes, delete
markers, deleting one version for good, and finding a version by id.

The tables (db.py): `objects` holds the current version of each key that has one,
`versions` every noncurrent version and every delete marker. Invariant, kept by every
function here: when a key has no `objects` row, its newest `versions` row (if any) is a
delete marker. `seq` orders a key's versions; a new version gets max(now in ns, newest + 1),
so it sorts first even if the clock steps back, and the id of a non-null version starts
with that seq in hex: ids are unique, opaque to clients and sortable.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any

from smarts3.storage.base import BucketChanged, DeleteOutcome, NoSuchBucket
from smarts3.storage.fs.rows import BUCKET_STATE_SQL, OBJECT_COLUMNS, ObjectRow, dec_key, fetch_object, object_row

NULL = "null"
ENABLED = "Enabled"
SUSPENDED = "Suspended"

_DATA_COLUMNS = "bucket, key, seq, version_id, size, etag, last_modified, meta, checksum_algos, checksum_type," \
    " part_checksums, segments, body"
_VERSION_COLUMNS = f"{OBJECT_COLUMNS}, marker"


def bucket_state(c: sqlite3.Connection, bucket: str, expect_extra: Mapping[str, str] | None = None) -> str:
    """The bucket's versioning status ("" when never enabled); NoSuchBucket if it is gone.
    With `expect_extra` (the configuration a caller decided on), BucketChanged unless the
    bucket's extra is still that: read in the transaction of the write it guards, so no
    change can slip between."""
    row = c.execute(BUCKET_STATE_SQL, (bucket,)).fetchone()
    if row is None:
        raise NoSuchBucket(bucket)
    if expect_extra is not None and json.loads(row[1]) != expect_extra:
        raise BucketChanged(bucket)
    state: str = row[0]
    return state


def _version_row(bucket: str, row: tuple[Any, ...] | None) -> ObjectRow | None:
    return None if row is None else object_row(bucket, row, bool(row[10]))


def newest_noncurrent(c: sqlite3.Connection, bucket: str, key: bytes) -> ObjectRow | None:
    sql = f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1"  # noqa: S608
    return _version_row(bucket, c.execute(sql, (bucket, key)).fetchone())


def fetch_version(c: sqlite3.Connection, bucket: str, key: bytes, version_id: str) -> ObjectRow | None:
    """The version with this id, current or not (a delete marker included)."""
    current = fetch_object(c, bucket, key)
    if current is not None and current.version_id == version_id:
        return current
    sql = f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? AND version_id = ?"  # noqa: S608
    return _version_row(bucket, c.execute(sql, (bucket, key, version_id)).fetchone())


def _next_seq(c: sqlite3.Connection, bucket: str, key: bytes, current: ObjectRow | None) -> int:
    if current is not None:
        top = current.seq
    else:
        newest = newest_noncurrent(c, bucket, key)
        top = newest.seq if newest is not None else 0
    return max(time.time_ns(), top + 1)


def _new_id(seq: int) -> str:
    return f"{seq:016x}{secrets.token_hex(8)}"


def _archive_current(c: sqlite3.Connection, bucket: str, key: bytes) -> None:
    """Move the current version into `versions` (the caller replaces or deletes the objects row)."""
    c.execute(
        f"INSERT INTO versions ({_DATA_COLUMNS}) SELECT {_DATA_COLUMNS} FROM objects"  # noqa: S608
        " WHERE bucket = ? AND key = ?",
        (bucket, key),
    )


def _drop_null_noncurrent(c: sqlite3.Connection, bucket: str, key: bytes) -> list[str]:
    row = _version_row(
        bucket,
        c.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? AND version_id = ?",  # noqa: S608
            (bucket, key, NULL),
        ).fetchone(),
    )
    if row is None:
        return []
    c.execute("DELETE FROM versions WHERE bucket = ? AND key = ? AND seq = ?", (bucket, key, row.seq))
    return row.body_ids


def place_current(
    c: sqlite3.Connection, bucket: str, key: bytes, state: str, current: ObjectRow | None
) -> tuple[tuple[str, int], list[str]]:
    """Make room for a new current version: (its version id and seq, body ids to unlink).

    The caller then writes the objects row (put_object_row with `version=`). Unversioned:
    the old row is simply replaced. Enabled: it becomes noncurrent. Suspended: the new
    version is "null" and replaces whichever null version the key had.
    """
    if not state:
        return (NULL, 0), current.body_ids if current is not None else []
    seq = _next_seq(c, bucket, key, current)
    garbage: list[str] = []
    if state == ENABLED:
        if current is not None:
            _archive_current(c, bucket, key)
        return (_new_id(seq), seq), garbage
    if current is not None:
        if current.version_id == NULL:
            garbage.extend(current.body_ids)
        else:
            _archive_current(c, bucket, key)
    garbage.extend(_drop_null_noncurrent(c, bucket, key))
    return (NULL, seq), garbage


def _promote(c: sqlite3.Connection, bucket: str, key: bytes) -> None:
    """After the current version went away: the newest noncurrent one becomes current,
    unless it is a delete marker (which then is current by the invariant)."""
    newest = newest_noncurrent(c, bucket, key)
    if newest is None or newest.marker:
        return
    c.execute(
        f"INSERT INTO objects ({_DATA_COLUMNS}) SELECT {_DATA_COLUMNS} FROM versions"  # noqa: S608
        " WHERE bucket = ? AND key = ? AND seq = ?",
        (bucket, key, newest.seq),
    )
    c.execute("DELETE FROM versions WHERE bucket = ? AND key = ? AND seq = ?", (bucket, key, newest.seq))


def _add_marker(c: sqlite3.Connection, bucket: str, key: bytes, version_id: str, seq: int) -> None:
    c.execute(
        "INSERT INTO versions (bucket, key, seq, version_id, marker, size, etag, last_modified, meta, segments)"
        " VALUES (?, ?, ?, ?, 1, 0, '', ?, '{}', '[]')",
        (bucket, key, seq, version_id, time.time()),
    )


def delete_one(
    c: sqlite3.Connection,
    bucket: str,
    key: bytes,
    version_id: str | None,
    state: str,
    keep: Callable[[ObjectRow], bool] | None = None,
) -> tuple[DeleteOutcome, list[str], bool]:
    """One DeleteObject inside a transaction: (outcome, body ids to unlink, something went).

    `keep(row)` may refuse the permanent removal of a version (never of a delete marker)."""
    name = dec_key(key)
    current = fetch_object(c, bucket, key)
    if version_id is None:
        if not state:
            if current is None:
                return DeleteOutcome(name, None, False), [], False
            c.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            return DeleteOutcome(name, None, False), current.body_ids, True
        seq = _next_seq(c, bucket, key, current)
        garbage: list[str] = []
        if state == ENABLED:
            marker_id = _new_id(seq)
            if current is not None:
                _archive_current(c, bucket, key)
        else:
            marker_id = NULL
            if current is not None and current.version_id == NULL:
                garbage.extend(current.body_ids)
            elif current is not None:
                _archive_current(c, bucket, key)
            garbage.extend(_drop_null_noncurrent(c, bucket, key))
        if current is not None:
            c.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        _add_marker(c, bucket, key, marker_id, seq)
        return DeleteOutcome(name, marker_id, True), garbage, True
    if current is not None and current.version_id == version_id:
        if keep is not None and keep(current):
            return DeleteOutcome(name, version_id, False, kept=True), [], False
        c.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        _promote(c, bucket, key)
        return DeleteOutcome(name, version_id, False), current.body_ids, True
    row = fetch_version(c, bucket, key, version_id)
    if row is None:
        return DeleteOutcome(name, version_id, False), [], False
    if not row.marker and keep is not None and keep(row):
        return DeleteOutcome(name, version_id, False, kept=True), [], False
    c.execute("DELETE FROM versions WHERE bucket = ? AND key = ? AND seq = ?", (bucket, key, row.seq))
    if current is None:
        _promote(c, bucket, key)
    return DeleteOutcome(name, version_id, row.marker), row.body_ids, True


def set_state(c: sqlite3.Connection, bucket: str, status: str) -> None:
    bucket_state(c, bucket)
    c.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, bucket))
