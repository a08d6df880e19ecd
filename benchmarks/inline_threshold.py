"""Durable PUT rate of one body size with inline bodies off and on, in-process (no HTTP).

    PYTHONPATH=server .venv/bin/python benchmarks/inline_threshold.py [SIZE_KIB ...]

16 concurrent writers, fsync always, each size run twice alternating (files, then inline):
what SMARTS3_INLINE_MAX_BYTES's default (storage/fs/inline.py) was chosen from.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore


async def rate(size: int, inline_max: int, count: int = 400, writers: int = 16) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = await FilesystemStore.open(Path(tmp), fsync=True, inline_max=inline_max)
        await store.create_bucket("b", "us-east-1")
        body = b"x" * size
        issued = 0

        async def writer() -> None:
            nonlocal issued
            while issued < count:
                issued += 1
                async with store.object_writer("b", f"k{issued}") as w:
                    await w.write(body)
                    await w.commit(ObjectMeta())

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(writers):
                tg.start_soon(writer)
        elapsed = time.perf_counter() - start
        await store.close()
        return count / elapsed


async def main(sizes: list[int]) -> None:
    for kib in sizes:
        for _ in range(2):
            files = await rate(kib * 1024, 0)
            inline = await rate(kib * 1024, 1024 * 1024)
            print(f"{kib:4d} KiB  files {files:6.0f}/s  inline {inline:6.0f}/s  ratio {inline / files:.2f}", flush=True)


if __name__ == "__main__":
    anyio.run(main, [int(a) for a in sys.argv[1:]] or [4, 16, 32, 48, 64, 256])
