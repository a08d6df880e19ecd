"""FilesystemStore: buckets, object round trips, conditions, deletes, copies."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import anyio
import pytest

from smarts3.storage.base import (
    BadRange,
    BucketAlreadyExists,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
    ObjectMeta,
    PreconditionFailed,
    WriteCondition,
)
from smarts3.storage.fs import FilesystemStore, bodies
from tests.unit.fs_support import BUCKET, body_files, etag_of, get, put, run, temp_files, with_store

META = ObjectMeta(
    headers={"content-type": "text/plain", "cache-control": "no-cache"},
    user={"colour": "blue", "émoji": "😀"},
    tags={"env": "test"},
    checksums={"CRC32": "AAAAAA=="},
    checksum_type="FULL_OBJECT",
    extra={"acl": "private"},
)


# --- buckets ---------------------------------------------------------------


def test_bucket_lifecycle(tmp_path: Path) -> None:
    async def main() -> None:
        store = FilesystemStore(tmp_path)  # no I/O until first use
        try:
            created = await store.create_bucket("one", "eu-west-1")
            await store.create_bucket("two", "us-east-1")
            with pytest.raises(BucketAlreadyExists):
                await store.create_bucket("one", "us-east-1")
            got = await store.get_bucket("one")
            assert (got.name, got.region, got.created) == ("one", "eu-west-1", created.created)
            await store.set_bucket_tags("one", {"team": "a"})
            await store.update_bucket_extra("one", {"cors": "<x/>", "acl": "public-read"})
            await store.update_bucket_extra("one", {"acl": None, "declared": "1"})
            got = await store.get_bucket("one")
            assert dict(got.tags) == {"team": "a"}
            assert dict(got.extra) == {"cors": "<x/>", "declared": "1"}
            with pytest.raises(NoSuchBucket):
                await store.update_bucket_extra("nope", {"acl": "private"})
            assert [b.name for b in await store.list_buckets()] == ["one", "two"]
            await put(store, "k", b"x", bucket="one")
            with pytest.raises(BucketNotEmpty):
                await store.delete_bucket("one")
            await store.delete_object("one", "k")
            await store.delete_bucket("one")
            with pytest.raises(NoSuchBucket):
                await store.get_bucket("one")
            with pytest.raises(NoSuchBucket):
                await store.delete_bucket("one")
            with pytest.raises(NoSuchBucket):
                await store.set_bucket_tags("one", {})
        finally:
            await store.close()

    run(main)


def test_missing_bucket_errors(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        with pytest.raises(NoSuchBucket):
            await put(store, "k", b"x", bucket="nope")
        for call in (
            store.head_object("nope", "k"),
            store.open_object("nope", "k"),
            store.delete_object("nope", "k"),
            store.list_objects("nope"),
            store.create_upload("nope", "k", ObjectMeta()),
        ):
            with pytest.raises(NoSuchBucket):
                await call
        await put(store, "k", b"x")
        with pytest.raises(NoSuchBucket):
            await store.copy_object(BUCKET, "k", "nope", "k2", ObjectMeta())
        await store.settle()  # the failed copy's links are removed by the background reaper
        assert temp_files(tmp_path) == []
        assert len(body_files(tmp_path)) == 1

    with_store(tmp_path, main)


# --- round trips -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4096, 256 * 1024 + 1, 3 * 1024 * 1024 + 17])
def test_put_get_round_trip(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)

    async def main(store: FilesystemStore) -> None:
        info = await put(store, "dir/obj.bin", data, meta=META, chunk=100_000)
        assert info.etag == etag_of(data)
        assert info.size == size
        assert info.part_sizes == (size,)
        assert info.meta == META
        head = await store.head_object(BUCKET, "dir/obj.bin")
        assert head == info
        assert await get(store, "dir/obj.bin") == data
        if size > 10:
            assert await get(store, "dir/obj.bin", 3, size - 5) == data[3 : size - 5]

    with_store(tmp_path, main)
    assert temp_files(tmp_path) == []
    assert len(body_files(tmp_path)) == 1


def test_md5_before_commit_and_sizes(tmp_path: Path) -> None:
    chunks = [os.urandom(n) for n in (10, 700_000, 500_000, 1, 2_000_000, 3)]

    async def main(store: FilesystemStore) -> None:
        import hashlib

        async with store.object_writer(BUCKET, "k") as w:
            seen = b""
            for c in chunks:
                await w.write(c)
                seen += c
                assert w.size == len(seen)
                await w.flush()  # md5 is defined once the flush in flight has finished
                assert w.md5 == hashlib.md5(seen).digest()
            info = await w.commit(ObjectMeta())
        assert info.etag == etag_of(seen)
        assert await get(store, "k") == seen

    with_store(tmp_path, main, fsync=True)


def test_ranges_and_bad_range(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)

    async def main(store: FilesystemStore) -> None:
        await put(store, "k", data)
        reader = await store.open_object(BUCKET, "k")
        try:
            chunks = [c async for c in reader.iter_range(0, len(data))]
            assert all(len(c) <= 1024 * 1024 for c in chunks)
            assert b"".join(chunks) == data
            for start, end in [(0, 0), (0, 1), (1024 * 1024 - 1, 1024 * 1024 + 1), (5, len(data))]:
                got = b"".join([c async for c in reader.iter_range(start, end)])
                assert got == data[start:end]
            for start, end in [(-1, 3), (5, 4), (0, len(data) + 1)]:
                with pytest.raises(BadRange):
                    _ = [c async for c in reader.iter_range(start, end)]
        finally:
            await reader.close()

    with_store(tmp_path, main)


def test_overwrite_and_delete_while_reader_open(tmp_path: Path) -> None:
    old = os.urandom(1024 * 1024 + 3)  # above the read-whole threshold: fds held
    new = os.urandom(5000)

    async def main(store: FilesystemStore) -> None:
        await put(store, "k", old)
        reader = await store.open_object(BUCKET, "k")
        try:
            it = reader.iter_range(0, len(old))
            first = await it.__anext__()
            await put(store, "k", new)
            assert await get(store, "k") == new
            await store.settle()
            assert len(body_files(tmp_path)) == 1  # old body unlinked already
            await store.delete_object(BUCKET, "k")
            rest = [c async for c in it]
            assert first + b"".join(rest) == old
            assert reader.info.etag == etag_of(old)
        finally:
            await reader.close()
        with pytest.raises(NoSuchKey):
            await store.open_object(BUCKET, "k")

    with_store(tmp_path, main)
    assert body_files(tmp_path) == []


# --- conditions ---------------------------------------------------------------


def test_write_conditions(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        star = WriteCondition(if_none_match_star=True)
        first = await put(store, "k", b"one", condition=star)
        with pytest.raises(PreconditionFailed):
            await put(store, "k", b"two", condition=star)
        with pytest.raises(PreconditionFailed):
            await put(store, "k", b"two", condition=WriteCondition(if_match='"bad"'))
        with pytest.raises(NoSuchKey):
            await put(store, "missing", b"two", condition=WriteCondition(if_match=first.etag))
        info = await put(store, "k", b"three", condition=WriteCondition(if_match=first.etag))
        assert await get(store, "k") == b"three"
        assert info.etag == etag_of(b"three")

    with_store(tmp_path, main)
    # Failed commits leave neither temp files nor bodies behind.
    assert temp_files(tmp_path) == []
    assert len(body_files(tmp_path)) == 1


# --- failure and cancellation mid-write --------------------------------------------


def test_exception_in_block_leaves_nothing(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        with pytest.raises(ValueError, match="boom"):
            async with store.object_writer(BUCKET, "k") as w:
                await w.write(os.urandom(3 * 1024 * 1024))
                await w.flush()  # now it is in a temp file
                assert temp_files(tmp_path) != []
                raise ValueError("boom")
        with pytest.raises(NoSuchKey):
            await store.head_object(BUCKET, "k")

    with_store(tmp_path, main)
    assert temp_files(tmp_path) == []
    assert body_files(tmp_path) == []


def test_cancellation_mid_write_leaves_nothing(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        started = anyio.Event()

        async def writer() -> None:
            async with store.object_writer(BUCKET, "k") as w:
                for _ in range(1000):
                    await w.write(b"x" * 300_000)
                    started.set()
                await w.commit(ObjectMeta())

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await started.wait()
            while not temp_files(tmp_path):
                await anyio.sleep(0.001)
            tg.cancel_scope.cancel()
        with pytest.raises(NoSuchKey):
            await store.head_object(BUCKET, "k")

    with_store(tmp_path, main)
    assert temp_files(tmp_path) == []
    assert body_files(tmp_path) == []


def test_writer_is_single_use(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        async with store.object_writer(BUCKET, "k") as w:
            await w.write(b"a")
            await w.commit(ObjectMeta())
            with pytest.raises(RuntimeError):
                await w.write(b"b")
        assert await get(store, "k") == b"a"

    with_store(tmp_path, main)


# --- deletes ---------------------------------------------------------------------


def test_delete_and_bulk_delete(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        for i in range(10):
            await put(store, f"k{i}", b"v%d" % i)
        assert await store.delete_object(BUCKET, "k0") is True
        assert await store.delete_object(BUCKET, "k0") is False
        got = await store.delete_objects(BUCKET, ["k1", "nope", "k2", "k1", "k9"])
        assert got == [True, False, True, False, True]
        page = await store.list_objects(BUCKET)
        assert [e.key for e in page.entries] == [f"k{i}" for i in range(3, 9)]

    with_store(tmp_path, main)
    assert len(body_files(tmp_path)) == 6


# --- copies and metadata updates -------------------------------------------------


def test_copy_object(tmp_path: Path) -> None:
    data = os.urandom(300_000)

    async def main(store: FilesystemStore) -> None:
        await store.create_bucket("other", "us-east-1")
        src = await put(store, "src", data, meta=META)
        with pytest.raises(PreconditionFailed):
            await store.copy_object(BUCKET, "src", "other", "dst", META, src_etag='"nope"')
        new_meta = ObjectMeta(user={"copied": "yes"})
        info = await store.copy_object(BUCKET, "src", "other", "dst", new_meta, src_etag=src.etag)
        assert (info.etag, info.size, info.meta) == (src.etag, src.size, new_meta)
        # Overwriting or deleting the source must not touch the copy.
        await put(store, "src", b"changed")
        await store.delete_object(BUCKET, "src")
        assert await get(store, "dst", bucket="other") == data
        with pytest.raises(NoSuchKey):
            await store.copy_object(BUCKET, "src", "other", "dst", META)
        with pytest.raises(NoSuchKey):  # If-Match on a missing destination
            await store.copy_object("other", "dst", "other", "dst2", META, condition=WriteCondition(if_match='"x"'))
        with pytest.raises(PreconditionFailed):
            await store.copy_object("other", "dst", "other", "dst", META, condition=WriteCondition(if_match='"x"'))
        with pytest.raises(NoSuchKey):
            await store.head_object("other", "dst2")

    with_store(tmp_path, main)
    assert len(body_files(tmp_path)) == 1


def test_copy_shares_inode_and_onto_itself(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        src = await put(store, "a", b"payload", meta=META)
        await store.copy_object(BUCKET, "a", BUCKET, "b", META)
        inodes = {p.stat().st_ino for p in body_files(tmp_path)}
        assert len(body_files(tmp_path)) == 2 and len(inodes) == 1
        await anyio.sleep(0.01)
        new_meta = ObjectMeta(headers={"content-type": "image/png"})
        same = await store.copy_object(BUCKET, "a", BUCKET, "a", new_meta, src_etag=src.etag)
        assert same.etag == src.etag and same.meta == new_meta
        assert same.last_modified > src.last_modified
        assert await store.head_object(BUCKET, "a") == same
        assert await get(store, "a") == b"payload"
        with pytest.raises(PreconditionFailed):
            await store.copy_object(BUCKET, "a", BUCKET, "a", new_meta, src_etag='"other"')

    with_store(tmp_path, main)


def test_update_object_meta_keeps_body_etag_and_time(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        before = await put(store, "k", b"body", meta=META)
        after = await store.update_object_meta(BUCKET, "k", tags={"a": "1", "b": "2"})
        assert (after.etag, after.last_modified, after.size) == (
            before.etag,
            before.last_modified,
            before.size,
        )
        await store.update_object_meta(BUCKET, "k", extra={"acl": "public-read"})
        meta = (await store.head_object(BUCKET, "k")).meta
        assert dict(meta.tags) == {"a": "1", "b": "2"}
        assert dict(meta.extra) == {"acl": "public-read"}
        assert dict(meta.headers) == dict(META.headers)
        await store.update_object_meta(BUCKET, "k", tags={}, extra={"acl": None})
        meta = (await store.head_object(BUCKET, "k")).meta
        assert (dict(meta.tags), dict(meta.extra), dict(meta.headers)) == ({}, {}, dict(META.headers))
        assert await get(store, "k") == b"body"
        with pytest.raises(NoSuchKey):
            await store.update_object_meta(BUCKET, "missing", tags={})

    with_store(tmp_path, main)


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    async def write(store: FilesystemStore) -> None:
        await put(store, "persist", b"still here", meta=META)

    async def read(store: FilesystemStore) -> bytes:
        assert (await store.head_object(BUCKET, "persist")).meta == META
        return await get(store, "persist")

    with_store(tmp_path, write, fsync=True)
    assert with_store(tmp_path, read, fsync=True) == b"still here"


# --- early data syncs of large bodies (fsync: always) --------------------------------


def test_large_body_with_early_syncs_is_intact(tmp_path: Path) -> None:
    data = os.urandom(bodies.EARLY_SYNC_BYTES * 3 + 12345)

    async def main(store: FilesystemStore) -> None:
        info = await put(store, "big", data, chunk=256 * 1024)
        assert info.etag == etag_of(data)
        assert await get(store, "big") == data

    with_store(tmp_path, main, fsync=True)
    assert temp_files(tmp_path) == []


def test_failed_early_sync_fails_the_write_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Linux may report the fsync after a failed one as a success: only the first early sync
    # fails here, and that failure alone must fail the write.
    calls: list[int] = []
    real_fdatasync = os.fdatasync

    def failing_fdatasync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)

    async def main(store: FilesystemStore) -> None:
        with pytest.raises(OSError, match="Input/output error"):
            await put(store, "big", os.urandom(bodies.EARLY_SYNC_BYTES * 4), chunk=256 * 1024)
        with pytest.raises(NoSuchKey):
            await store.head_object(BUCKET, "big")

    with_store(tmp_path, main, fsync=True)
    assert temp_files(tmp_path) == []
    assert body_files(tmp_path) == []


def test_upload_into_a_bucket_another_worker_just_deleted(tmp_path: Path) -> None:
    # Two stores on one data dir stand in for two workers; `mine` has just seen the bucket.
    async def main() -> None:
        mine = await FilesystemStore.open(tmp_path, fsync=False)
        other = await FilesystemStore.open(tmp_path, fsync=False)
        try:
            await mine.create_bucket("gone", "us-east-1")
            await put(mine, "k", b"first", bucket="gone")
            await mine.delete_object("gone", "k")
            await other.delete_bucket("gone")
            with pytest.raises(NoSuchBucket):
                await put(mine, "k", b"second", bucket="gone")
            await mine.settle()
        finally:
            await mine.close()
            await other.close()

    run(main)
    assert temp_files(tmp_path) == []
    assert body_files(tmp_path) == []


def test_upload_after_deleting_the_bucket_here(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        await store.create_bucket("short", "us-east-1")
        await put(store, "k", b"x", bucket="short")
        await store.delete_object("short", "k")
        await store.delete_bucket("short")
        with pytest.raises(NoSuchBucket):
            async with store.object_writer("short", "k"):
                pass  # refused on entry, before any body is read

    with_store(tmp_path, main)


def test_tagging_never_undoes_a_concurrent_overwrite(tmp_path: Path) -> None:
    # The tags are applied to the row as it is at commit: the new object's headers survive.
    old_meta = ObjectMeta(headers={"content-type": "text/old"})
    new_meta = ObjectMeta(headers={"content-type": "text/new"})

    async def main(store: FilesystemStore) -> None:
        for i in range(30):
            key = f"race-{i}"
            await put(store, key, b"old", meta=old_meta)
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(put, store, key, b"new", meta=new_meta))
                tg.start_soon(partial(store.update_object_meta, BUCKET, key, tags={"t": "1"}))
            info = await store.head_object(BUCKET, key)
            assert info.meta.headers["content-type"] == "text/new"
            assert await get(store, key) == b"new"

    with_store(tmp_path, main)
