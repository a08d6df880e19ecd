"""FilesystemStore versioning: usage counters with versions, body files per version, the
listing's query plans, and versioned copies, without HTTP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smarts3.storage.base import BucketUsage, ObjectMeta
from smarts3.storage.fs import FilesystemStore
from smarts3.storage.fs.db import ensure_schema
from smarts3.storage.fs.versions import _MERGED
from tests.unit.fs_support import BUCKET, put, with_store
from tests.unit.test_fs_usage import check


def body_count(data_dir: Path) -> int:
    return sum(1 for p in (data_dir / ".smarts3" / "bodies").rglob("*") if p.is_file())


def test_usage_counts_current_objects_and_every_versions_bytes(tmp_path: Path) -> None:
    async def scenario(store: FilesystemStore) -> None:
        await put(store, "k", b"12345")  # the null version
        await store.set_bucket_versioning(BUCKET, "Enabled")
        v2 = await put(store, "k", b"123")
        assert check(store, tmp_path)[BUCKET] == BucketUsage(1, 8, 0)
        (marker,) = await store.delete_versions(BUCKET, [("k", None)])
        assert marker.delete_marker and marker.version_id
        assert check(store, tmp_path)[BUCKET] == BucketUsage(0, 8, 0)  # no current object, two versions
        await store.delete_versions(BUCKET, [("k", marker.version_id)])  # v2 is current again
        assert check(store, tmp_path)[BUCKET] == BucketUsage(1, 8, 0)
        assert v2.version_id is not None
        await store.delete_versions(BUCKET, [("k", v2.version_id)])  # the null version is current
        assert (await store.head_object(BUCKET, "k")).size == 5
        await store.set_bucket_versioning(BUCKET, "Suspended")
        await put(store, "k", b"1")  # replaces the null version
        await store.settle()
        assert check(store, tmp_path)[BUCKET] == BucketUsage(1, 1, 0)
        assert body_count(tmp_path) == 1

    with_store(tmp_path, scenario)


def test_copy_of_an_old_version_owns_its_body(tmp_path: Path) -> None:
    async def scenario(store: FilesystemStore) -> None:
        await store.set_bucket_versioning(BUCKET, "Enabled")
        v1 = await put(store, "src", b"old")
        await put(store, "src", b"new")
        copied = await store.copy_object(BUCKET, "src", BUCKET, "dst", ObjectMeta(), src_version_id=v1.version_id)
        assert copied.version_id not in (None, v1.version_id)
        await store.delete_versions(BUCKET, [("src", v1.version_id)])
        await store.settle()
        reader = await store.open_object(BUCKET, "dst")
        try:
            assert b"".join([c async for c in reader.iter_range(0, reader.info.size)]) == b"old"
        finally:
            await reader.close()
        assert body_count(tmp_path) == 2  # src's current version and the copy

    with_store(tmp_path, scenario)


def test_version_listing_walks_the_primary_keys() -> None:
    # Both halves of the merge must come in key order straight from the primary keys, merged
    # as read: a sort would read every row under the prefix for each page.
    conn = sqlite3.connect(":memory:", isolation_level=None)
    ensure_schema(conn)
    for merged in _MERGED.values():  # without and with the meta column (owners)
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {merged}", ("b", b"", b"\xff", 1))]
        assert "MERGE (UNION ALL)" in plan, plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
        assert sum("USING PRIMARY KEY" in step for step in plan) == 2, plan
