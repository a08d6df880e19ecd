"""Inline bodies (storage/fs/inline.py): small bodies live in their row, larger ones in files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore, recover
from smarts3.storage.fs.db import RECOUNT_USAGE, SCHEMA_VERSION
from smarts3.storage.fs.recovery import examine
from tests.unit.fs_support import BUCKET, body_files, etag_of, get, put, temp_files, with_store

LIMIT = 1000


def db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / ".smarts3" / "meta.db")


def test_bodies_up_to_the_limit_stay_in_the_row(tmp_path: Path) -> None:
    small, edge, large = b"s" * 10, bytes(range(256)) * 3 + b"e" * (LIMIT - 768), b"L" * (LIMIT + 1)

    async def main(store: FilesystemStore) -> None:
        for key, data in (("small", small), ("edge", edge), ("large", large), ("empty", b"")):
            info = await put(store, key, data, chunk=100)
            assert (info.etag, info.size, info.part_sizes) == (etag_of(data), len(data), (len(data),))
        assert len(body_files(tmp_path)) == 1  # only "large"
        for key, data in (("small", small), ("edge", edge), ("large", large), ("empty", b"")):
            assert await get(store, key) == data
            head = await store.head_object(BUCKET, key)
            assert (head.etag, head.size, head.part_sizes) == (etag_of(data), len(data), (len(data),))
        assert await get(store, "edge", 5, 300) == edge[5:300]  # a range of an inline body
        listed = {e.key: e.size for e in (await store.list_objects(BUCKET)).entries}
        assert listed == {"small": 10, "edge": LIMIT, "large": LIMIT + 1, "empty": 0}
        assert store.usage()[BUCKET].bytes == 2 * LIMIT + 11

    with_store(tmp_path, main, inline_max=LIMIT)
    with db(tmp_path) as c:
        rows = dict(c.execute("SELECT key, length(body) FROM objects"))
        assert rows == {b"small": 10, b"edge": LIMIT, b"large": None, b"empty": 0}
        assert c.execute("SELECT segments FROM objects WHERE key = ?", (b"small",)).fetchone() == ("[]",)


def test_zero_turns_inline_bodies_off(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await put(store, "a", b"abc")
        assert await get(store, "a") == b"abc"

    with_store(tmp_path, main, inline_max=0)
    assert len(body_files(tmp_path)) == 1


def test_overwrite_and_delete_between_kinds_leave_nothing_behind(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await put(store, "k", b"x" * (LIMIT + 5))
        await put(store, "k", b"small")  # file → inline: the file goes
        await store.settle()
        assert body_files(tmp_path) == []
        assert await get(store, "k") == b"small"
        await put(store, "k", b"y" * (LIMIT + 5))  # inline → file
        assert await get(store, "k") == b"y" * (LIMIT + 5)
        await store.delete_object(BUCKET, "k")
        await put(store, "gone", b"tiny")
        await store.delete_object(BUCKET, "gone")
        await store.settle()
        assert body_files(tmp_path) == []
        assert store.usage()[BUCKET].objects == 0 and store.usage()[BUCKET].bytes == 0

    with_store(tmp_path, main, inline_max=LIMIT)


def test_versions_keep_their_inline_bodies(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await store.set_bucket_versioning(BUCKET, "Enabled")
        first = await put(store, "v", b"one")
        second = await put(store, "v", b"two" * 500)  # a file version on top of an inline one
        third = await put(store, "v", b"three")
        assert first.version_id and second.version_id and third.version_id
        for info, data in ((first, b"one"), (second, b"two" * 500), (third, b"three")):
            reader = await store.open_object(BUCKET, "v", info.version_id)
            try:
                assert b"".join([c async for c in reader.iter_range(0, reader.info.size)]) == data
            finally:
                await reader.close()
        # Deleting the current version promotes the previous one, with its bytes.
        await store.delete_versions(BUCKET, [("v", third.version_id)])
        assert await get(store, "v") == b"two" * 500
        await store.delete_versions(BUCKET, [("v", second.version_id)])
        assert await get(store, "v") == b"one"
        await store.settle()
        assert body_files(tmp_path) == []

    with_store(tmp_path, main, inline_max=LIMIT)
    with db(tmp_path) as c:
        stored = [tuple(r) for r in c.execute(RECOUNT_USAGE)]
        assert stored == [tuple(r) for r in c.execute("SELECT bucket, objects, bytes, uploads FROM bucket_usage")]


def test_copies_of_inline_bodies(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await put(store, "src", b"source bytes")
        meta = ObjectMeta(user={"copied": "yes"})
        info = await store.copy_object(BUCKET, "src", BUCKET, "dst", meta)
        assert info.etag == etag_of(b"source bytes")
        await put(store, "src", b"changed")  # the copy owns its bytes
        assert await get(store, "dst") == b"source bytes"
        assert (await store.head_object(BUCKET, "dst")).meta.user == {"copied": "yes"}
        # An unversioned copy onto itself replaces the metadata and keeps the inline body.
        await store.copy_object(BUCKET, "dst", BUCKET, "dst", ObjectMeta(user={"again": "1"}))
        assert await get(store, "dst") == b"source bytes"

    with_store(tmp_path, main, inline_max=LIMIT)
    assert body_files(tmp_path) == []


def test_recovery_and_fsck_know_inline_rows_have_no_file(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await put(store, "inline", b"i" * 10)
        await put(store, "file", b"f" * (LIMIT + 1))

    with_store(tmp_path, main, inline_max=LIMIT)
    found = examine(tmp_path)
    assert (found.orphans, found.missing, found.temp_files) == ((), (), ())
    report = recover(tmp_path)
    assert (report.bodies_missing, report.orphans_removed, report.bodies_kept) == (0, 0, 1)
    assert temp_files(tmp_path) == [] and len(body_files(tmp_path)) == 1


def test_schema_3_database_migrates_in_place(tmp_path: Path) -> None:
    async def before(store: FilesystemStore) -> None:
        await put(store, "old", b"old body")

    with_store(tmp_path, before, inline_max=0)
    with db(tmp_path) as c:  # back to what a schema 3 server wrote
        c.execute("ALTER TABLE objects DROP COLUMN body")
        c.execute("ALTER TABLE versions DROP COLUMN body")
        c.execute("PRAGMA user_version = 3")

    async def after(store: FilesystemStore) -> None:
        assert await get(store, "old") == b"old body"  # still a file
        await put(store, "new", b"new body")
        assert await get(store, "new") == b"new body"

    with_store(tmp_path, after, inline_max=LIMIT)
    with db(tmp_path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert dict(c.execute("SELECT key, length(body) FROM objects")) == {b"old": None, b"new": 8}
    assert len(body_files(tmp_path)) == 1
