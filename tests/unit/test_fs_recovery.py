"""recover(): layout creation, temp and orphan removal, crash consistency."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smarts3.storage.base import NoSuchKey, ObjectMeta
from smarts3.storage.fs import FilesystemStore, recover, system_dir
from smarts3.storage.fs.inline import INLINE_MAX_BYTES
from tests.unit.fs_support import BUCKET, body_files, get, put, temp_files, with_store


def test_recover_creates_layout(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    report = recover(data_dir)
    assert report.removed == 0 and report.bodies_kept == 0
    root = system_dir(data_dir)
    assert (root / "meta.db").is_file()
    assert (root / "tmp").is_dir()
    assert len(os.listdir(root / "bodies")) == 256
    assert recover(data_dir).removed == 0  # idempotent


def test_recover_removes_temp_and_orphans_and_keeps_committed(tmp_path: Path) -> None:
    async def setup(store: FilesystemStore) -> None:
        await put(store, "keep/1", b"one")
        await put(store, "keep/2", os.urandom(2_000_000))
        up = await store.create_upload(BUCKET, "mp", ObjectMeta())
        async with store.part_writer(BUCKET, "mp", up.upload_id, 1) as w:
            await w.write(b"part")
            await w.commit({})

    with_store(tmp_path, setup)
    root = system_dir(tmp_path)
    # Debris a crash can leave: a temp file, an unreferenced sealed body,
    # and a stray file in the bodies tree.
    (root / "tmp" / ("a" * 32)).write_bytes(b"half written")
    orphan = root / "bodies" / "ab" / ("ab" + "0" * 30)
    orphan.write_bytes(b"never committed")
    (root / "bodies" / "cd" / "junk").write_bytes(b"?")
    (root / "credentials.json").write_text("{}")  # other system files are left alone

    report = recover(tmp_path)
    assert (report.temp_removed, report.orphans_removed) == (1, 2)
    assert (report.bodies_kept, report.bodies_missing) == (3, 0)
    assert not orphan.exists() and temp_files(tmp_path) == []
    assert (root / "credentials.json").exists()

    async def check(store: FilesystemStore) -> None:
        assert await get(store, "keep/1") == b"one"
        assert len(await get(store, "keep/2")) == 2_000_000
        (up,) = (await store.list_uploads(BUCKET)).uploads
        assert [p.size for p in (await store.list_parts(BUCKET, "mp", up.upload_id)).parts] == [4]

    with_store(tmp_path, check)


_CHILD = """
import sys, anyio
from pathlib import Path
from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore

def body(key, version):
    unit = f"{key}:{version};".encode()
    size = 1_500_000 if version % 3 == 0 else 3000
    return (unit * (size // len(unit) + 1))[:size]

async def main():
    store = await FilesystemStore.open(Path(sys.argv[1]), fsync=True)
    await store.create_bucket("bkt", "us-east-1")
    version = 0
    while True:
        version += 1
        key = f"k{version % 7}"
        if version % 11 == 0:
            await store.delete_object("bkt", key)
            print("del", key, version, flush=True)
            continue
        async with store.object_writer("bkt", key) as w:
            data = body(key, version)
            for i in range(0, len(data), 256 * 1024):
                await w.write(data[i : i + 256 * 1024])
            await w.commit(ObjectMeta(user={"version": str(version)}))
        print("put", key, version, flush=True)

anyio.run(main)
"""


def _body(key: str, version: int) -> bytes:
    unit = f"{key}:{version};".encode()
    size = 1_500_000 if version % 3 == 0 else 3000
    return (unit * (size // len(unit) + 1))[:size]


@pytest.mark.slow
def test_sigkill_mid_writes_leaves_committed_objects_intact(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None
    acknowledged: dict[str, int | None] = {}  # key → last acknowledged version (None: deleted)
    deadline = time.monotonic() + 60
    last_seen = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "child died"
        op, key, version = line.split()
        acknowledged[key] = int(version) if op == "put" else None
        last_seen = int(version)
        if last_seen >= 60:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Anything printed after our last read was also committed; read it too.
    for line in proc.stdout.read().splitlines():
        op, key, version = line.split()
        acknowledged[key] = int(version) if op == "put" else None
        last_seen = int(version)

    report = recover(tmp_path)
    assert report.bodies_missing == 0
    assert temp_files(tmp_path) == []

    # The child is sequential: only the operation after the last one printed
    # may have committed without being acknowledged.
    in_flight = last_seen + 1
    in_flight_key = f"k{in_flight % 7}"

    async def check(store: FilesystemStore) -> None:
        for key, last in acknowledged.items():
            try:
                info = await store.head_object(BUCKET, key)
            except NoSuchKey:
                assert last is None or (key == in_flight_key and in_flight % 11 == 0)
                continue
            data = await get(store, key)
            version = int(info.meta.user["version"])
            assert version == last or (key == in_flight_key and version == in_flight)
            assert data == _body(key, version)
            assert info.etag == '"' + hashlib.md5(data).hexdigest() + '"'
        objects = (await store.list_objects(BUCKET)).entries
        # Both kinds were written: 3,000-byte bodies inline in their rows, 1.5 MB ones in files.
        assert len(body_files(tmp_path)) == sum(1 for o in objects if o.size > INLINE_MAX_BYTES)

    with_store(tmp_path, check)
