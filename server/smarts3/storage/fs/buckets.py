"""Bucket rows."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from smarts3.storage.base import (
    BadVersioningState,
    BucketAlreadyExists,
    BucketInfo,
    BucketNotEmpty,
    BucketUsage,
    NoSuchBucket,
)
from smarts3.storage.fs import completed
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.locks import hold_bucket
from smarts3.storage.fs.objects import require_bucket
from smarts3.storage.fs.rows import apply_changes, bucket_from_row, dumps
from smarts3.storage.fs.versioning import ENABLED, SUSPENDED, set_state

_COLUMNS = "name, created, region, tags, extra, versioning"


def create_sync(env: Env, name: str, region: str) -> BucketInfo:
    info = BucketInfo(name=name, created=time.time(), region=region)
    with env.pool.writer() as c:
        hold_bucket(c, name)
        if c.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone():
            raise BucketAlreadyExists(name)
        c.execute(
            "INSERT INTO buckets (name, created, region) VALUES (?, ?, ?)",
            (name, info.created, region),
        )
    return info


def get_sync(env: Env, name: str) -> BucketInfo:
    with env.pool.conn() as c:
        sql = f"SELECT {_COLUMNS} FROM buckets WHERE name = ?"  # noqa: S608
        row = c.execute(sql, (name,)).fetchone()
    if row is None:
        raise NoSuchBucket(name)
    return bucket_from_row(row)


def list_sync(env: Env) -> list[BucketInfo]:
    with env.pool.conn() as c:
        rows = c.execute(f"SELECT {_COLUMNS} FROM buckets ORDER BY name").fetchall()  # noqa: S608
    return [bucket_from_row(r) for r in rows]


def delete_sync(env: Env, name: str) -> None:
    """Delete an empty bucket. Uploads in progress are not objects (as in S3): they are aborted with it."""
    with env.pool.writer() as c:
        hold_bucket(c, name)
        require_bucket(c, name)
        for table in ("objects", "versions"):
            sql = f"SELECT 1 FROM {table} WHERE bucket = ? LIMIT 1"  # noqa: S608 - fixed names
            if c.execute(sql, (name,)).fetchone():
                raise BucketNotEmpty(name)
        in_progress = "SELECT upload_id FROM uploads WHERE bucket = ?"
        bodies = [r[0] for r in c.execute(f"SELECT body FROM parts WHERE upload_id IN ({in_progress})", (name,))]  # noqa: S608
        c.execute(f"DELETE FROM parts WHERE upload_id IN ({in_progress})", (name,))  # noqa: S608 - fixed text
        c.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
        completed.forget_bucket(c, name)
        c.execute("DELETE FROM buckets WHERE name = ?", (name,))
    env.unlink_bodies(bodies)


def set_versioning_sync(env: Env, name: str, status: str) -> None:
    if status not in (ENABLED, SUSPENDED):
        raise BadVersioningState(status)
    with env.pool.writer() as c:
        hold_bucket(c, name)
        set_state(c, name, status)


def patch_extra_sync(env: Env, name: str, changes: Mapping[str, str | None]) -> None:
    with env.pool.writer() as c:
        hold_bucket(c, name)
        row = c.execute("SELECT extra FROM buckets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NoSuchBucket(name)
        extra = apply_changes(json.loads(row[0]), changes)
        c.execute("UPDATE buckets SET extra = ? WHERE name = ?", (dumps(extra), name))


def set_tags_sync(env: Env, name: str, tags: Mapping[str, str]) -> None:
    with env.pool.writer() as c:
        hold_bucket(c, name)
        cur = c.execute("UPDATE buckets SET tags = ? WHERE name = ?", (dumps(dict(tags)), name))
        if cur.rowcount == 0:
            raise NoSuchBucket(name)


def usage_sync(env: Env) -> dict[str, BucketUsage]:
    """Objects, bytes and multipart uploads per bucket: the counters the writes keep (db.py)."""
    with env.pool.conn() as c:
        rows = c.execute("SELECT bucket, objects, bytes, uploads FROM bucket_usage").fetchall()
    return {name: BucketUsage(objects, size, uploads) for name, objects, size, uploads in rows}
