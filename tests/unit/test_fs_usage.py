"""Per-bucket usage: counters kept by every write, equal to a full recount at all times."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from smarts3.storage.base import BucketUsage, NoSuchKey, ObjectMeta, PreconditionFailed, WriteCondition
from smarts3.storage.fs import FilesystemStore
from smarts3.storage.fs.db import RECOUNT_USAGE, SCHEMA_VERSION
from smarts3.storage.fs.layout import Layout
from tests.unit.fs_support import BUCKET, put, with_store

OTHER = "other-bucket"
META = ObjectMeta()


def recount(data_dir: Path) -> dict[str, BucketUsage]:
    """What the counters stand for, counted from every row (a separate, read-only connection)."""
    conn = sqlite3.connect(f"file:{Layout(data_dir).db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(RECOUNT_USAGE).fetchall()
    finally:
        conn.close()
    return {name: BucketUsage(objects, size, uploads) for name, objects, size, uploads in rows}


def check(store: FilesystemStore, data_dir: Path) -> dict[str, BucketUsage]:
    usage = store.usage()
    assert usage == recount(data_dir)
    return usage


async def upload_part(store: FilesystemStore, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
    async with store.part_writer(bucket, key, upload_id, number) as w:
        await w.write(data)
        return (await w.commit({})).etag


def test_counters_follow_every_kind_of_write(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        assert check(store, tmp_path) == {BUCKET: BucketUsage(0, 0, 0)}
        await store.create_bucket(OTHER, "us-east-1")
        for i in range(5):
            await put(store, f"k{i}", b"x" * (100 + i))
        await put(store, "o", b"y" * 7, bucket=OTHER)
        assert check(store, tmp_path)[BUCKET] == BucketUsage(5, 510, 0)

        await put(store, "k0", b"z" * 1000)  # an overwrite: one object, new size
        await put(store, "k1", b"")  # shrinks to nothing
        assert check(store, tmp_path)[BUCKET] == BucketUsage(5, 1000 + 0 + 102 + 103 + 104, 0)

        assert await store.delete_object(BUCKET, "k2")
        assert not await store.delete_object(BUCKET, "k2")  # already gone: no change
        assert await store.delete_objects(BUCKET, ["k3", "missing", "k3"]) == [True, False, False]
        assert check(store, tmp_path)[BUCKET] == BucketUsage(3, 1000 + 0 + 104, 0)

        await store.copy_object(BUCKET, "k0", OTHER, "copy", META)  # into another bucket
        await store.copy_object(BUCKET, "k4", BUCKET, "k0", META)  # over an existing key
        await store.copy_object(BUCKET, "k4", BUCKET, "k4", META)  # onto itself: metadata only
        await store.update_object_meta(BUCKET, "k4", tags={"t": "1"})
        usage = check(store, tmp_path)
        assert usage[BUCKET] == BucketUsage(3, 104 + 0 + 104, 0)
        assert usage[OTHER] == BucketUsage(2, 7 + 1000, 0)

        # Multipart: an upload counts while in progress; completion adds the object.
        done = await store.create_upload(BUCKET, "mp", META)
        dropped = await store.create_upload(BUCKET, "mp", META)
        await store.create_upload(OTHER, "left", META)
        assert check(store, tmp_path)[BUCKET].multipart_uploads == 2
        e1 = await upload_part(store, BUCKET, "mp", done.upload_id, 1, b"a" * 300)
        e2 = await upload_part(store, BUCKET, "mp", done.upload_id, 2, b"b" * 200)
        await upload_part(store, BUCKET, "mp", done.upload_id, 3, b"unlisted")
        await upload_part(store, BUCKET, "mp", dropped.upload_id, 1, b"c" * 50)
        assert check(store, tmp_path)[BUCKET] == BucketUsage(3, 208, 2)  # parts are not objects
        await store.complete_upload(BUCKET, "mp", done.upload_id, [(1, e1), (2, e2)], etag='"e-2"', meta=META)
        await store.abort_upload(BUCKET, "mp", dropped.upload_id)
        usage = check(store, tmp_path)
        assert usage[BUCKET] == BucketUsage(4, 208 + 500, 0)
        assert usage[OTHER] == BucketUsage(2, 1007, 1)

    with_store(tmp_path, main)


def test_failed_writes_leave_counters_alone(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await put(store, "k", b"x" * 10)
        before = check(store, tmp_path)
        with pytest.raises(PreconditionFailed):
            await put(store, "k", b"y" * 99, condition=WriteCondition(if_none_match_star=True))
        with pytest.raises(NoSuchKey):
            await put(store, "new", b"y" * 99, condition=WriteCondition(if_match='"nope"'))
        async with store.object_writer(BUCKET, "abandoned") as w:  # never committed
            await w.write(b"z" * 1000)
        assert check(store, tmp_path) == before

    with_store(tmp_path, main)


def test_bucket_delete_and_recreate_start_from_zero(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await store.create_bucket(OTHER, "us-east-1")
        await put(store, "k", b"x" * 10, bucket=OTHER)
        up = await store.create_upload(OTHER, "mp", META)
        await store.abort_upload(OTHER, "mp", up.upload_id)
        await store.delete_object(OTHER, "k")
        await store.delete_bucket(OTHER)
        assert OTHER not in check(store, tmp_path)
        await store.create_bucket(OTHER, "us-east-1")
        assert check(store, tmp_path)[OTHER] == BucketUsage(0, 0, 0)

    with_store(tmp_path, main)


def test_counters_survive_a_reopen(tmp_path: Path) -> None:
    async def first(store: FilesystemStore) -> None:
        for i in range(20):
            await put(store, f"k{i}", b"x" * i)
        await store.create_upload(BUCKET, "mp", META)

    async def second(store: FilesystemStore) -> None:
        assert check(store, tmp_path)[BUCKET] == BucketUsage(20, sum(range(20)), 1)
        await store.delete_object(BUCKET, "k19")
        assert check(store, tmp_path)[BUCKET] == BucketUsage(19, sum(range(19)), 1)

    with_store(tmp_path, first)
    with_store(tmp_path, second)


def test_a_version_1_database_is_counted_once_on_open(tmp_path: Path) -> None:
    """The migration fills the counters from the rows a version-1 server left."""

    async def fill(store: FilesystemStore) -> None:
        for i in range(30):
            await put(store, f"k{i}", b"x" * i)
        await store.create_upload(BUCKET, "mp", META)

    with_store(tmp_path, fill)
    conn = sqlite3.connect(Layout(tmp_path).db_path, isolation_level=None)
    try:  # back to what version 1 had: no table, no triggers
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE bucket_usage")
        conn.execute("PRAGMA user_version = 1")
    finally:
        conn.close()

    async def reopened(store: FilesystemStore) -> None:
        assert check(store, tmp_path)[BUCKET] == BucketUsage(30, sum(range(30)), 1)
        await put(store, "k0", b"y" * 1000)  # the triggers are back
        assert check(store, tmp_path)[BUCKET] == BucketUsage(30, sum(range(30)) + 1000, 1)

    with_store(tmp_path, reopened)
    conn = sqlite3.connect(Layout(tmp_path).db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_usage_reads_the_counters_not_the_object_rows(tmp_path: Path) -> None:
    """A scrape must not scan objects: SQLite's authorizer lists every table the query reads."""

    async def main(store: FilesystemStore) -> None:
        for i in range(10):
            await put(store, f"k{i}", b"x")
        await store.create_upload(BUCKET, "mp", META)
        read: set[str] = set()

        def watch(action: int, table: str | None, *_: object) -> int:
            if action == sqlite3.SQLITE_READ and table:
                read.add(table)
            return sqlite3.SQLITE_OK

        conns = list(store._env.pool._all)  # the pool's connections; usage() takes one of them
        for c in conns:
            c.set_authorizer(watch)
        try:
            assert store.usage()[BUCKET] == BucketUsage(10, 10, 1)
        finally:
            for c in conns:
                c.set_authorizer(None)
        assert read == {"bucket_usage"}

    with_store(tmp_path, main)
