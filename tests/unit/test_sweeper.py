"""The idle multipart sweep and its single-worker lock."""

from __future__ import annotations

import time
from pathlib import Path

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore
from smarts3.sweeper import SweepLock, sweep
from tests.unit.fs_support import BUCKET, with_store


def test_sweep_aborts_only_idle_uploads(tmp_path: Path) -> None:
    async def scenario(store: FilesystemStore) -> tuple[int, int, list[str]]:
        idle = await store.create_upload(BUCKET, "idle", ObjectMeta())
        busy = await store.create_upload(BUCKET, "busy", ObjectMeta())
        async with store.part_writer(BUCKET, "busy", busy.upload_id, 1) as writer:
            await writer.write(b"part")
            await writer.commit({})
        now = time.time()
        # Nothing is older than an hour yet.
        first = await sweep(store, expire_after=3600, now=now)
        # An hour later, both started before the cutoff, but "busy" had a part 0.5 h ago.
        later = max(idle.initiated, busy.initiated) + 3600 + 1
        second = await sweep(store, expire_after=3600 + 0.5, now=later)
        remaining = [u.key for u in (await store.list_uploads(BUCKET)).uploads]
        return first, second, remaining

    first, second, remaining = with_store(tmp_path, scenario)
    assert first == 0
    assert second >= 1
    assert "idle" not in remaining


def test_only_one_holder_of_the_sweep_lock(tmp_path: Path) -> None:
    path = tmp_path / "sweeper.lock"
    first, second = SweepLock(path), SweepLock(path)
    assert first.try_acquire()
    assert first.try_acquire()  # re-entrant for its holder
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
