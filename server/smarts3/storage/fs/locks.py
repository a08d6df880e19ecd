"""What a write transaction locks, so writes stay atomic when many replicas share one database.

SQLite runs one write transaction at a time, which makes every read-check-write sequence
(conditional writes, version order, delete markers, multipart completion) atomic for free.
On PostgreSQL, writers take transaction-scoped advisory locks first instead:

- a key: exclusive, by every write of that key (so reads after it see the last committed
  version and nobody else changes it until commit);
- a bucket: shared by every write into the bucket, exclusive by writes of the bucket itself
  (create, delete, versioning, configuration), so a bucket never disappears under a write;
- an upload: exclusive, by part commits, completion and abort.

Order, to rule out deadlocks: the bucket (shared) first, then every exclusive lock in
ascending order of its 64-bit id, in one go; a transaction that changes the bucket itself
takes nothing else. On SQLite the connection has no `advisory` method and these are no-ops.

A write of keys reads the bucket's versioning status and each key's current row right after
its locks (objects.py, versioning.py): on PostgreSQL those SELECTs go with the locks, in the
same round trip (pg.PgConnection.advisory). The statements are the ones those modules run
(rows.BUCKET_STATE_SQL, rows.CURRENT_ROW_SQL); tests/integration/test_pg_roundtrips.py counts the trips.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable

from smarts3.storage.fs.rows import BUCKET_STATE_SQL, CURRENT_ROW_SQL


def _id(kind: bytes, *parts: bytes) -> int:
    digest = hashlib.blake2b(b"\0".join((kind, *parts)), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _bucket(bucket: str) -> int:
    return _id(b"b", bucket.encode())


def hold_keys(c: sqlite3.Connection, bucket: str, keys: Iterable[bytes], upload_id: str | None = None) -> None:
    """Write keys of a bucket (and an upload being completed)."""
    advisory = getattr(c, "advisory", None)
    if advisory is None:
        return
    keys = list(keys)
    exclusive = [_id(b"k", bucket.encode(), key) for key in keys]
    if upload_id is not None:
        exclusive.append(_id(b"u", upload_id.encode()))
    prefetch: list[tuple[str, tuple[object, ...]]] = [(BUCKET_STATE_SQL, (bucket,))] if keys else []
    prefetch += [(CURRENT_ROW_SQL, (bucket, key)) for key in keys]
    advisory(shared=(_bucket(bucket),), exclusive=exclusive, prefetch=prefetch)


def hold_key(c: sqlite3.Connection, bucket: str, key: bytes, upload_id: str | None = None) -> None:
    hold_keys(c, bucket, (key,), upload_id)


def hold_upload(c: sqlite3.Connection, bucket: str, upload_id: str) -> None:
    """Write a bucket's upload (a part, an abort) without a key lock."""
    hold_keys(c, bucket, (), upload_id)


def hold_bucket(c: sqlite3.Connection, bucket: str) -> None:
    """Change the bucket itself: waits for every write into it, and holds new ones off."""
    advisory = getattr(c, "advisory", None)
    if advisory is not None:
        advisory(exclusive=(_bucket(bucket),))
