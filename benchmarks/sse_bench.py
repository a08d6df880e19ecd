"""The ``sse`` scenario group: what encryption at rest (SSE-S3) costs, next to plain bodies.

- One PUT and one GET of a ``--large-size`` (256 MiB) object into a plain bucket and into a
  bucket whose default encryption is SSE-S3 (so the requests are identical; only the server's
  work differs). Target: the encrypted rows within 25 % of the plain ones.
- GET of random 4 KiB objects (``--object-size``) among 1,000 per bucket, ``--concurrency``
  connections for ``--duration``, plain and SSE-S3.
Each SSE-S3 row notes its ratio to the plain row before it.
"""

from __future__ import annotations

import base64
import hashlib
import random

from s3client import Connection, S3Client, make_buffer
from scenarios import (
    BenchmarkSetupError,
    Config,
    Result,
    ServerMonitor,
    _put_get,
    create_bucket,
    size_label,
    timed_loop,
)

SMALL_KEYS = 1000
_DEFAULT_SSE = (
    b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
    b"<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
    b"</ServerSideEncryptionConfiguration>"
)


async def _encrypt_by_default(conn: Connection, bucket: str) -> None:
    md5 = base64.b64encode(hashlib.md5(_DEFAULT_SSE).digest()).decode()
    resp = await conn.request(
        "PUT", bucket, query={"encryption": ""}, body=_DEFAULT_SSE, headers={"content-md5": md5}
    )
    if resp.status != 200:
        raise BenchmarkSetupError(f"PutBucketEncryption {bucket}: {resp.describe()}")


def _compare(plain: Result, sealed: Result) -> None:
    if plain.throughput > 0 and sealed.throughput > 0:
        ratio = sealed.throughput / plain.throughput
        sealed.note = f"{ratio:.2f}x plain throughput ({(1 / ratio - 1) * 100:+.0f} % time per byte or op)"


async def run_sse(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    plain, sealed = f"bench-sse-plain-{cfg.run_id}", f"bench-sse-s3-{cfg.run_id}"
    conn = client.connection()
    await create_bucket(conn, plain)
    await create_bucket(conn, sealed)
    await _encrypt_by_default(conn, sealed)
    await conn.close()
    label = size_label(cfg.large_size)
    results: list[Result] = []
    rows = {}
    for bucket, mode in ((plain, "plain"), (sealed, "SSE-S3")):
        put, get = await _put_get(client, cfg, mon, bucket, cfg.large_size, cfg.large_repeat, None, None)
        put.name, get.name = f"PUT {label} {mode}", f"GET {label} {mode}"
        rows[mode] = (put, get)
    for p, s in zip(rows["plain"], rows["SSE-S3"], strict=True):
        _compare(p, s)
        results += [p, s]
    small = {mode: await _small_gets(client, cfg, mon, b, mode) for b, mode in ((plain, "plain"), (sealed, "SSE-S3"))}
    _compare(small["plain"], small["SSE-S3"])
    return [*results, small["plain"], small["SSE-S3"]]


async def _small_gets(client: S3Client, cfg: Config, mon: ServerMonitor, bucket: str, mode: str) -> Result:
    conns = await client.connections(cfg.concurrency)
    body = make_buffer(cfg.object_size, seed=5)
    seed = Result("seed", "ops/s")

    async def do_put(conn: Connection, i: int) -> str | None:
        resp = await conn.request("PUT", bucket, f"s/{i:05d}", body=body)
        return None if resp.status == 200 else f"PUT {resp.describe()}"

    await timed_loop(conns, do_put, seed, duration=3600, max_ops=SMALL_KEYS)
    if seed.errors:
        raise BenchmarkSetupError(f"seeding {bucket}: {dict(seed.error_samples)}")
    rng = random.Random(43)
    order = [rng.randrange(SMALL_KEYS) for _ in range(1 << 16)]
    res = Result(f"GET {size_label(cfg.object_size)} {mode}", "ops/s")

    async def do_get(conn: Connection, i: int) -> str | None:
        resp = await conn.request("GET", bucket, f"s/{order[i % len(order)]:05d}")
        if resp.status != 200:
            return f"GET {resp.describe()}"
        return None if resp.body_length == cfg.object_size else f"GET short body ({resp.body_length})"

    with mon.window(res):
        await timed_loop(conns, do_get, res, cfg.duration, cfg.max_ops)
    for c in conns:
        await c.close()
    return res
