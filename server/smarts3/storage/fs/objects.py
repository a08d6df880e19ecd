"""Object transactions: put, head, delete, copy, metadata updates.

Functions named `*_sync` block and run in worker threads. Each write is one
transaction (hot paths share a batch commit, see commits.py); body files a transaction stops referencing are
unlinked only after it commits, so a crash can leave orphans (recovery removes
them) but never a row without its body.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Self

from smarts3.storage.base import (
    BodyCipher,
    DeleteMarkerHit,
    DeleteOutcome,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
    ObjectInfo,
    ObjectMeta,
    PreconditionFailed,
    WriteCondition,
)
from smarts3.storage.fs.bodies import BufferedBodyWriter
from smarts3.storage.fs.db import read_txn
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.layout import fsync_dir, new_body_id, unlink_quietly
from smarts3.storage.fs.locks import hold_key, hold_keys
from smarts3.storage.fs.rerun import CommitInDoubt
from smarts3.storage.fs.rows import (
    OBJECT_COLUMNS,
    ObjectRow,
    Segment,
    apply_changes,
    bucket_exists,
    checksum_algos,
    enc_key,
    fetch_body,
    fetch_object,
    meta_from_json,
    meta_to_json,
    object_row,
    put_object_row,
)
from smarts3.storage.fs.versioning import (
    NULL,
    bucket_state,
    delete_one,
    fetch_version,
    newest_noncurrent,
    place_current,
)

# A key's current row and its bucket's versioning status in one statement: a GET or HEAD is one
# SQLite step (the object row exists only while its bucket does). Column 10: versioning; 11: body.
_CURRENT = (
    f"SELECT {OBJECT_COLUMNS}, (SELECT versioning FROM buckets WHERE name = ?1)"  # noqa: S608
    " FROM objects WHERE bucket = ?1 AND key = ?2"
)
_CURRENT_WITH_BODY = _CURRENT.replace(" FROM objects", ", body FROM objects")


def etags_equal(a: str, b: str) -> bool:
    return a.strip().strip('"') == b.strip().strip('"')


def check_condition(current: ObjectRow | None, condition: WriteCondition | None) -> None:
    """Decide a conditional write against the row inside the transaction."""
    if condition is None:
        return
    if condition.if_none_match_star and current is not None:
        raise PreconditionFailed("the key exists (If-None-Match: *)")
    unwanted = condition.if_none_match
    if unwanted is not None and current is not None and etags_equal(current.etag, unwanted):
        raise PreconditionFailed("ETag matches (If-None-Match)")
    if condition.if_match is not None:
        if current is None:
            raise NoSuchKey("If-Match on a missing key")
        if condition.if_match.strip() != "*" and not etags_equal(current.etag, condition.if_match):
            raise PreconditionFailed("ETag does not match (If-Match)")


def require_bucket(conn: sqlite3.Connection, bucket: str) -> None:
    if not bucket_exists(conn, bucket):
        raise NoSuchBucket(bucket)


def missing_key(conn: sqlite3.Connection, bucket: str, key: bytes) -> Exception:
    """The error for a missing row: the bucket or the key."""
    if not bucket_exists(conn, bucket):
        return NoSuchBucket(bucket)
    name = key.decode("utf-8", "surrogatepass")
    newest = newest_noncurrent(conn, bucket, key)
    if newest is not None and newest.marker:
        return DeleteMarkerHit(name, newest.version_id, by_version=False)
    return NoSuchKey(name)


def resolve_sync(conn: sqlite3.Connection, bucket: str, key: bytes, version_id: str | None) -> tuple[ObjectRow, bool]:
    """(the row a read means, whether the bucket is versioned): the current version or the one named."""
    if version_id is None:
        found = conn.execute(_CURRENT, (bucket, key)).fetchone()
        if found is None:
            raise missing_key(conn, bucket, key)
        current = object_row(bucket, found)
        # Only a "null" current version leaves open whether the bucket has versioning.
        return current, current.version_id != NULL or bool(found[10])
    row = fetch_version(conn, bucket, key, version_id)
    if row is None:
        bucket_state(conn, bucket)  # NoSuchBucket first
        raise NoSuchVersion(key.decode("utf-8", "surrogatepass"), version_id)
    if row.marker:
        raise DeleteMarkerHit(key.decode("utf-8", "surrogatepass"), version_id, by_version=True)
    return row, True


def resolve_read_sync(
    conn: sqlite3.Connection, bucket: str, key: bytes, version_id: str | None
) -> tuple[ObjectRow, bool, bytes | None]:
    """resolve_sync for a read of the bytes: also the inline body (inline.py), or None if in files.

    The current version's row and body come in one statement (one snapshot, one step);
    a version named by id is read in a read transaction."""
    if version_id is None:
        found = conn.execute(_CURRENT_WITH_BODY, (bucket, key)).fetchone()
        if found is None:
            raise missing_key(conn, bucket, key)
        row = object_row(bucket, found)
        return row, row.version_id != NULL or bool(found[10]), found[11]
    with read_txn(conn):
        row, versioned = resolve_sync(conn, bucket, key, version_id)
        return row, versioned, fetch_body(conn, row) if row.inline else None


def commit_put_sync(
    env: Env,
    bucket: str,
    key: bytes,
    *,
    segments: Sequence[Segment],
    etag: str,
    meta: ObjectMeta,
    condition: WriteCondition | None,
    bucket_extra: Mapping[str, str] | None = None,
) -> ObjectInfo:
    txn = _put_txn(bucket, key, segments=segments, etag=etag, meta=meta, condition=condition, body=None,
                   bucket_extra=bucket_extra)
    garbage, row, versioned = env.commits.run(txn)
    env.unlink_bodies(garbage)
    return row.info(meta, versioned=versioned)


async def commit_inline_put(
    env: Env,
    bucket: str,
    key: bytes,
    *,
    body: bytes,
    etag: str,
    meta: ObjectMeta,
    condition: WriteCondition | None,
    bucket_extra: Mapping[str, str] | None = None,
) -> ObjectInfo:
    """commit_put_sync for an inline body (inline.py), from the event loop: no file to seal, so
    no worker thread either (Env.commit)."""
    txn = _put_txn(bucket, key, segments=(), etag=etag, meta=meta, condition=condition, body=body,
                   bucket_extra=bucket_extra)
    _, row, versioned = await env.commit(txn, lambda done: env.unlink_bodies(done[0]))
    return row.info(meta, versioned=versioned)


def _put_txn(
    bucket: str,
    key: bytes,
    *,
    segments: Sequence[Segment],
    etag: str,
    meta: ObjectMeta,
    condition: WriteCondition | None,
    body: bytes | None,
    bucket_extra: Mapping[str, str] | None = None,
) -> Callable[[sqlite3.Connection], tuple[list[str], ObjectRow, bool]]:
    """The transaction of a PUT: (bodies it stopped referencing, the new row, versioned?).
    `body`: the bytes of an inline body (inline.py), with no segments. `bucket_extra`: the
    bucket configuration the caller decided on; BucketChanged if the bucket now has another."""

    def txn(c: sqlite3.Connection) -> tuple[list[str], ObjectRow, bool]:
        hold_key(c, bucket, key)
        state = bucket_state(c, bucket, bucket_extra)
        old = fetch_object(c, bucket, key)
        check_condition(old, condition)
        version, garbage = place_current(c, bucket, key, state, old)
        row = put_object_row(
            c,
            bucket,
            key,
            etag=etag,
            last_modified=time.time(),
            meta=meta,
            segments=segments,
            version=version,
            body=body,
        )
        return garbage, row, bool(state)

    return txn


def head_sync(env: Env, bucket: str, key: bytes, version_id: str | None = None) -> ObjectInfo:
    with env.pool.conn() as c:
        row, versioned = resolve_sync(c, bucket, key, version_id)
    return row.info(versioned=versioned)


async def delete_versions(
    env: Env,
    bucket: str,
    items: Sequence[tuple[str, str | None]],
    keep: Callable[[ObjectInfo], bool] | None = None,
) -> list[DeleteOutcome]:
    """Delete keys or versions in one transaction, from the event loop (Env.commit)."""
    keep_row = None if keep is None else (lambda row: keep(row.info()))

    def txn(c: sqlite3.Connection) -> tuple[list[DeleteOutcome], list[str]]:
        hold_keys(c, bucket, {enc_key(key) for key, _ in items})
        state = bucket_state(c, bucket)
        outcomes: list[DeleteOutcome] = []
        garbage: list[str] = []
        for key, version_id in items:
            outcome, bodies, _ = delete_one(c, bucket, enc_key(key), version_id, state, keep_row)
            outcomes.append(outcome)
            garbage.extend(bodies)
        return outcomes, garbage

    outcomes, _ = await env.commit(txn, lambda done: env.unlink_bodies(done[1]))
    return outcomes


def delete_many_sync(env: Env, bucket: str, keys: Sequence[str]) -> list[bool]:

    def txn(c: sqlite3.Connection) -> tuple[list[bool], list[str]]:
        hold_keys(c, bucket, {enc_key(key) for key in keys})
        garbage: list[str] = []
        results: list[bool] = []
        state = bucket_state(c, bucket)
        for key in keys:
            _, bodies, found = delete_one(c, bucket, enc_key(key), None, state)
            garbage.extend(bodies)
            results.append(found)
        return results, garbage

    results, garbage = env.commits.run(txn)
    env.unlink_bodies(garbage)
    return results


def update_meta_sync(
    env: Env,
    bucket: str,
    key: bytes,
    meta: ObjectMeta,
    *,
    touch: bool = False,
    src_etag: str | None = None,
    condition: WriteCondition | None = None,
) -> ObjectInfo:
    """Replace the metadata, keeping body and ETag (tagging; copy onto itself)."""
    with env.pool.writer() as c:
        hold_key(c, bucket, key)
        row = fetch_object(c, bucket, key)
        if row is None:
            raise missing_key(c, bucket, key)
        if src_etag is not None and not etags_equal(row.etag, src_etag):
            raise PreconditionFailed("source ETag changed")
        check_condition(row, condition)
        last_modified = time.time() if touch else row.last_modified
        c.execute(
            "UPDATE objects SET meta = ?, checksum_algos = ?, checksum_type = ?,"
            " last_modified = ? WHERE bucket = ? AND key = ?",
            (
                meta_to_json(meta),
                checksum_algos(meta),
                meta.checksum_type,
                last_modified,
                bucket,
                key,
            ),
        )
    info = row.info(meta)
    return ObjectInfo(
        bucket=info.bucket,
        key=info.key,
        size=info.size,
        etag=info.etag,
        last_modified=last_modified,
        meta=meta,
        part_sizes=info.part_sizes,
        part_checksums=info.part_checksums,
    )


def patch_meta_sync(
    env: Env,
    bucket: str,
    key: bytes,
    tags: Mapping[str, str] | None,
    extra: Mapping[str, str | None],
    version_id: str | None = None,
    check: Callable[[ObjectInfo], None] | None = None,
) -> ObjectInfo:
    """Change tags and/or extra keys of the object (or version) as it is at commit time."""

    def txn(c: sqlite3.Connection) -> tuple[ObjectRow, ObjectMeta, bool]:
        hold_key(c, bucket, key)
        row, versioned = resolve_sync(c, bucket, key, version_id)
        meta = meta_from_json(row.meta_json)
        if check is not None:
            check(row.info(meta, versioned=versioned))
        if tags is not None:
            meta = replace(meta, tags=dict(tags))
        if extra:
            meta = replace(meta, extra=apply_changes(meta.extra, extra))
        table = "objects" if version_id is None or fetch_object(c, bucket, key) == row else "versions"
        c.execute(
            f"UPDATE {table} SET meta = ? WHERE bucket = ? AND key = ? AND seq = ?",  # noqa: S608 - fixed names
            (meta_to_json(meta), bucket, key, row.seq),
        )
        return row, meta, versioned

    row, meta, versioned = env.commits.run(txn)
    return row.info(meta, versioned=versioned)


class _SourceChanged(Exception):
    pass


def copy_sync(
    env: Env,
    src: tuple[str, bytes],
    dst: tuple[str, bytes],
    meta: ObjectMeta,
    *,
    src_etag: str | None,
    condition: WriteCondition | None,
    src_version_id: str | None = None,
) -> ObjectInfo:
    if src == dst and src_version_id is None:
        with env.pool.conn() as c:
            versioned = bool(bucket_state(c, dst[0]))
        if not versioned:  # in place; a versioned bucket gets a new version instead
            return update_meta_sync(env, dst[0], dst[1], meta, touch=True, src_etag=src_etag, condition=condition)
    # Clone outside the transaction (it may copy bytes), then check in the
    # transaction that the source still has the bodies we cloned.
    for _ in range(50):
        with env.pool.conn() as c:
            seen, _ = resolve_sync(c, src[0], src[1], src_version_id)
        if src_etag is not None and not etags_equal(seen.etag, src_etag):
            raise PreconditionFailed("source ETag does not match")
        try:
            clones = clone_bodies(env, seen.segments)
        except FileNotFoundError:
            continue  # overwritten and unlinked between our read and the link
        try:
            with env.pool.writer() as c:
                hold_key(c, *dst)
                cur, _ = resolve_sync(c, src[0], src[1], src_version_id)
                if src_etag is not None and not etags_equal(cur.etag, src_etag):
                    raise PreconditionFailed("source ETag does not match")
                if cur.body_ids != seen.body_ids:
                    raise _SourceChanged
                body = fetch_body(c, cur) if cur.inline else None  # inline stays inline
                state = bucket_state(c, dst[0])
                old = fetch_object(c, *dst)
                check_condition(old, condition)
                version, garbage = place_current(c, dst[0], dst[1], state, old)
                row = put_object_row(
                    c,
                    dst[0],
                    dst[1],
                    etag=cur.etag,
                    last_modified=time.time(),
                    meta=meta,
                    segments=clones,
                    part_checksums=json.loads(cur.part_checksums_json),
                    version=version,
                    body=body,
                )
        except _SourceChanged:
            env.unlink_bodies(body_id for body_id, _ in clones)
            continue
        except CommitInDoubt:
            raise  # the committed row may name the clones: they stay (orphans for the sweep if not)
        except BaseException:
            env.unlink_bodies(body_id for body_id, _ in clones)
            raise
        env.unlink_bodies(garbage)
        return row.info(meta, versioned=bool(state))
    raise RuntimeError("copy source kept changing; giving up")


def clone_bodies(env: Env, segments: Sequence[Segment]) -> list[Segment]:
    """New body files with the same bytes: hard links, or copies if linking fails.

    Bodies are immutable once sealed, so sharing an inode is safe. Raises
    FileNotFoundError (after cleaning up) when a source body has vanished.
    """
    layout = env.layout
    made: list[Segment] = []
    try:
        for body_id, size in segments:
            new_id = new_body_id()
            src_path, dst_path = layout.body_path(body_id), layout.body_path(new_id)
            try:
                os.link(src_path, dst_path)
            except FileNotFoundError:
                raise
            except OSError as e:
                if e.errno == errno.ENOENT:
                    raise FileNotFoundError(src_path) from e
                _copy_file(env, src_path, new_id)
            made.append((new_id, size))
        if env.fsync:
            for d in {layout.body_dir(i) for i, _ in made}:
                fsync_dir(d)
    except BaseException:
        env.unlink_bodies(i for i, _ in made)
        raise
    return made


def _copy_file(env: Env, src_path: str, new_id: str) -> None:
    tmp = env.layout.tmp_path(new_id)
    try:
        with open(src_path, "rb") as fin, open(env.layout.create_temp(new_id), "wb") as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
            fout.flush()
            if env.fsync:
                os.fsync(fout.fileno())
        os.rename(tmp, env.layout.body_path(new_id))
    except BaseException:
        unlink_quietly(tmp)
        raise


class FsObjectWriter(BufferedBodyWriter):
    def __init__(
        self, env: Env, bucket: str, key: str, cipher: BodyCipher | None = None, *, bucket_checked: bool = False
    ) -> None:
        super().__init__(env, cipher, 1)
        self._bucket = bucket
        self._bucket_checked = bucket_checked
        self._key = enc_key(key)
        # False keeps the body in a file whatever its size: the row takes bytes as given, so a body
        # encrypted at rest (a cipher transforms it on its way to the file) never goes inline.
        self.may_inline = cipher is None

    def _enter_sync(self) -> None:
        with self._env.pool.conn() as c:
            require_bucket(c, self._bucket)

    async def __aenter__(self) -> Self:
        if not self._bucket_checked:
            return await super().__aenter__()
        # The caller read the bucket a moment ago; its commit's transaction checks it again
        # (bucket_state). An on-loop read of SQLite hands the GIL to the committer thread
        # and back: measured at tens of µs per small PUT under load, not the read's few.
        self._state = "open"
        return self

    async def commit(
        self,
        meta: ObjectMeta,
        condition: WriteCondition | None = None,
        *,
        bucket_extra: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        size = self._size
        self._check_open()
        limit = self._env.inline_max  # 0: inline bodies are off
        if self.may_inline and limit and size <= limit and not self.spilt:
            info = await self._commit_inline(meta, condition, bucket_extra)
            if info is not None:
                return info

        def publish(body_id: str, md5_hex: str) -> ObjectInfo:
            return commit_put_sync(
                self._env,
                self._bucket,
                self._key,
                segments=[(body_id, size)],
                etag=f'"{md5_hex}"',
                meta=meta,
                condition=condition,
                bucket_extra=bucket_extra,
            )

        return await self._commit_in_thread(publish)

    async def _commit_inline(
        self, meta: ObjectMeta, condition: WriteCondition | None, bucket_extra: Mapping[str, str] | None
    ) -> ObjectInfo | None:
        """Commit with the body in the row (inline.py); None when it is too large for that.

        On the loop: hashing at most inline_max (32 KiB) bytes costs less than a thread hop."""
        whole = self.take_whole(self._env.inline_max)
        if whole is None:
            return None
        body, md5_hex = whole
        try:
            info = await commit_inline_put(
                self._env,
                self._bucket,
                self._key,
                body=body,
                etag=f'"{md5_hex}"',
                meta=meta,
                condition=condition,
                bucket_extra=bucket_extra,
            )
        except BaseException:
            self._state = "failed"
            raise
        self._state = "done"
        return info
