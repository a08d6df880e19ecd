"""ListObjectVersions: the current versions (`objects`) and the noncurrent versions and
delete markers (`versions`) merged into one stream, key ascending in UTF-8 byte order and
newest first within a key.

Both tables are read in primary-key order (`versions` is keyed (bucket, key, seq DESC)), and
heapq.merge takes rows lazily from the two cursors, so a page costs O(page) rows like a
ListObjectsV2 page; common prefixes re-query past themselves (listing.walk).
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from smarts3.storage.base import NoSuchVersion, VersionEntry, VersionPage
from smarts3.storage.fs.db import read_txn
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.listing import enclosing_prefix, walk
from smarts3.storage.fs.rows import dec_key, enc_key
from smarts3.storage.fs.versioning import bucket_state, fetch_version

_FF = b"\xff"
_TOP = 2**63 - 1  # above every seq: the cursor (k, _TOP) includes every version of k
# (key, seq): resume with the rows after it, i.e. key > k, or key == k and seq < s.
_Cursor = tuple[bytes, int]

_COLS = "key, seq, version_id, {marker}, size, etag, last_modified, checksum_algos, checksum_type"
_CURRENT = (
    f"SELECT {_COLS.format(marker='0')} FROM objects"  # noqa: S608
    " WHERE bucket = ? AND key >= ? AND key < ? AND (key > ? OR seq < ?) ORDER BY key"
)
_NONCURRENT = (
    f"SELECT {_COLS.format(marker='marker')} FROM versions"  # noqa: S608
    " WHERE bucket = ? AND key >= ? AND key < ? AND (key > ? OR seq < ?) ORDER BY key, seq DESC"
)


def _order(row: tuple[Any, ...]) -> tuple[bytes, int]:
    return row[0], -row[1]


def _stream(c: sqlite3.Connection, bucket: str, cursor: _Cursor, upper: bytes) -> Iterator[tuple[Any, ...]]:
    """Rows after `cursor`, each with is_latest appended: the first row of a key is its
    newest, unless the cursor starts inside that key (its newest was on an earlier page)."""
    key, seq = cursor
    args = (bucket, key, upper, key, seq)
    merged = heapq.merge(c.execute(_CURRENT, args), c.execute(_NONCURRENT, args), key=_order)
    previous = key if seq != _TOP else None
    for row in merged:
        yield (*row, row[0] != previous)
        previous = row[0]


def _entry(r: tuple[Any, ...]) -> VersionEntry:
    algos: str = r[7] or ""
    return VersionEntry(
        dec_key(r[0]), r[2], r[9], bool(r[3]), r[4], r[5], r[6], tuple(algos.split(",")) if algos else (), r[8]
    )


def list_versions_sync(
    env: Env,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
) -> VersionPage:
    p, d, km = enc_key(prefix), enc_key(delimiter), enc_key(key_marker)
    upper = p + _FF
    with env.pool.conn() as c, read_txn(c):
        bucket_state(c, bucket)
        start: _Cursor
        cp = enclosing_prefix(km, p, d)
        if cp is not None:
            start = (cp + _FF, _TOP)
        elif version_id_marker:
            marked = fetch_version(c, bucket, km, version_id_marker)
            if marked is None:
                raise NoSuchVersion(key_marker, version_id_marker)
            start = (km, marked.seq)
        elif key_marker:
            start = (km, -1)  # past every version of the marker key
        else:
            start = (p, _TOP)

        def fetch(cursor: _Cursor) -> Iterable[tuple[Any, ...]]:
            if cursor[0] < p:
                cursor = (p, _TOP)
            return _stream(c, bucket, cursor, upper)

        w = walk(
            fetch,
            _entry,
            start=start,
            after_prefix=lambda cp: (cp + _FF, _TOP),
            prefix=p,
            delimiter=d,
            limit=max_keys,
        )
    next_key: str | None = None
    next_version: str | None = None
    if w.last_was_prefix:
        next_key = dec_key(w.prefixes[-1])
    elif w.items:
        next_key, next_version = w.items[-1].key, w.items[-1].version_id
    return VersionPage(
        entries=w.items,
        common_prefixes=[dec_key(x) for x in w.prefixes],
        is_truncated=w.truncated,
        next_key_marker=next_key,
        next_version_id_marker=next_version,
    )
