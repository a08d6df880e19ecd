"""Listings as range queries over (bucket, key BLOB), in UTF-8 byte order.

Everything under a prefix lies in [prefix, prefix + 0xFF): 0xFF never occurs
in UTF-8, so it bounds every continuation. When a key rolls up into a common
prefix, the walk re-queries from common_prefix + 0xFF instead of scanning the
keys beneath it, so a page costs O(page) rows whatever the bucket holds.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from smarts3.storage.base import ListEntry, ListPage, UploadPage
from smarts3.storage.fs.db import read_txn
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.objects import require_bucket
from smarts3.storage.fs.rows import dec_key, enc_key, upload_from_row

T = TypeVar("T")
C = TypeVar("C")
_FF = b"\xff"


@dataclass(slots=True)
class Walk(Generic[T]):
    items: list[T] = field(default_factory=list)
    prefixes: list[bytes] = field(default_factory=list)
    truncated: bool = False
    last_was_prefix: bool = False


def walk(
    fetch: Callable[[C], Iterable[tuple[Any, ...]]],
    make: Callable[[tuple[Any, ...]], T],
    *,
    start: C,
    after_prefix: Callable[[bytes], C],
    prefix: bytes,
    delimiter: bytes,
    limit: int,
) -> Walk[T]:
    """Collect up to `limit` items and common prefixes from `fetch(cursor)`.

    `fetch` yields rows (key first) in order from the cursor, within the
    prefix range; `make` turns a row into an item; `after_prefix(cp)` is the
    cursor just past everything under cp. One extra row is peeked so
    `truncated` is exact. Rows are consumed lazily: a common prefix stops the
    current query, so the keys beneath it are never stepped through.
    """
    out: Walk[T] = Walk()
    if limit <= 0:
        return out
    if not delimiter:
        # Nothing rolls up: one query, the extra row tells whether the page is truncated.
        page = list(itertools.islice(fetch(start), limit + 1))
        out.truncated = len(page) > limit
        out.items = [make(row) for row in page[:limit]]
        return out
    cursor: C | None = start
    while cursor is not None:
        rows, cursor = fetch(cursor), None
        for row in rows:
            if len(out.items) + len(out.prefixes) >= limit:
                out.truncated = True
                return out
            key: bytes = row[0]
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                cp = key[: cut + len(delimiter)]
                out.prefixes.append(cp)
                out.last_was_prefix = True
                cursor = after_prefix(cp)
                break  # re-query past the whole common prefix
            out.items.append(make(row))
            out.last_was_prefix = False
    return out


def enclosing_prefix(marker: bytes, prefix: bytes, delimiter: bytes) -> bytes | None:
    """The common prefix a marker falls in: it was already returned, so skip it."""
    if not delimiter or not marker.startswith(prefix):
        return None
    cut = marker.find(delimiter, len(prefix))
    return marker[: cut + len(delimiter)] if cut >= 0 else None


_LIST_COLUMNS = "SELECT key, size, etag, last_modified, checksum_algos, checksum_type{meta} FROM objects"
_LIST_AFTER = "WHERE bucket = ? AND key > ? AND key < ? ORDER BY key"
_LIST_FROM = "WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key"
# (after, from) per with_extra: the meta column (JSON) is read only when a listing shows owners.
_LIST_SQL = {
    extra: tuple(f"{_LIST_COLUMNS.format(meta=', meta' if extra else '')} {w}" for w in (_LIST_AFTER, _LIST_FROM))
    for extra in (False, True)
}


def list_objects_sync(
    env: Env, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int, with_extra: bool = False
) -> ListPage:
    p, d, sa = enc_key(prefix), enc_key(delimiter), enc_key(start_after)
    after_sql, from_sql = _LIST_SQL[with_extra]
    upper = p + _FF
    with env.pool.conn() as c, read_txn(c):
        require_bucket(c, bucket)

        def fetch(bound: bytes) -> Iterable[tuple[Any, ...]]:
            # One lower bound only, so SQLite ranges over the primary key.
            sql, lo = (after_sql, bound) if bound >= p else (from_sql, p)
            return c.execute(sql, (bucket, lo, upper))

        cp = enclosing_prefix(sa, p, d)
        w = walk(
            fetch,
            _entry_with_extra if with_extra else _entry,
            start=cp + _FF if cp is not None else sa,
            after_prefix=lambda cp: cp + _FF,
            prefix=p,
            delimiter=d,
            limit=max_keys,
        )
    marker: str | None = None
    if w.last_was_prefix:
        marker = dec_key(w.prefixes[-1])
    elif w.items:
        marker = w.items[-1].key
    return ListPage(
        entries=w.items,
        common_prefixes=[dec_key(x) for x in w.prefixes],
        is_truncated=w.truncated,
        next_marker=marker,
    )


def _entry(r: tuple[Any, ...]) -> ListEntry:
    # Positional: a page builds 1,000 of these.
    algos: str = r[4]
    return ListEntry(dec_key(r[0]), r[1], r[2], r[3], tuple(algos.split(",")) if algos else (), r[5])


def _entry_with_extra(r: tuple[Any, ...]) -> ListEntry:
    algos: str = r[4]
    extra = extra_of(r[6])
    return ListEntry(dec_key(r[0]), r[1], r[2], r[3], tuple(algos.split(",")) if algos else (), r[5], extra)


def extra_of(meta_json: str) -> dict[str, str]:
    """meta.extra of a row's meta column, without building the whole ObjectMeta."""
    extra: dict[str, str] = json.loads(meta_json).get("extra", {})
    return extra


_UploadCursor = tuple[bytes, str | None]  # (key, upload id); None: past every id of key


def list_uploads_sync(
    env: Env,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
) -> UploadPage:
    p, d, km = enc_key(prefix), enc_key(delimiter), enc_key(key_marker)
    upper = p + _FF
    cols = "key, upload_id, bucket, initiated, meta"
    with env.pool.conn() as c, read_txn(c):
        require_bucket(c, bucket)

        def fetch(cursor: _UploadCursor) -> Iterable[tuple[Any, ...]]:
            key, uid = cursor
            if key < p:
                key, uid = p, ""  # everything from the prefix on, ids included
            args: tuple[object, ...]
            if uid is None:
                where, args = "key > ?", (key,)
            else:
                where, args = "key >= ? AND (key > ? OR upload_id > ?)", (key, key, uid)
            # Upload ids start with a time stamp, so id order is initiation order.
            return c.execute(
                f"SELECT {cols} FROM uploads WHERE bucket = ? AND {where} AND key < ?"  # noqa: S608
                " ORDER BY key, upload_id",
                (bucket, *args, upper),
            )

        cp = enclosing_prefix(km, p, d)
        if cp is not None:
            start: _UploadCursor = (cp + _FF, None)
        else:
            start = (km, upload_id_marker or None)
        w = walk(
            fetch,
            lambda r: r,
            start=start,
            after_prefix=lambda cp: (cp + _FF, None),
            prefix=p,
            delimiter=d,
            limit=max_uploads,
        )
    uploads = [upload_from_row((r[1], r[2], r[0], r[3], r[4])) for r in w.items]
    next_key: str | None = None
    next_id: str | None = None
    if w.last_was_prefix:
        next_key = dec_key(w.prefixes[-1])
    elif uploads:
        next_key, next_id = uploads[-1].key, uploads[-1].upload_id
    return UploadPage(
        uploads=uploads,
        common_prefixes=[dec_key(x) for x in w.prefixes],
        is_truncated=w.truncated,
        next_key_marker=next_key,
        next_upload_id_marker=next_id,
    )
