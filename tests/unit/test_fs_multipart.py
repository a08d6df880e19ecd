"""Multipart uploads: parts, completion without copying, abort, listings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from smarts3.storage.base import (
    InvalidPart,
    NoSuchKey,
    NoSuchUpload,
    ObjectMeta,
    PartInfo,
    PreconditionFailed,
    WriteCondition,
)
from smarts3.storage.fs import FilesystemStore
from tests.unit.fs_support import BUCKET, body_files, get, put, temp_files, with_store

META = ObjectMeta(user={"m": "1"}, checksums={"CRC32": ""})


async def upload_part(store: FilesystemStore, key: str, upload_id: str, number: int, data: bytes) -> PartInfo:
    async with store.part_writer(BUCKET, key, upload_id, number) as w:
        for i in range(0, len(data), 200_000):
            await w.write(data[i : i + 200_000])
        return await w.commit({"CRC32": f"c{number}"})


def multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def test_complete_assembles_parts_without_copying(tmp_path: Path) -> None:
    p1, p2, p3 = os.urandom(1_300_000), os.urandom(1_100_000), os.urandom(7)

    async def main(store: FilesystemStore) -> None:
        up = await store.create_upload(BUCKET, "big", META)
        assert (await store.get_upload(BUCKET, "big", up.upload_id)).meta == META
        await upload_part(store, "big", up.upload_id, 1, os.urandom(10))  # replaced below
        i1 = await upload_part(store, "big", up.upload_id, 1, p1)
        i2 = await upload_part(store, "big", up.upload_id, 2, p2)
        await upload_part(store, "big", up.upload_id, 3, b"unlisted part")
        i4 = await upload_part(store, "big", up.upload_id, 4, p3)
        assert i1.etag == '"' + hashlib.md5(p1).hexdigest() + '"'
        await store.settle()
        assert len(body_files(tmp_path)) == 4  # the replaced part 1 is gone
        inodes = {p.stat().st_ino for p in body_files(tmp_path)}

        etag = multipart_etag([p1, p2, p3])
        info = await store.complete_upload(
            BUCKET,
            "big",
            up.upload_id,
            [(1, i1.etag), (2, i2.etag.strip('"')), (4, i4.etag)],
            etag=etag,
            meta=META,
        )
        assert info.etag == etag and info.size == len(p1) + len(p2) + len(p3)
        assert info.part_sizes == (len(p1), len(p2), len(p3))
        assert [dict(c) for c in info.part_checksums] == [
            {"CRC32": "c1"},
            {"CRC32": "c2"},
            {"CRC32": "c4"},
        ]
        assert await store.head_object(BUCKET, "big") == info
        # Same inodes: the parts became the object's segments, nothing copied.
        await store.settle()
        assert {p.stat().st_ino for p in body_files(tmp_path)} < inodes
        assert len(body_files(tmp_path)) == 3
        whole = p1 + p2 + p3
        assert await get(store, "big") == whole
        for start, end in [(len(p1) - 3, len(p1) + 3), (0, len(whole)), (len(whole) - 8, len(whole))]:
            assert await get(store, "big", start, end) == whole[start:end]
        with pytest.raises(NoSuchUpload):
            await store.get_upload(BUCKET, "big", up.upload_id)
        # A copy of a multipart object keeps its parts and ETag.
        copy = await store.copy_object(BUCKET, "big", BUCKET, "copy", META)
        assert (copy.etag, copy.part_sizes) == (info.etag, info.part_sizes)
        assert await get(store, "copy") == whole

    with_store(tmp_path, main)
    assert temp_files(tmp_path) == []


def test_invalid_parts_and_conditions(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        up = await store.create_upload(BUCKET, "k", META)
        i1 = await upload_part(store, "k", up.upload_id, 1, b"one")
        for parts, bad in (
            ([(1, i1.etag), (2, '"x"')], 2),
            ([(1, '"wrong"')], 1),
            ([(1, i1.etag), (1, i1.etag)], 1),
        ):
            with pytest.raises(InvalidPart) as err:
                await store.complete_upload(BUCKET, "k", up.upload_id, parts, etag='"e-1"', meta=META)
            assert err.value.part_number == bad
        await put(store, "k", b"exists")
        with pytest.raises(PreconditionFailed):
            await store.complete_upload(
                BUCKET,
                "k",
                up.upload_id,
                [(1, i1.etag)],
                etag='"e-1"',
                meta=META,
                condition=WriteCondition(if_none_match_star=True),
            )
        # Failures left the upload intact.
        page = await store.list_parts(BUCKET, "k", up.upload_id)
        assert [p.part_number for p in page.parts] == [1]
        with pytest.raises(NoSuchUpload):
            await store.complete_upload(BUCKET, "other", up.upload_id, [], etag='"e"', meta=META)
        info = await store.complete_upload(BUCKET, "k", up.upload_id, [(1, i1.etag)], etag='"e-1"', meta=META)
        assert await get(store, "k") == b"one" and info.etag == '"e-1"'
        await store.settle()
        assert len(body_files(tmp_path)) == 1  # replaced object's body removed

    with_store(tmp_path, main)


def test_abort_and_part_after_abort(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        up = await store.create_upload(BUCKET, "k", META)
        await upload_part(store, "k", up.upload_id, 1, b"a" * 2_000_000)
        async with store.part_writer(BUCKET, "k", up.upload_id, 2) as w:
            await w.write(b"b" * 1_500_000)
            await store.abort_upload(BUCKET, "k", up.upload_id)
            with pytest.raises(NoSuchUpload):
                await w.commit({})
        await store.settle()
        assert body_files(tmp_path) == [] and temp_files(tmp_path) == []
        with pytest.raises(NoSuchUpload):
            await store.abort_upload(BUCKET, "k", up.upload_id)
        with pytest.raises(NoSuchUpload):
            async with store.part_writer(BUCKET, "k", up.upload_id, 3):
                pass
        with pytest.raises(NoSuchKey):
            await store.head_object(BUCKET, "k")
        await store.delete_bucket(BUCKET)

    with_store(tmp_path, main)


def test_list_parts_pagination(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        up = await store.create_upload(BUCKET, "k", META)
        for n in (3, 1, 7, 5, 2):
            await upload_part(store, "k", up.upload_id, n, b"p%d" % n)
        seen: list[int] = []
        marker = 0
        while True:
            page = await store.list_parts(BUCKET, "k", up.upload_id, part_number_marker=marker, max_parts=2)
            seen.extend(p.part_number for p in page.parts)
            if not page.is_truncated:
                break
            assert page.next_part_number_marker is not None
            marker = page.next_part_number_marker
        assert seen == [1, 2, 3, 5, 7]
        part = (await store.list_parts(BUCKET, "k", up.upload_id, max_parts=1)).parts[0]
        assert (part.size, dict(part.checksums)) == (2, {"CRC32": "c1"})
        with pytest.raises(NoSuchUpload):
            await store.list_parts(BUCKET, "other", up.upload_id)

    with_store(tmp_path, main)


def test_list_uploads(tmp_path: Path) -> None:
    keys = ["a/1", "a/2", "b", "b", "c/d/e", "é"]

    async def main(store: FilesystemStore) -> None:
        ids = [(await store.create_upload(BUCKET, k, META)).upload_id for k in keys]
        page = await store.list_uploads(BUCKET)
        assert [(u.key, u.upload_id) for u in page.uploads] == list(zip(keys, ids, strict=True))
        assert not page.is_truncated
        page = await store.list_uploads(BUCKET, delimiter="/")
        assert page.common_prefixes == ["a/", "c/"]
        assert [u.key for u in page.uploads] == ["b", "b", "é"]
        page = await store.list_uploads(BUCKET, prefix="a/", max_uploads=1)
        assert page.is_truncated and (page.next_key_marker, page.next_upload_id_marker) == (
            "a/1",
            ids[0],
        )
        # key-marker alone: strictly later keys; with an upload-id-marker: later ids too.
        page = await store.list_uploads(BUCKET, key_marker="b")
        assert [u.key for u in page.uploads] == ["c/d/e", "é"]
        page = await store.list_uploads(BUCKET, key_marker="b", upload_id_marker=ids[2])
        assert [u.upload_id for u in page.uploads] == ids[3:]
        page = await store.list_uploads(BUCKET, delimiter="/", max_uploads=1)
        assert page.common_prefixes == ["a/"] and page.is_truncated
        assert (page.next_key_marker, page.next_upload_id_marker) == ("a/", None)
        page = await store.list_uploads(BUCKET, delimiter="/", key_marker="a/")
        assert page.common_prefixes == ["c/"]
        assert [u.key for u in page.uploads] == ["b", "b", "é"]

    with_store(tmp_path, main)
