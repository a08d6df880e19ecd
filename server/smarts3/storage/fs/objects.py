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
from collections.abc import Mapping, Sequence
from dataclasses import replace

from smarts3.storage.base import (
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectMeta,
    PreconditionFailed,
    WriteCondition,
)
from smarts3.storage.fs.bodies import BufferedBodyWriter
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.layout import fsync_dir, new_body_id, unlink_quietly
from smarts3.storage.fs.rows import (
    ObjectRow,
    Segment,
    apply_changes,
    bucket_exists,
    checksum_algos,
    enc_key,
    fetch_object,
    meta_from_json,
    meta_to_json,
    put_object_row,
)


def etags_equal(a: str, b: str) -> bool:
    return a.strip().strip('"') == b.strip().strip('"')


def check_condition(current: ObjectRow | None, condition: WriteCondition | None) -> None:
    """Decide a conditional write against the row inside the transaction."""
    if condition is None:
        return
    if condition.if_none_match_star and current is not None:
        raise PreconditionFailed("the key exists (If-None-Match: *)")
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
    return NoSuchKey(key.decode("utf-8", "surrogatepass"))


def commit_put_sync(
    env: Env,
    bucket: str,
    key: bytes,
    *,
    segments: Sequence[Segment],
    etag: str,
    meta: ObjectMeta,
    condition: WriteCondition | None,
) -> ObjectInfo:

    def txn(c: sqlite3.Connection) -> tuple[ObjectRow | None, ObjectRow]:
        require_bucket(c, bucket)
        old = fetch_object(c, bucket, key)
        check_condition(old, condition)
        return old, put_object_row(c, bucket, key, etag=etag, last_modified=time.time(), meta=meta, segments=segments)

    old, row = env.commits.run(txn)
    if old is not None:
        env.unlink_bodies(old.body_ids)
    return row.info(meta)


def head_sync(env: Env, bucket: str, key: bytes) -> ObjectInfo:
    with env.pool.conn() as c:
        row = fetch_object(c, bucket, key)
        if row is None:
            raise missing_key(c, bucket, key)
    return row.info()


def delete_many_sync(env: Env, bucket: str, keys: Sequence[str]) -> list[bool]:

    def txn(c: sqlite3.Connection) -> tuple[list[bool], list[str]]:
        garbage: list[str] = []
        results: list[bool] = []
        require_bucket(c, bucket)
        for key in keys:
            raw = enc_key(key)
            found = c.execute("SELECT segments FROM objects WHERE bucket = ? AND key = ?", (bucket, raw)).fetchone()
            if found is not None:
                c.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, raw))
                garbage.extend(body_id for body_id, _ in json.loads(found[0]))
            results.append(found is not None)
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
) -> ObjectInfo:
    """Change tags and/or extra keys of the object as it is at commit time."""

    def txn(c: sqlite3.Connection) -> tuple[ObjectRow, ObjectMeta]:
        row = fetch_object(c, bucket, key)
        if row is None:
            raise missing_key(c, bucket, key)
        meta = meta_from_json(row.meta_json)
        if tags is not None:
            meta = replace(meta, tags=dict(tags))
        if extra:
            meta = replace(meta, extra=apply_changes(meta.extra, extra))
        c.execute("UPDATE objects SET meta = ? WHERE bucket = ? AND key = ?", (meta_to_json(meta), bucket, key))
        return row, meta

    row, meta = env.commits.run(txn)
    return row.info(meta)


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
) -> ObjectInfo:
    if src == dst:
        return update_meta_sync(env, dst[0], dst[1], meta, touch=True, src_etag=src_etag, condition=condition)
    # Clone outside the transaction (it may copy bytes), then check in the
    # transaction that the source still has the bodies we cloned.
    for _ in range(50):
        with env.pool.conn() as c:
            seen = fetch_object(c, *src)
            if seen is None:
                raise missing_key(c, *src)
        if src_etag is not None and not etags_equal(seen.etag, src_etag):
            raise PreconditionFailed("source ETag does not match")
        try:
            clones = clone_bodies(env, seen.segments)
        except FileNotFoundError:
            continue  # overwritten and unlinked between our read and the link
        try:
            with env.pool.writer() as c:
                cur = fetch_object(c, *src)
                if cur is None:
                    raise missing_key(c, *src)
                if src_etag is not None and not etags_equal(cur.etag, src_etag):
                    raise PreconditionFailed("source ETag does not match")
                if cur.body_ids != seen.body_ids:
                    raise _SourceChanged
                require_bucket(c, dst[0])
                old = fetch_object(c, *dst)
                check_condition(old, condition)
                row = put_object_row(
                    c,
                    dst[0],
                    dst[1],
                    etag=cur.etag,
                    last_modified=time.time(),
                    meta=meta,
                    segments=clones,
                    part_checksums=json.loads(cur.part_checksums_json),
                )
        except _SourceChanged:
            env.unlink_bodies(body_id for body_id, _ in clones)
            continue
        except BaseException:
            env.unlink_bodies(body_id for body_id, _ in clones)
            raise
        if old is not None:
            env.unlink_bodies(old.body_ids)
        return row.info(meta)
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
        with open(src_path, "rb") as fin, open(tmp, "xb") as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
            fout.flush()
            if env.fsync:
                os.fsync(fout.fileno())
        os.rename(tmp, env.layout.body_path(new_id))
    except BaseException:
        unlink_quietly(tmp)
        raise


class FsObjectWriter(BufferedBodyWriter):
    def __init__(self, env: Env, bucket: str, key: str) -> None:
        super().__init__(env)
        self._bucket = bucket
        self._key = enc_key(key)

    def _enter_sync(self) -> None:
        with self._env.pool.conn() as c:
            require_bucket(c, self._bucket)

    async def commit(self, meta: ObjectMeta, condition: WriteCondition | None = None) -> ObjectInfo:
        size = self._size

        def publish(body_id: str, md5_hex: str) -> ObjectInfo:
            return commit_put_sync(
                self._env,
                self._bucket,
                self._key,
                segments=[(body_id, size)],
                etag=f'"{md5_hex}"',
                meta=meta,
                condition=condition,
            )

        return await self._commit_in_thread(publish)
