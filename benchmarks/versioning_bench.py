"""The ``versions`` scenario group: versioning's cost, next to the unversioned figures.

- ListObjectVersions, 1,000-entry pages, walking a versioned bucket of ``--list-keys`` keys x
  3 versions (target: at most 2x slower per page than ``LIST 1000/page``, ListObjectsV2).
- 4 KiB PUT of fresh keys into an unversioned and into a versioned bucket, then 4 KiB
  overwrites of a 1,000-key set in each (a versioned overwrite keeps the old version instead
  of unlinking it). Target: versioned within 10 % of unversioned.
"""

from __future__ import annotations

import time

from s3client import Connection, S3Client, make_buffer
from scenarios import Config, Result, ServerMonitor, _xml_text, create_bucket, seed_keys, timed_loop

VERSIONS_PER_KEY = 3
OVERWRITE_KEYS = 1000


async def _enable(conn: Connection, bucket: str) -> None:
    doc = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
    resp = await conn.request("PUT", bucket, query={"versioning": ""}, body=doc)
    if resp.status != 200:
        raise RuntimeError(f"PutBucketVersioning {bucket}: {resp.describe()}")


async def run_versions(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    return [*await _list_versions(client, cfg, mon), *await _puts(client, cfg, mon)]


async def _list_versions(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    bucket = f"bench-versions-{cfg.run_id}"
    conn = client.connection()
    await create_bucket(conn, bucket)
    await _enable(conn, bucket)
    await conn.close()
    t0 = time.perf_counter()
    rates = [await seed_keys(client, bucket, cfg.list_keys, cfg.seed_concurrency) for _ in range(VERSIONS_PER_KEY)]
    seeded = time.perf_counter() - t0
    total = cfg.list_keys * VERSIONS_PER_KEY
    res = Result(
        f"LIST VERSIONS {cfg.page_size}/page",
        "pages/s",
        note=f"{cfg.list_keys} keys x {VERSIONS_PER_KEY} versions seeded in {seeded:.1f}s "
        f"({min(rates):,.0f}-{max(rates):,.0f} PUT/s)",
    )
    conns = await client.connections(cfg.list_concurrency)
    # (key marker, version id marker, versions seen so far) per walker; a walk must see them all.
    state: dict[int, tuple[str | None, str | None, int]] = {id(c): (None, None, 0) for c in conns}

    async def do_page(conn: Connection, i: int) -> str | None:
        key_marker, version_marker, seen = state[id(conn)]
        query = {"versions": "", "max-keys": str(cfg.page_size)}
        if key_marker is not None:
            query["key-marker"] = key_marker
            if version_marker:
                query["version-id-marker"] = version_marker
        resp = await conn.request("GET", bucket, query=query)
        if resp.status != 200:
            state[id(conn)] = (None, None, 0)
            return f"LIST VERSIONS {resp.describe()}"
        count = resp.body.count(b"<Version>")
        seen += count
        if b"<IsTruncated>true</IsTruncated>" in resp.body:
            state[id(conn)] = (_xml_text(resp.body, "NextKeyMarker"), _xml_text(resp.body, "NextVersionIdMarker"), seen)
            return None if count == cfg.page_size else f"truncated page with {count} versions"
        state[id(conn)] = (None, None, 0)
        return None if seen == total else f"walk saw {seen} versions (want {total})"

    with mon.window(res):
        await timed_loop(conns, do_page, res, cfg.duration, cfg.max_ops)
    for c in conns:
        await c.close()
    return [res]


async def _puts(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    conns = await client.connections(cfg.concurrency)
    plain, versioned = f"bench-vput-plain-{cfg.run_id}", f"bench-vput-versioned-{cfg.run_id}"
    await create_bucket(conns[0], plain)
    await create_bucket(conns[0], versioned)
    await _enable(conns[0], versioned)
    body = make_buffer(4096, seed=5)
    results: list[Result] = []
    # Each phase measures both buckets back to back, so drift over the run (WAL, page cache) hits both alike.
    phases = (("fresh", lambda i: f"fresh/{i:08d}"), ("overwrite", lambda i: f"hot/{i % OVERWRITE_KEYS:05d}"))
    for phase, key_of in phases:
        for label, bucket in (("unversioned", plain), ("versioned", versioned)):
            res = Result(f"PUT 4 KiB {label} ({phase})", "ops/s")

            async def do_put(conn: Connection, i: int, bucket: str = bucket, key_of=key_of) -> str | None:
                resp = await conn.request("PUT", bucket, key_of(i), body=body)
                return None if resp.status == 200 else f"PUT {resp.describe()}"

            with mon.window(res):
                await timed_loop(conns, do_put, res, cfg.duration, cfg.max_ops)
            results.append(res)
        base, other = results[-2].throughput, results[-1].throughput
        if base:
            results[-1].note = f"{other / base:.0%} of unversioned"
    for c in conns:
        await c.close()
    return results
