"""Keys never become paths: hostile keys stay rows, bodies stay under .smarts3."""

from __future__ import annotations

import os
from pathlib import Path

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore, recover
from tests.unit.fs_support import BUCKET, files_under, get, put, with_store

HOSTILE = [
    "../x",
    "../../../../etc/passwd",
    ".",
    "..",
    "a//b",
    "/leading",
    "trailing/",
    "dir/",
    "a",
    "a/b",
    "a/b/c",
    "nul\x00byte",
    "ctl\x01\x02\x1f\x7f",
    "new\nline\r",
    "k" * 1024,
    ("é" * 300)[:512],
    "😀/" * 50,
    ".smarts3",
    ".smarts3/meta.db",
    ".smarts3/bodies/00/" + "0" * 32,
    "\\windows\\path",
    " spaced ",
]


def test_hostile_keys_round_trip_and_stay_inside(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    outside_before = set(files_under(tmp_path))

    async def main(store: FilesystemStore) -> None:
        for i, key in enumerate(HOSTILE):
            await put(store, key, b"body %d" % i, meta=ObjectMeta(user={"n": str(i)}))
        for i, key in enumerate(HOSTILE):
            assert await get(store, key) == b"body %d" % i
            assert (await store.head_object(BUCKET, key)).key == key
        page = await store.list_objects(BUCKET)
        assert [e.key for e in page.entries] == sorted(HOSTILE, key=lambda k: k.encode())
        # a key beside a "directory" of the same name, and deleting one of them
        assert await store.delete_object(BUCKET, "a") is True
        assert await get(store, "a/b") == b"body %d" % HOSTILE.index("a/b")

    with_store(data_dir, main)
    recover(data_dir)
    created = set(files_under(tmp_path)) - outside_before
    system = (data_dir / ".smarts3").resolve()
    assert created, "nothing written?"
    for path in created:
        resolved = path.resolve()
        assert resolved.is_relative_to(system), path
        rel = resolved.relative_to(system).parts
        assert rel[0] in ("meta.db", "meta.db-wal", "meta.db-shm", "bodies"), rel
        if rel[0] == "bodies":
            assert len(rel) == 3 and rel[2][:2] == rel[1] and len(rel[2]) == 32
    # Nothing but the system directory appears in the data dir.
    assert os.listdir(data_dir) == [".smarts3"]
