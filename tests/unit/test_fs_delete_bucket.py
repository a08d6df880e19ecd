"""DeleteBucket with multipart uploads in progress: refused only for objects, uploads go with the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarts3.storage.base import BucketNotEmpty, NoSuchBucket, NoSuchUpload, ObjectMeta
from smarts3.storage.fs import FilesystemStore
from tests.unit.fs_support import BUCKET, body_files, put, temp_files, with_store


def test_delete_bucket_aborts_uploads_in_progress(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        first = await store.create_upload(BUCKET, "a", ObjectMeta())
        second = await store.create_upload(BUCKET, "b", ObjectMeta())
        for upload, number in ((first, 1), (first, 2), (second, 1)):
            async with store.part_writer(BUCKET, upload.key, upload.upload_id, number) as writer:
                await writer.write(b"x" * 1000)
                await writer.commit({})
        await put(store, "object", b"o")
        with pytest.raises(BucketNotEmpty):  # an object still keeps the bucket
            await store.delete_bucket(BUCKET)
        assert len((await store.list_uploads(BUCKET)).uploads) == 2
        await store.delete_object(BUCKET, "object")

        async with store.part_writer(BUCKET, "b", second.upload_id, 2) as late:
            await late.write(b"y" * 1000)
            await store.delete_bucket(BUCKET)  # while a part is being written
            with pytest.raises((NoSuchBucket, NoSuchUpload)):
                await late.commit({})
        await store.settle()
        assert body_files(tmp_path) == [] and temp_files(tmp_path) == []
        assert BUCKET not in store.usage()
        with pytest.raises(NoSuchBucket):
            await store.get_bucket(BUCKET)
        await store.create_bucket(BUCKET, "us-east-1")
        assert (await store.list_uploads(BUCKET)).uploads == []
        with pytest.raises(NoSuchUpload):
            await store.list_parts(BUCKET, "a", first.upload_id)

    with_store(tmp_path, main)


def test_delete_bucket_forgets_completed_uploads(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> None:
        upload = await store.create_upload(BUCKET, "k", ObjectMeta())
        async with store.part_writer(BUCKET, "k", upload.upload_id, 1) as writer:
            await writer.write(b"z")
            part = await writer.commit({})
        await store.complete_upload(BUCKET, "k", upload.upload_id, [(1, part.etag)], etag='"e-1"', meta=ObjectMeta())
        await store.delete_object(BUCKET, "k")
        await store.delete_bucket(BUCKET)
        await store.create_bucket(BUCKET, "us-east-1")
        assert await store.completed_upload(BUCKET, "k", upload.upload_id) is None

    with_store(tmp_path, main)
