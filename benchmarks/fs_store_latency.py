"""Per-operation latency of FilesystemStore, driven directly (no HTTP).

    .venv/bin/python benchmarks/fs_store_latency.py [--n 2000] [--dir /path]

Prints p50/p99/mean for sequential 4 KiB PUT, GET, HEAD and DELETE, bulk
throughput with concurrency, and a 1,000-key list page over 10,000 keys,
with fsync on and off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore, recover

BODY = os.urandom(4096)


async def put(store: FilesystemStore, key: str) -> None:
    async with store.object_writer("b", key) as w:
        await w.write(BODY)
        await w.commit(ObjectMeta(headers={"content-type": "application/octet-stream"}))


async def get(store: FilesystemStore, key: str) -> None:
    reader = await store.open_object("b", key)
    try:
        async for _ in reader.iter_range(0, reader.info.size):
            pass
    finally:
        await reader.close()


async def timed(n: int, op: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await op(i)
        out.append(time.perf_counter() - t0)
    return out


async def concurrent_rate(n: int, width: int, op: Callable[[int], Awaitable[object]]) -> float:
    t0 = time.perf_counter()

    async def lane(w: int) -> None:
        for i in range(w, n, width):
            await op(i)

    async with anyio.create_task_group() as tg:
        for w in range(width):
            tg.start_soon(lane, w)
    return n / (time.perf_counter() - t0)


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"  {name:<22} p50 {statistics.median(ms):7.3f} ms   p99 {p99:7.3f} ms"
        f"   mean {statistics.fmean(ms):7.3f} ms   ({1000 / statistics.fmean(ms):7.0f} op/s)"
    )


async def bench(data_dir: Path, fsync: bool, n: int) -> None:
    recover(data_dir)
    store = await FilesystemStore.open(data_dir, fsync=fsync)
    await store.create_bucket("b", "us-east-1")
    print(f"fsync={fsync}  (sequential, n={n}, 4 KiB bodies)")
    print(row("PUT", await timed(n, lambda i: put(store, f"obj/{i:06d}"))))
    print(row("HEAD", await timed(n, lambda i: store.head_object("b", f"obj/{i:06d}"))))
    print(row("GET", await timed(n, lambda i: get(store, f"obj/{i:06d}"))))
    print(row("DELETE", await timed(n, lambda i: store.delete_object("b", f"obj/{i:06d}"))))
    rate = await concurrent_rate(n, 16, lambda i: put(store, f"c/{i:06d}"))
    print(f"  PUT    x16 concurrent   {rate:7.0f} op/s")
    rate = await concurrent_rate(n, 16, lambda i: store.delete_object("b", f"c/{i:06d}"))
    print(f"  DELETE x16 concurrent   {rate:7.0f} op/s")
    for i in range(n):
        await put(store, f"d/{i:06d}")
    t0 = time.perf_counter()
    for i in range(0, n, 1000):
        await store.delete_objects("b", [f"d/{j:06d}" for j in range(i, min(n, i + 1000))])
    print(f"  delete_objects (1,000/batch) {n / (time.perf_counter() - t0):7.0f} keys/s")

    async def fill(w: int) -> None:
        for i in range(w, 10_000, 16):
            await put(store, f"list/{i:05d}")

    async with anyio.create_task_group() as tg:
        for w in range(16):
            tg.start_soon(fill, w)
    samples = await timed(50, lambda i: store.list_objects("b", prefix="list/", start_after=f"list/{i * 100:05d}"))
    print(row("LIST 1000 of 10000", samples))
    samples = await timed(50, lambda i: store.list_objects("b", delimiter="/"))
    print(row("LIST delimiter (3 CPs)", samples))
    await store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    for fsync in (True, False):
        with tempfile.TemporaryDirectory(dir=args.dir) as d:
            anyio.run(bench, Path(d), fsync, args.n)


if __name__ == "__main__":
    main()
