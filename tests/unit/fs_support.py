"""Helpers for the FilesystemStore tests (no pytest-asyncio: anyio.run)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio

from smarts3.storage.base import ObjectInfo, ObjectMeta, WriteCondition
from smarts3.storage.fs import FilesystemStore

T = TypeVar("T")
BUCKET = "bkt"


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(fn)


def with_store(
    data_dir: Path, fn: Callable[[FilesystemStore], Awaitable[T]], *, fsync: bool = False, inline_max: int = 0
) -> T:
    """Open a store with one bucket, run fn(store), close it.

    Inline bodies are off unless asked for: these tests count and break body files
    (test_fs_inline.py covers the bodies kept in rows)."""

    async def main() -> T:
        store = await FilesystemStore.open(data_dir, fsync=fsync, inline_max=inline_max)
        try:
            if BUCKET not in [b.name for b in await store.list_buckets()]:
                await store.create_bucket(BUCKET, "us-east-1")
            return await fn(store)
        finally:
            await store.close()

    return run(main)


async def put(
    store: FilesystemStore,
    key: str,
    data: bytes,
    *,
    bucket: str = BUCKET,
    meta: ObjectMeta | None = None,
    condition: WriteCondition | None = None,
    chunk: int = 64 * 1024,
) -> ObjectInfo:
    async with store.object_writer(bucket, key) as w:
        for i in range(0, len(data), chunk):
            await w.write(data[i : i + chunk])
        return await w.commit(meta or ObjectMeta(), condition)


async def get(
    store: FilesystemStore,
    key: str,
    start: int = 0,
    end: int | None = None,
    *,
    bucket: str = BUCKET,
) -> bytes:
    reader = await store.open_object(bucket, key)
    try:
        stop = reader.info.size if end is None else end
        return b"".join([c async for c in reader.iter_range(start, stop)])
    finally:
        await reader.close()


def etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def files_under(root: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, _dirs, files in os.walk(root):
        out.extend(Path(dirpath) / f for f in files)
    return out


def body_files(data_dir: Path) -> list[Path]:
    return files_under(data_dir / ".smarts3" / "bodies")


def temp_files(data_dir: Path) -> list[Path]:
    return files_under(data_dir / ".smarts3" / "tmp")


def process_writer(data_dir: str, tag: int, start_at: float, writers: int) -> tuple[int, int]:
    """Run in a child process: `writers` concurrent PUTs of one key and as many
    If-None-Match: * PUTs of another, starting at `start_at`. Returns
    (successful plain PUTs, conditional wins)."""
    import time

    from smarts3.storage.base import PreconditionFailed

    async def main(store: FilesystemStore) -> tuple[int, int]:
        await anyio.sleep(max(0.0, start_at - time.time()))
        plain = wins = 0

        async def one(i: int) -> None:
            nonlocal plain, wins
            body = bytes([tag, i]) * 600_000
            await put(store, "shared", body, chunk=256 * 1024)
            plain += 1
            try:
                await put(store, "once", body, condition=WriteCondition(if_none_match_star=True))
                wins += 1
            except PreconditionFailed:
                pass

        async with anyio.create_task_group() as tg:
            for i in range(writers):
                tg.start_soon(one, i)
        return plain, wins

    return with_store(Path(data_dir), main)
