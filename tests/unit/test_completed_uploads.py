"""The record of completed uploads: written with the object, found by id, forgotten by the sweeper."""

from __future__ import annotations

import time
from pathlib import Path

from smarts3.storage.base import CompletedUpload, ObjectMeta
from smarts3.storage.fs import FilesystemStore
from smarts3.sweeper import sweep
from tests.unit.fs_support import BUCKET, with_store


async def _complete(store: FilesystemStore, key: str) -> tuple[str, str]:
    upload = await store.create_upload(BUCKET, key, ObjectMeta())
    async with store.part_writer(BUCKET, key, upload.upload_id, 1) as writer:
        await writer.write(b"body")
        part = await writer.commit({"CRC32": "AAAAAA=="})
    meta = ObjectMeta(checksums={"CRC32": "BBBBBB==-1"}, checksum_type="COMPOSITE")
    info = await store.complete_upload(BUCKET, key, upload.upload_id, [(1, part.etag)], etag='"e-1"', meta=meta)
    assert info.etag == '"e-1"'
    return upload.upload_id, part.etag


def test_record_and_forget(tmp_path: Path) -> None:
    async def scenario(store: FilesystemStore) -> tuple[CompletedUpload | None, ...]:
        upload_id, etag = await _complete(store, "k")
        found = await store.completed_upload(BUCKET, "k", upload_id)
        assert found is not None
        assert found.parts == ((1, etag),)
        other_key = await store.completed_upload(BUCKET, "other", upload_id)
        # A sweep within the grace period keeps it; one after it drops it.
        await sweep(store, expire_after=3600, now=time.time(), completed_grace=60)
        kept = await store.completed_upload(BUCKET, "k", upload_id)
        await sweep(store, expire_after=3600, now=time.time() + 61, completed_grace=60)
        gone = await store.completed_upload(BUCKET, "k", upload_id)
        return found, other_key, kept, gone

    found, other_key, kept, gone = with_store(tmp_path, scenario)
    assert found is not None
    assert (found.etag, dict(found.checksums), found.checksum_type) == ('"e-1"', {"CRC32": "BBBBBB==-1"}, "COMPOSITE")
    assert other_key is None
    assert kept == found
    assert gone is None
