"""ListObjectVersions: the current versions (`objects`) and the noncurrent versions and
delete markers (`versions`) merged into one stream, key ascending in UTF-8 byte order and
newest first within a key.

Both tables are read in primary-key order (`versions` is keyed (bucket, key, seq DESC)) and
merged by SQLite as they are read, so a page costs O(page) rows like a ListObjectsV2 page;
common prefixes re-query past themselves (listing.walk).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smarts3.storage.base import NoSuchVersion, VersionEntry, VersionPage
from smarts3.storage.fs.db import read_txn
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.listing import enclosing_prefix, extra_of, walk
from smarts3.storage.fs.rows import dec_key, enc_key
from smarts3.storage.fs.versioning import bucket_state, fetch_version

_FF = b"\xff"
_TOP = 2**63 - 1  # above every seq: the cursor (k, _TOP) includes every version of k
# (key, seq): resume with the rows after it, i.e. key > k, or key == k and seq < s.
_Cursor = tuple[bytes, int]

_COLS = "key, seq, version_id, {marker}, size, etag, last_modified, checksum_algos, checksum_type{meta}"
_WHERE = "WHERE bucket = ?1 AND key >= ?2 AND key < ?3 AND (key > ?2 OR seq < ?4)"
# SQLite merges the two ordered index scans itself (EXPLAIN: MERGE (UNION ALL), both arms
# SEARCH … USING PRIMARY KEY), lazily: a page reads O(page) rows, never sorts. Per with_extra:
# the meta column (JSON) is read only when a listing shows each version's owner.
_MERGED = {
    extra: (
        f"SELECT {_COLS.format(marker='0', meta=', meta' if extra else '')} FROM objects {_WHERE}"  # noqa: S608
        f" UNION ALL SELECT {_COLS.format(marker='marker', meta=', meta' if extra else '')} FROM versions {_WHERE}"
        " ORDER BY 1, 2 DESC"
    )
    for extra in (False, True)
}


class _Entries:
    """Rows to VersionEntry, in stream order: the first row of a key is its newest version,
    unless the walk started inside that key (its newest was on an earlier page)."""

    def __init__(self, mid_key: bytes | None, with_extra: bool) -> None:
        self._previous = mid_key
        self._with_extra = with_extra

    def __call__(self, r: tuple[Any, ...]) -> VersionEntry:
        # Positional and inline (no dec_key call): a page builds 1,000 of these.
        key: bytes = r[0]
        latest = key != self._previous
        self._previous = key
        algos: str = r[7]
        return VersionEntry(
            key.decode("utf-8", "surrogatepass"),
            r[2],
            latest,
            r[3] == 1,
            r[4],
            r[5],
            r[6],
            tuple(algos.split(",")) if algos else (),
            r[8],
            extra_of(r[9]) if self._with_extra else None,
        )


def list_versions_sync(
    env: Env,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
    with_extra: bool = False,
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
            return c.execute(_MERGED[with_extra], (bucket, cursor[0], upper, cursor[1]))

        w = walk(
            fetch,
            _Entries(start[0] if start[1] != _TOP else None, with_extra),
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
