"""sync.empty_bucket (forceDelete) against the store: every version and delete marker goes,
page after page, except the versions Object Lock keeps from an administrator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smarts3 import sync
from smarts3.s3.handlers.objectlock import HOLD, MODE, UNTIL
from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore
from tests.unit.fs_support import BUCKET, put, with_store


def _until(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


LOCKS = {
    "compliance": {MODE: "COMPLIANCE", UNTIL: _until(1)},
    "held": {HOLD: "ON"},
    "governance": {MODE: "GOVERNANCE", UNTIL: _until(1)},  # the administrator bypasses it
    "expired": {MODE: "COMPLIANCE", UNTIL: _until(-1)},
    "released": {HOLD: "OFF"},
}


def test_empty_bucket_walks_every_page_and_keeps_only_what_object_lock_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "EMPTY_PAGE", 3)  # many pages, kept versions on several of them

    async def main(store: FilesystemStore) -> None:
        await store.set_bucket_versioning(BUCKET, "Enabled")
        for index in range(4):
            for name, extra in LOCKS.items():
                await put(store, f"{index}-{name}", b"old")
                await put(store, f"{index}-{name}", b"x", meta=ObjectMeta(extra=extra))
            await store.delete_objects(BUCKET, [f"{index}-marked"])
        await store.create_upload(BUCKET, "unfinished", ObjectMeta())

        assert await sync.empty_bucket(store, BUCKET) == 8
        left = await store.list_object_versions(BUCKET)
        assert sorted(e.key for e in left.entries) == sorted(
            f"{index}-{name}" for index in range(4) for name in ("compliance", "held")
        )
        assert not any(e.marker for e in left.entries)
        assert (await store.list_uploads(BUCKET)).uploads == []

        # Unlocked (the hold lifted, the retention ended): a second force empties the bucket.
        for entry in left.entries:
            await store.update_object_meta(BUCKET, entry.key, extra={HOLD: None, MODE: None, UNTIL: None})
        assert await sync.empty_bucket(store, BUCKET) == 0
        assert (await store.list_object_versions(BUCKET)).entries == []
        await store.delete_bucket(BUCKET)

    with_store(tmp_path, main)


def test_empty_bucket_of_an_unversioned_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync, "EMPTY_PAGE", 3)

    async def main(store: FilesystemStore) -> None:
        for index in range(10):
            await put(store, f"k{index}", b"x")
        assert await sync.empty_bucket(store, BUCKET) == 0
        await store.delete_bucket(BUCKET)

    with_store(tmp_path, main)
