"""ObjectWriter.commit(bucket_extra=...): the commit's own transaction checks that the bucket's
configuration is still the one the caller decided on (s3/handlers/known_buckets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarts3.storage.base import BucketChanged, NoSuchBucket, ObjectMeta
from smarts3.storage.fs import FilesystemStore
from tests.unit.fs_support import BUCKET, body_files, temp_files, with_store

LIMIT = 1000


@pytest.mark.parametrize("size", [10, LIMIT + 1], ids=["inline", "file"])
def test_a_changed_bucket_commits_nothing(tmp_path: Path, size: int) -> None:
    async def main(store: FilesystemStore) -> None:
        await store.update_bucket_extra(BUCKET, {"object-lock-default": "GOVERNANCE 1 Days"})
        seen = dict((await store.get_bucket(BUCKET)).extra)
        async with store.object_writer(BUCKET, "k", bucket_checked=True) as w:
            await w.write(b"a" * size)
            info = await w.commit(ObjectMeta(), bucket_extra=seen)  # unchanged: commits
        assert info.size == size
        await store.update_bucket_extra(BUCKET, {"object-lock-default": "COMPLIANCE 1 Days"})
        async with store.object_writer(BUCKET, "k", bucket_checked=True) as w:
            await w.write(b"b" * size)
            with pytest.raises(BucketChanged):
                await w.commit(ObjectMeta(), bucket_extra=seen)
        assert (await store.head_object(BUCKET, "k")).etag == info.etag  # the first PUT stands
        await store.settle()
        assert len(body_files(tmp_path)) == (1 if size > LIMIT else 0)  # the refused body is gone
        assert temp_files(tmp_path) == []
        await store.delete_object(BUCKET, "k")
        await store.delete_bucket(BUCKET)
        async with store.object_writer(BUCKET, "k", bucket_checked=True) as w:  # no read on enter
            await w.write(b"c" * size)
            with pytest.raises(NoSuchBucket):
                await w.commit(ObjectMeta(), bucket_extra=seen)
        await store.settle()
        assert body_files(tmp_path) == []
        assert temp_files(tmp_path) == []

    with_store(tmp_path, main, inline_max=LIMIT)
