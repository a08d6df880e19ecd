"""Benchmark scenarios: each drives the server through :mod:`s3client` and yields Results.

Scenario groups (``--scenarios`` filter names):

- ``small``: 4 KiB PUT, then GET, HEAD and DELETE of those keys, 16 connections each.
- ``list``: ListObjectsV2, 1,000-key pages, walking a 10,000-key bucket.
- ``large``: one 256 MiB PUT then GET of it (single request each).
- ``multipart``: a 256 MiB multipart upload, 8 MiB parts, 4 parts in flight.
- ``big``: only with ``--big SIZE``: PUT and GET of one SIZE object, for RSS growth.
- ``versions``: ListObjectVersions pages and versioned vs unversioned PUT (versioning_bench.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import threading
import time
import uuid
from base64 import b64encode
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, unescape

from s3client import Connection, RepeatingBody, S3Client, make_buffer

try:
    import psutil
except ImportError:  # pragma: no cover - reported by run.py
    psutil = None

HAVE_PSUTIL = psutil is not None

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

GROUPS = ("small", "list", "large", "multipart", "big", "versions", "sse")


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    name: str
    unit: str  # "ops/s", "pages/s", "MB/s"
    ops: int = 0
    errors: int = 0
    elapsed: float = 0.0
    nbytes: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: Counter[str] = field(default_factory=Counter)
    ref: float | None = None
    rss_base: int | None = None
    rss_peak: int | None = None
    report_growth: bool = False
    growth_limit: int | None = None  # bytes; for the --big scenario
    client_cpu: float | None = None  # fraction of one core
    server_cpu: float | None = None  # fraction of one core
    note: str = ""

    @property
    def throughput(self) -> float:
        if self.elapsed <= 0:
            return 0.0
        if self.unit == "MB/s":
            return self.nbytes / self.elapsed / 1e6
        return self.ops / self.elapsed

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        data = sorted(self.latencies)
        idx = min(len(data) - 1, max(0, math.ceil(q / 100 * len(data)) - 1))  # nearest rank
        return data[idx]

    @property
    def rss_growth(self) -> int | None:
        if self.rss_base is None or self.rss_peak is None:
            return None
        return max(0, self.rss_peak - self.rss_base)

    def error(self, what: str) -> None:
        self.errors += 1
        self.error_samples[what] += 1


# --------------------------------------------------------------------------- server monitor


class ServerMonitor:
    """Samples RSS (process + all children) of the server every ``interval`` seconds.

    Runs in a thread so a busy event loop does not skew the sampling. ``window()``
    brackets a measured phase and reports baseline RSS, peak RSS and server CPU use.
    Without a pid (external server, unknown process) everything reports ``None``.
    """

    def __init__(self, pid: int | None, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self._proc = psutil.Process(pid) if (psutil is not None and pid is not None) else None
        self._lock = threading.Lock()
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._members: list[psutil.Process] = []
        self._scanned = -1.0

    @property
    def enabled(self) -> bool:
        return self._proc is not None

    def _procs(self) -> list[psutil.Process]:
        """The server and its children; the (costly) child scan is refreshed every 0.5 s."""
        assert self._proc is not None
        now = time.monotonic()
        if now - self._scanned >= 0.5:
            try:
                self._members = [self._proc, *self._proc.children(recursive=True)]
            except psutil.NoSuchProcess:
                self._members = []
            self._scanned = now
        return self._members

    def rss(self) -> int:
        total = 0
        for p in self._procs():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += p.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._procs():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def start(self) -> None:
        if self._proc is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            value = self.rss()
            with self._lock:
                self._peak = max(self._peak, value)

    @contextlib.contextmanager
    def window(self, result: Result) -> Iterator[None]:
        """Measure baseline/peak RSS and CPU (server and this process) around a phase."""
        cpu0 = self.cpu_seconds() if self._proc else 0.0
        base = self.rss() if self._proc else 0
        with self._lock:
            self._peak = base
        wall0 = time.perf_counter()
        proc0 = time.process_time()
        try:
            yield
        finally:
            wall = time.perf_counter() - wall0
            result.client_cpu = (time.process_time() - proc0) / wall if wall > 0 else None
            if self._proc is not None:
                end = self.rss()
                with self._lock:
                    peak = max(self._peak, end)
                result.rss_base = base
                result.rss_peak = peak
                result.server_cpu = (self.cpu_seconds() - cpu0) / wall if wall > 0 else None


# --------------------------------------------------------------------------- config


@dataclass
class Config:
    duration: float = 10.0  # seconds per timed small/list phase
    max_ops: int = 20_000  # cap per timed small/list phase
    concurrency: int = 16
    object_size: int = 4 * KiB
    list_keys: int = 10_000
    page_size: int = 1_000
    list_concurrency: int = 1
    large_size: int = 256 * MiB
    part_size: int = 8 * MiB
    part_concurrency: int = 4
    large_repeat: int = 1
    big_size: int | None = None
    seed_concurrency: int = 32
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


# Reference figures: the server smarts3 replaces, on the same 2-core machine.
REFERENCE: dict[str, float] = {
    "PUT 4 KiB": 1500,
    "GET 4 KiB": 2400,
    "DELETE": 43,
    "LIST 1000/page": 6,
    "PUT 256 MiB": 200,
    "GET 256 MiB": 360,
    "Multipart 256 MiB": 120,
}
BIG_RSS_LIMIT = 64 * MiB


def size_label(n: int) -> str:
    for unit, div in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------- helpers


class BenchmarkSetupError(RuntimeError):
    """A setup step (bucket creation, seeding) failed: the measurement is meaningless."""


def _exc_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


async def create_bucket(conn: Connection, bucket: str) -> None:
    try:
        resp = await conn.request("PUT", bucket)
    except Exception as exc:
        raise BenchmarkSetupError(f"CreateBucket {bucket}: {_exc_text(exc)}") from exc
    if resp.status != 200:
        raise BenchmarkSetupError(f"CreateBucket {bucket}: {resp.describe()}")


Op = Callable[[Connection, int], Awaitable[str | None]]
"""One operation: performs request number ``i``; returns None if fine, else an error text."""


async def timed_loop(conns: list[Connection], op: Op, result: Result, duration: float, max_ops: int) -> None:
    """Run ``op`` on every connection concurrently until ``duration`` or ``max_ops``."""
    counter = 0
    latencies = result.latencies
    start = time.perf_counter()
    deadline = start + duration
    last_done = start

    async def worker(conn: Connection) -> None:
        nonlocal counter, last_done
        perf = time.perf_counter
        while True:
            i = counter
            if i >= max_ops:
                return
            t0 = perf()
            if t0 >= deadline:
                return
            counter = i + 1
            try:
                err = await op(conn, i)
            except Exception as exc:
                err = _exc_text(exc)
            t1 = perf()
            last_done = max(last_done, t1)
            if err is None:
                result.ops += 1
                latencies.append(t1 - t0)
            else:
                result.error(err)

    await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed = last_done - start


# --------------------------------------------------------------------------- small objects


async def run_small(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    bucket = f"bench-small-{cfg.run_id}"
    conns = await client.connections(cfg.concurrency)
    await create_bucket(conns[0], bucket)
    body = make_buffer(cfg.object_size, seed=4)
    size = cfg.object_size
    label = size_label(size)
    results: list[Result] = []

    def key(i: int) -> str:
        return f"obj/{i:08d}"

    # PUT
    put = Result(f"PUT {label}", "ops/s", ref=REFERENCE.get(f"PUT {label}"))

    async def do_put(conn: Connection, i: int) -> str | None:
        resp = await conn.request("PUT", bucket, key(i), body=body)
        return None if resp.status == 200 else f"PUT {resp.describe()}"

    with mon.window(put):
        await timed_loop(conns, do_put, put, cfg.duration, cfg.max_ops)
    results.append(put)
    # Keys 0..n-1 were all attempted; failed ones show up as GET errors too, which is fine:
    # a benchmark with errors is invalid anyway.
    n = put.ops + put.errors
    if n == 0:
        raise BenchmarkSetupError("no object was PUT; cannot run GET/HEAD/DELETE")
    rng = random.Random(42)
    order = [rng.randrange(n) for _ in range(min(cfg.max_ops, 1 << 20))]

    get = Result(f"GET {label}", "ops/s", ref=REFERENCE.get(f"GET {label}"))

    async def do_get(conn: Connection, i: int) -> str | None:
        resp = await conn.request("GET", bucket, key(order[i % len(order)]))
        if resp.status != 200:
            return f"GET {resp.describe()}"
        if resp.body_length != size:
            return f"GET short body ({resp.body_length} of {size})"
        return None

    with mon.window(get):
        await timed_loop(conns, do_get, get, cfg.duration, cfg.max_ops)
    results.append(get)

    head = Result("HEAD", "ops/s", ref=REFERENCE.get("HEAD"))

    async def do_head(conn: Connection, i: int) -> str | None:
        resp = await conn.request("HEAD", bucket, key(order[i % len(order)]))
        if resp.status != 200:
            return f"HEAD {resp.status} {resp.reason}"
        if resp.header("content-length") != str(size):
            return f"HEAD content-length {resp.header('content-length')!r}"
        return None

    with mon.window(head):
        await timed_loop(conns, do_head, head, cfg.duration, cfg.max_ops)
    results.append(head)

    delete = Result("DELETE", "ops/s", ref=REFERENCE.get("DELETE"))

    async def do_delete(conn: Connection, i: int) -> str | None:
        resp = await conn.request("DELETE", bucket, key(i))
        return None if resp.status == 204 else f"DELETE {resp.describe()}"

    with mon.window(delete):
        await timed_loop(conns, do_delete, delete, cfg.duration, min(cfg.max_ops, n))
    if delete.ops + delete.errors >= n:
        delete.note = f"all {n} keys deleted"
    results.append(delete)

    for c in conns:
        await c.close()
    return results


# --------------------------------------------------------------------------- listing


async def seed_keys(client: S3Client, bucket: str, n: int, concurrency: int, prefix: str = "k/") -> float:
    """PUT ``n`` empty objects; returns the seeding rate (objects/s). Raises on any error."""
    conns = await client.connections(concurrency)
    failures: Counter[str] = Counter()
    res = Result("seed", "ops/s")

    async def do_put(conn: Connection, i: int) -> str | None:
        resp = await conn.request("PUT", bucket, f"{prefix}{i:08d}", body=b"")
        return None if resp.status == 200 else f"PUT {resp.describe()}"

    await timed_loop(conns, do_put, res, duration=3600, max_ops=n)
    failures.update(res.error_samples)
    for c in conns:
        await c.close()
    if failures:
        raise BenchmarkSetupError(f"seeding {bucket} failed: {dict(failures)}")
    return res.throughput


def _xml_text(body: bytes, tag: str) -> str | None:
    start = body.find(f"<{tag}>".encode())
    if start < 0:
        return None
    start += len(tag) + 2
    end = body.find(f"</{tag}>".encode(), start)
    return unescape(body[start:end].decode()) if end >= 0 else None


async def run_list(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    bucket = f"bench-list-{cfg.run_id}"
    conn = client.connection()
    await create_bucket(conn, bucket)
    await conn.close()
    t0 = time.perf_counter()
    rate = await seed_keys(client, bucket, cfg.list_keys, cfg.seed_concurrency)
    seeded = time.perf_counter() - t0

    res = Result(
        f"LIST {cfg.page_size}/page",
        "pages/s",
        ref=REFERENCE.get(f"LIST {cfg.page_size}/page"),
        note=f"{cfg.list_keys} keys seeded in {seeded:.1f}s ({rate:,.0f} PUT/s)",
    )
    conns = await client.connections(cfg.list_concurrency)
    # Each connection walks the bucket page by page, restarting at the end; each page
    # is one op. A walk must see exactly list_keys keys.
    state: dict[int, tuple[str | None, int]] = {id(c): (None, 0) for c in conns}

    async def do_page(conn: Connection, i: int) -> str | None:
        token, seen = state[id(conn)]
        query = {"list-type": "2", "max-keys": str(cfg.page_size)}
        if token:
            query["continuation-token"] = token
        resp = await conn.request("GET", bucket, query=query)
        if resp.status != 200:
            state[id(conn)] = (None, 0)
            return f"LIST {resp.describe()}"
        count = resp.body.count(b"<Key>")
        seen += count
        truncated = b"<IsTruncated>true</IsTruncated>" in resp.body
        if truncated:
            nxt = _xml_text(resp.body, "NextContinuationToken")
            if not nxt:
                state[id(conn)] = (None, 0)
                return "LIST truncated page without NextContinuationToken"
            state[id(conn)] = (nxt, seen)
            if count != cfg.page_size:
                return f"LIST truncated page with {count} keys (want {cfg.page_size})"
            return None
        state[id(conn)] = (None, 0)
        if seen != cfg.list_keys:
            return f"LIST walk saw {seen} keys (want {cfg.list_keys})"
        return None

    with mon.window(res):
        await timed_loop(conns, do_page, res, cfg.duration, cfg.max_ops)
    for c in conns:
        await c.close()
    return [res]


# --------------------------------------------------------------------------- large objects


_BUFFER: bytes | None = None


def shared_buffer(size: int = 8 * MiB) -> bytes:
    """The one reusable source buffer for large bodies (built once per process)."""
    global _BUFFER
    if _BUFFER is None or len(_BUFFER) < size:
        _BUFFER = make_buffer(size, seed=7)
    return _BUFFER


async def _put_get(
    client: S3Client,
    cfg: Config,
    mon: ServerMonitor,
    bucket: str,
    size: int,
    repeat: int,
    ref_put: float | None,
    ref_get: float | None,
    growth_limit: int | None = None,
) -> list[Result]:
    label = size_label(size)
    key = f"large/{label.replace(' ', '')}"
    body = RepeatingBody(shared_buffer(), size)
    limit = 120 + size / 5e6  # fail rather than hang, but allow a slow server
    conn = client.connection()
    await conn.connect()

    put = Result(f"PUT {label}", "MB/s", ref=ref_put, report_growth=True)
    put.growth_limit = growth_limit
    with mon.window(put):
        for _ in range(repeat):
            t0 = time.perf_counter()
            try:
                resp = await conn.request("PUT", bucket, key, body=body, time_limit=limit)
                err = None if resp.status == 200 else f"PUT {resp.describe()}"
            except Exception as exc:
                err = _exc_text(exc)
            dt = time.perf_counter() - t0
            put.elapsed += dt
            if err:
                put.error(err)
            else:
                put.ops += 1
                put.nbytes += size
                put.latencies.append(dt)

    get = Result(f"GET {label}", "MB/s", ref=ref_get, report_growth=True)
    get.growth_limit = growth_limit
    with mon.window(get):
        for _ in range(repeat):
            t0 = time.perf_counter()
            try:
                resp = await conn.request("GET", bucket, key, keep_body=False, time_limit=limit)
                if resp.status != 200:
                    err = f"GET {resp.describe()}"
                elif resp.body_length != size:
                    err = f"GET body {resp.body_length} bytes, want {size}"
                else:
                    err = None
            except Exception as exc:
                err = _exc_text(exc)
            dt = time.perf_counter() - t0
            get.elapsed += dt
            if err:
                get.error(err)
            else:
                get.ops += 1
                get.nbytes += size
                get.latencies.append(dt)
    with contextlib.suppress(Exception):
        await conn.request("DELETE", bucket, key)
    await conn.close()
    return [put, get]


async def run_large(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    bucket = f"bench-large-{cfg.run_id}"
    conn = client.connection()
    await create_bucket(conn, bucket)
    await conn.close()
    label = size_label(cfg.large_size)
    return await _put_get(
        client,
        cfg,
        mon,
        bucket,
        cfg.large_size,
        cfg.large_repeat,
        REFERENCE.get(f"PUT {label}"),
        REFERENCE.get(f"GET {label}"),
    )


async def run_big(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    assert cfg.big_size is not None
    bucket = f"bench-big-{cfg.run_id}"
    conn = client.connection()
    await create_bucket(conn, bucket)
    await conn.close()
    return await _put_get(client, cfg, mon, bucket, cfg.big_size, 1, None, None, growth_limit=BIG_RSS_LIMIT)


async def run_multipart(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    bucket = f"bench-mpu-{cfg.run_id}"
    key = "mpu/object"
    total = cfg.large_size
    part_size = cfg.part_size
    nparts = -(-total // part_size)
    buf = shared_buffer(part_size)
    conns = await client.connections(cfg.part_concurrency)
    await create_bucket(conns[0], bucket)
    res = Result(
        f"Multipart {size_label(total)}",
        "MB/s",
        ref=REFERENCE.get(f"Multipart {size_label(total)}"),
        report_growth=True,
        note=f"{nparts} x {size_label(part_size)} parts, {cfg.part_concurrency} in flight",
    )
    etags: dict[int, str] = {}
    upload_id = ""
    with mon.window(res):
        t0 = time.perf_counter()
        try:
            resp = await conns[0].request("POST", bucket, key, query={"uploads": ""}, body=b"")
            upload_id = _xml_text(resp.body, "UploadId") or ""
            if resp.status != 200 or not upload_id:
                res.error(f"CreateMultipartUpload {resp.describe()}")
        except Exception as exc:
            res.error(f"CreateMultipartUpload {_exc_text(exc)}")

        if upload_id:

            async def do_part(conn: Connection, i: int) -> str | None:
                number = i + 1
                length = min(part_size, total - i * part_size)
                q = {"partNumber": str(number), "uploadId": upload_id}
                resp = await conn.request("PUT", bucket, key, query=q, body=memoryview(buf)[:length])
                etag = resp.header("etag")
                if resp.status != 200 or not etag:
                    return f"UploadPart {resp.describe()}"
                etags[number] = etag
                return None

            parts = Result("parts", "ops/s")
            await timed_loop(conns, do_part, parts, duration=3600, max_ops=nparts)
            res.latencies = parts.latencies
            res.error_samples.update(parts.error_samples)
            res.errors += parts.errors

            if len(etags) == nparts:
                xml = "".join(
                    f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etags[n])}</ETag></Part>" for n in sorted(etags)
                )
                doc = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
                try:
                    resp = await conns[0].request("POST", bucket, key, query={"uploadId": upload_id}, body=doc)
                    # S3 may report a failure inside a 200 response.
                    if resp.status != 200 or b"<Error>" in resp.body:
                        res.error(f"CompleteMultipartUpload {resp.describe()}")
                    else:
                        res.ops = 1
                        res.nbytes = total
                except Exception as exc:
                    res.error(f"CompleteMultipartUpload {_exc_text(exc)}")
            else:
                with contextlib.suppress(Exception):
                    await conns[0].request("DELETE", bucket, key, query={"uploadId": upload_id})
        res.elapsed = time.perf_counter() - t0

    if res.ops:
        try:
            resp = await conns[0].request("HEAD", bucket, key)
            if resp.status != 200 or resp.header("content-length") != str(total):
                res.error(f"HEAD after complete: {resp.status} length {resp.header('content-length')}")
            await conns[0].request("DELETE", bucket, key)
        except Exception as exc:
            res.error(f"HEAD after complete: {_exc_text(exc)}")
    for c in conns:
        await c.close()
    return [res]


# --------------------------------------------------------------------------- cleanup


async def cleanup(client: S3Client, run_id: str) -> list[str]:
    """Delete this run's buckets and their objects (for --no-server runs). Returns problems."""
    problems: list[str] = []
    conn = client.connection()
    try:
        resp = await conn.request("GET")
        buckets = [
            unescape(b.decode())
            for b in _all_between(resp.body, b"<Name>", b"</Name>")
            if b.decode().endswith(f"-{run_id}")
        ]
        for bucket in buckets:
            while True:
                # Every version and delete marker (the `versions` group's buckets are versioned;
                # an unversioned bucket lists each object once, as version "null").
                resp = await conn.request("GET", bucket, query={"versions": "", "max-keys": "1000"})
                entries = [
                    (_xml_text(e, "Key") or "", _xml_text(e, "VersionId") or "null")
                    for tag in (b"Version", b"DeleteMarker")
                    for e in _all_between(resp.body, b"<" + tag + b">", b"</" + tag + b">")
                ]
                if resp.status != 200 or not entries:
                    break
                doc = (
                    "<Delete><Quiet>true</Quiet>"
                    + "".join(
                        f"<Object><Key>{escape(k)}</Key><VersionId>{escape(v)}</VersionId></Object>"
                        for k, v in entries
                    )
                    + "</Delete>"
                ).encode()
                md5 = b64encode(hashlib.md5(doc).digest()).decode()
                resp = await conn.request(
                    "POST",
                    bucket,
                    query={"delete": ""},
                    body=doc,
                    headers={"Content-MD5": md5, "Content-Type": "application/xml"},
                )
                if resp.status != 200:
                    problems.append(f"DeleteObjects {bucket}: {resp.describe()}")
                    break
            resp = await conn.request("DELETE", bucket)
            if resp.status != 204:
                problems.append(f"DeleteBucket {bucket}: {resp.describe()}")
    except Exception as exc:
        problems.append(_exc_text(exc))
    finally:
        await conn.close()
    return problems


def _all_between(body: bytes, start: bytes, end: bytes) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while True:
        i = body.find(start, i)
        if i < 0:
            return out
        i += len(start)
        j = body.find(end, i)
        if j < 0:
            return out
        out.append(body[i:j])
        i = j + len(end)


async def run_versions(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    from versioning_bench import run_versions as run  # its own module, built on this one

    return await run(client, cfg, mon)


async def run_sse(client: S3Client, cfg: Config, mon: ServerMonitor) -> list[Result]:
    from sse_bench import run_sse as run  # its own module, built on this one

    return await run(client, cfg, mon)


RUNNERS: dict[str, Callable[[S3Client, Config, ServerMonitor], Awaitable[list[Result]]]] = {
    "small": run_small,
    "list": run_list,
    "large": run_large,
    "multipart": run_multipart,
    "big": run_big,
    "versions": run_versions,
    "sse": run_sse,
}
