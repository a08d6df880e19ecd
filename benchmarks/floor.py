"""The floor: what any strict S3 server on this stack must spend on a small request, stage by stage.

    PYTHONPATH=server .venv/bin/python benchmarks/floor.py [--rounds 3] [--duration 3] [--json out.json]
    PYTHONPATH=server .venv/bin/python benchmarks/floor.py --quick     # checks and one short round

Each stage is an ASGI app served by Hypercorn exactly as ceiling.py serves its app (uvloop, h11,
one worker), and each adds one piece of work no strict S3 server can skip for a 4 KiB request:

  0. ceiling.py's app as is (no auth, no storage, three response headers);
  1. + the response head smarts3 sends (ETag from the body's MD5 on PUT; ETag, Last-Modified,
     Accept-Ranges, Content-Type from an object's info on GET/HEAD, built by smarts3's own
     `object_headers`; Content-Length; x-amz-request-id and x-amz-id-2 per request);
  2. + SigV4 verification with smarts3's verifier (`auth.verify.authenticate`: one pass over the
     headers, the credential lookup in `Principals`, the canonical request, the HMAC; a declared
     body sha256 checked; errors answered as S3 XML);
  3. + the metadata work through a real smarts3 store (`FilesystemStore` on a temp data dir,
     fsync always, 4 KiB bodies inline): the row (and inline body) read for GET/HEAD, a durable
     group-committed write for PUT, a delete for DELETE; the key decoded by `s3.addressing`;
  4. the real `smarts3 serve` (defaults: 1 worker, fsync always, access log and metrics on).

Stage 3 leaves out only what S3 does not oblige a server to do per request (classification of
other operations, policy/ACL evaluation beyond "a known key", access log, metrics...): the gap
between stage 3 and stage 4 is what smarts3 could still cut; the gap between 0 and 3 no server
on Hypercorn can. Measured as benchmarks/README.md's session-5 tables were: server pinned to one
core (`taskset`), load generator (run.py's `small` scenario, 16 connections) on the other, the
stages interleaved in each round (the order rotated per round) so machine noise hits all alike,
server CPU time per request from the server process's CPU over each phase (all its threads).
Every stage is checked before it is measured (statuses, bodies, a bad signature refused where
signatures are checked, the response head equal to smarts3's); a failed check or a failed
request aborts the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import app_cost
import ceiling
import smarts3
from run import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, ServerProcess, default_server_cmd
from s3client import S3Client, SigV4Signer
from scenarios import Config, Result, ServerMonitor, run_small
from smarts3.access.principals import Principal, Principals
from smarts3.auth.types import AuthResult, RequestView
from smarts3.auth.verify import authenticate
from smarts3.config.settings import Settings
from smarts3.observability import ObservabilitySettings
from smarts3.observability.logging import configure_logging, unconfigure_logging
from smarts3.s3 import addressing
from smarts3.s3.dispatch import new_request_id
from smarts3.s3.errors import S3Error, from_exception
from smarts3.s3.headers import object_headers
from smarts3.storage.base import ObjectInfo, ObjectMeta
from smarts3.storage.fs import FilesystemStore
from smarts3.storage.fs.recovery import recover

STAGES: dict[int, str] = {
    0: "ceiling (ceiling.py's app)",
    1: "+ S3 response head",
    2: "+ SigV4 check",
    3: "+ metadata (SQLite store)",
    4: "smarts3 serve",
}
OPS = ("PUT 4 KiB", "GET 4 KiB", "HEAD", "DELETE")  # run_small's result names
REGION = "us-east-1"
SIZE = 4096


# --------------------------------------------------------------------------- the stage apps


class StageApp:
    """Stages 1-3 as one ASGI app; `stage` says how much of a strict server's work it does."""

    def __init__(self, stage: int, data_dir: Path, access_key: str, secret_key: str) -> None:
        self.stage = stage
        self.data_dir = data_dir
        self.principals = Principals([Principal("root", access_key, secret_key, root=True)])
        self.store: FilesystemStore | None = None
        # What stages 1-2 answer a read with: an object's info as the store would return it.
        self.fixed = ObjectInfo("bucket", "key", SIZE, f'"{hashlib.md5(ceiling.BODY).hexdigest()}"',
                                1.7e9, ObjectMeta(), (SIZE,))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        request_id = new_request_id()
        bucket = key = ""
        try:
            body = b""
            if self.stage >= 3:
                bucket, key = self._target(scope)
            if scope["method"] != "PUT" or not key or self.stage < 3:
                body = await _read_body(receive)
            auth = self._authenticate(scope) if self.stage >= 2 else None
            expected = None if auth is None else auth.expected_sha256
            if expected and body and hashlib.sha256(body).hexdigest() != expected:
                raise S3Error("XAmzContentSHA256Mismatch")
            if self.stage >= 3:
                await self._stored(scope, receive, send, bucket, key, request_id, expected)
            else:
                await self._unstored(scope, send, body, request_id)
        except Exception as exc:
            error = from_exception(exc, bucket, key)
            if error is None:
                raise
            xml = error.to_xml(request_id)
            head = [(b"content-type", b"application/xml"), (b"content-length", str(len(xml)).encode()),
                    *_ids(request_id)]
            await send({"type": "http.response.start", "status": error.status, "headers": head})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else xml})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.stage >= 3:
                    recover(self.data_dir)  # as `smarts3 serve` does before opening its store
                    self.store = FilesystemStore(self.data_dir, fsync=True)  # inline_max: the default
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.store is not None:
                    await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _authenticate(self, scope: dict[str, Any]) -> AuthResult:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:  # as dispatch reads them: repeats joined
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1").strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        raw_path = scope.get("raw_path") or scope["path"].encode()
        view = RequestView(scope["method"], raw_path, scope.get("query_string", b""), headers)
        auth = authenticate(view, self.principals)
        if auth.access_key is None:  # no public buckets here: an anonymous request is refused
            raise S3Error("AccessDenied")
        if auth.payload.chunked:
            raise S3Error("NotImplemented", "aws-chunked bodies are not part of this benchmark.")
        return auth

    def _target(self, scope: dict[str, Any]) -> tuple[str, str]:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = addressing.resolve(raw_path, "", ())
        return target.bucket or "", target.key or ""

    async def _unstored(self, scope: dict[str, Any], send: Any, body: bytes, request_id: str) -> None:
        method = scope["method"]
        keyed = scope["path"].count("/") > 1
        status, out, payload = 200, {}, b""
        if not keyed:
            pass  # bucket-level requests (CreateBucket) answer 200
        elif method == "PUT":
            out["etag"] = f'"{hashlib.md5(body).hexdigest()}"'
        elif method in ("GET", "HEAD"):
            out = object_headers(self.fixed)
            payload = ceiling.BODY
        elif method == "DELETE":
            status = 204
        await _respond(send, status, out, payload, method, request_id)

    async def _stored(self, scope: dict[str, Any], receive: Any, send: Any, bucket: str, key: str,
                      request_id: str, expected: str | None) -> None:
        method = scope["method"]
        store = self.store
        assert store is not None
        if not key:
            if method != "PUT":
                raise S3Error("NotImplemented")
            await store.create_bucket(bucket, REGION)
            await _respond(send, 200, {}, b"", method, request_id)
        elif method == "PUT":
            digest = hashlib.sha256() if expected else None
            async with store.object_writer(bucket, key) as writer:
                more = True
                while more:  # the body streams into the writer, as smarts3's PutObject does
                    message = await receive()
                    chunk = message.get("body", b"")
                    if chunk:
                        if digest is not None:
                            digest.update(chunk)
                        await writer.write(chunk)
                    more = message.get("more_body", False)
                if digest is not None and digest.hexdigest() != expected:
                    raise S3Error("XAmzContentSHA256Mismatch")  # leaving uncommitted discards the write
                await writer.flush()
                info = await writer.commit(ObjectMeta())
            await _respond(send, 200, {"etag": info.etag}, b"", method, request_id)
        elif method == "HEAD":
            info = await store.head_object(bucket, key)
            await _respond(send, 200, object_headers(info), b"", method, request_id, info.size)
        elif method == "GET":
            reader = await store.open_object(bucket, key)
            try:  # the head, then the body as the reader yields it (one chunk for an inline body)
                size = reader.info.size
                head = _head(200, object_headers(reader.info), size, request_id)
                await send({"type": "http.response.start", "status": 200, "headers": head})
                left = size
                async for chunk in reader.iter_range(0, size):
                    left -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
                if size == 0:
                    await send({"type": "http.response.body", "body": b""})
            finally:
                await reader.close()
        elif method == "DELETE":
            await store.delete_versions(bucket, [(key, None)])
            await _respond(send, 204, {}, b"", method, request_id)
        else:
            raise S3Error("NotImplemented")


def _ids(request_id: str) -> list[tuple[bytes, bytes]]:
    raw = request_id.encode()
    return [(b"x-amz-request-id", raw), (b"x-amz-id-2", raw)]


async def _read_body(receive: Any) -> bytes:
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(parts)


def _head(status: int, out: dict[str, str], length: int, request_id: str) -> list[tuple[bytes, bytes]]:
    """The head in smarts3's order: the op's headers, Content-Length (none on 204), the two ids."""
    head = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out.items()]
    if status != 204:
        head.append((b"content-length", str(length).encode()))
    return head + _ids(request_id)


async def _respond(send: Any, status: int, out: dict[str, str], payload: bytes, method: str, request_id: str,
                   length: int | None = None) -> None:
    head = _head(status, out, len(payload) if length is None else length, request_id)
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})


def serve_stage(stage: int, data_dir: Path, port: int) -> None:
    """Run one stage's server in this process until SIGTERM (stage 4 is `smarts3 serve` itself)."""
    if stage == 0:
        ceiling.serve(port, 1)
        return
    access = os.environ.get("SMARTS3_ACCESS_KEY", DEFAULT_ACCESS_KEY)
    secret = os.environ.get("SMARTS3_SECRET_KEY", DEFAULT_SECRET_KEY)
    ceiling.serve(port, 1, StageApp(stage, data_dir, access, secret))


# --------------------------------------------------------------------------- launching


@dataclass
class Launch:
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    server_cpu: int | None = None  # pin the server to this CPU (taskset), or not at all


@contextlib.contextmanager
def running(stage: int, launch: Launch) -> Iterator[ServerProcess]:
    """One stage's server as a child process (its own session), stopped and cleaned up after."""
    ns = argparse.Namespace(data_dir=None, keep_data=False, server_cmd=None, workers=None, server_arg=[],
                            access_key=launch.access_key, secret_key=launch.secret_key, region=REGION,
                            server_env=[])
    server = ServerProcess(ns, sys.stderr)
    pin = [] if launch.server_cpu is None else ["taskset", "-c", str(launch.server_cpu)]
    base = default_server_cmd() if stage == 4 else [sys.executable, str(Path(__file__).resolve()), "--stage",
                                                    str(stage)]
    server.cmd = [*pin, *base, "serve", "--data-dir", str(server.data_dir), "--port", str(server.port)]
    # Every stage, `smarts3 serve` included, runs the smarts3 package this process imported.
    server.env["PYTHONPATH"] = os.pathsep.join(p for p in (_server_path(), server.env.get("PYTHONPATH")) if p)
    try:
        server.start(60.0)
        yield server
    finally:
        server.stop()


def _server_path() -> str:
    return str(Path(smarts3.__file__).resolve().parent.parent)


# --------------------------------------------------------------------------- checking


@dataclass
class Probe:
    """What one stage answered to a short, fixed conversation (the test and the runs check it)."""

    status: dict[str, int] = field(default_factory=dict)  # op -> status
    names: dict[str, list[str]] = field(default_factory=dict)  # op -> response header names, in order
    answers: dict[str, str] = field(default_factory=dict)  # op -> status and S3 error code, if any
    stored: bytes = b""
    got: bytes = b""
    etag: str = ""
    head_length: str = ""


async def probe(endpoint: str, launch: Launch) -> Probe:
    out = Probe(stored=secrets.token_bytes(SIZE))
    bucket = f"floor-{secrets.token_hex(6)}"
    conn = S3Client(endpoint, launch.access_key, launch.secret_key, REGION).connection()
    forger = S3Client(endpoint, launch.access_key, launch.secret_key[::-1], REGION).connection()
    try:
        for op, method, key, body in (("bucket", "PUT", "", None), ("PUT", "PUT", "k", out.stored),
                                      ("GET", "GET", "k", None), ("HEAD", "HEAD", "k", None),
                                      ("bad GET", "GET", "k", None), ("bad PUT", "PUT", "k2", out.stored),
                                      ("GET forged", "GET", "k2", None), ("DELETE", "DELETE", "k", None),
                                      ("GET deleted", "GET", "k", None)):
            resp = await (forger if op.startswith("bad") else conn).request(method, bucket, key, body=body)
            out.status[op] = resp.status
            out.names[op] = list(resp.headers)
            out.answers[op] = resp.describe()
            if op == "PUT":
                out.etag = resp.header("etag")
            elif op == "GET":
                out.got = resp.body
            elif op == "HEAD":
                out.head_length = resp.header("content-length")
    finally:
        await conn.close()
        await forger.close()
    return out


def problems(stage: int, got: Probe, real: Probe | None) -> list[str]:
    """What is wrong with a stage's answers; `real` is `smarts3 serve`'s probe (its head is the model)."""
    found = []
    want = {"bucket": 200, "PUT": 200, "GET": 200, "HEAD": 200, "DELETE": 204}
    if stage >= 2:  # a wrong secret is refused where signatures are checked
        want.update({"bad GET": 403, "bad PUT": 403})
    if stage >= 3:  # nor is a forged PUT stored
        want.update({"GET deleted": 404, "GET forged": 404})
    for op, status in want.items():
        if got.status.get(op) != status:
            found.append(f"{op}: status {got.status.get(op)}, want {status}")
    if len(got.got) != SIZE or got.head_length != str(SIZE):
        found.append(f"GET body {len(got.got)} bytes, HEAD content-length {got.head_length!r}; want {SIZE}")
    if stage >= 3 and got.got != got.stored:
        found.append("GET body differs from the body stored")
    if stage >= 1 and got.etag != f'"{hashlib.md5(got.stored).hexdigest()}"':
        found.append(f"PUT etag {got.etag!r} is not the body's MD5")
    if stage >= 1 and real is not None:
        for op in ("PUT", "GET", "HEAD", "DELETE"):
            if got.names.get(op) != real.names.get(op):
                found.append(f"{op} head {got.names.get(op)} differs from smarts3's {real.names.get(op)}")
    return found


# --------------------------------------------------------------------------- measuring


class CpuMonitor(ServerMonitor):
    """ServerMonitor that also keeps the server's CPU seconds spent in each phase."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.spent: dict[str, float] = {}

    @contextlib.contextmanager
    def window(self, result: Result) -> Iterator[None]:
        cpu0 = self.cpu_seconds()
        with super().window(result):
            yield
        self.spent[result.name] = self.cpu_seconds() - cpu0


@dataclass
class Sample:
    rate: float  # ops/s
    cpu_us: float  # server CPU per request
    busy: float  # server CPU as a share of one core
    generator: float  # the load generator's CPU as a share of one core


def measure(server: ServerProcess, launch: Launch, cfg: Config) -> dict[str, Sample]:
    assert server.proc is not None
    monitor = CpuMonitor(server.proc.pid)
    if not monitor.enabled:
        raise SystemExit("psutil is needed for the server's CPU time (pip install psutil)")
    client = S3Client(server.endpoint, launch.access_key, launch.secret_key, REGION)
    monitor.start()
    try:
        results = _run(run_small(client, cfg, monitor))
    finally:
        monitor.stop()
    out = {}
    for r in results:
        if r.errors or not r.ops:
            raise SystemExit(f"{r.name}: {r.errors} failed request(s) of {r.ops + r.errors}: "
                             f"{r.error_samples.most_common(3)}")
        spent = monitor.spent[r.name]
        out[r.name] = Sample(r.throughput, spent / r.ops * 1e6, r.server_cpu or 0.0, r.client_cpu or 0.0)
    return out


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)  # the load generator on uvloop, as run.py's


def check_all(stages: list[int], launch: Launch) -> dict[int, Probe]:
    """Probe every stage (smarts3 first: its head is the model) and stop on any problem."""
    probes: dict[int, Probe] = {}
    for stage in sorted(stages, key=lambda s: -s):
        with running(stage, launch) as server:
            probes[stage] = _run(probe(server.endpoint, launch))
        found = problems(stage, probes[stage], probes.get(4))
        if found:
            raise SystemExit(f"stage {stage} ({STAGES[stage]}) answered wrongly: " + "; ".join(found))
    return probes


def run_rounds(stages: list[int], launch: Launch, cfg: Config, rounds: int) -> dict[int, list[dict[str, Sample]]]:
    samples: dict[int, list[dict[str, Sample]]] = {stage: [] for stage in stages}
    for n in range(rounds):
        order = stages[n % len(stages):] + stages[: n % len(stages)]  # rotated: no stage always first
        for stage in order:
            print(f"[floor] round {n + 1}/{rounds}, stage {stage} ({STAGES[stage]}), load average "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
            with running(stage, launch) as server:
                samples[stage].append(measure(server, launch, cfg))
    return samples


# --------------------------------------------------------------------------- in-process


IN_PROCESS_OPS = (("PUT 4 KiB", "PUT", 200), ("GET 4 KiB", "GET", 200), ("HEAD", "HEAD", 200),
                  ("DELETE", "DELETE", 204))


async def app_cpu(stage: int, data_dir: Path, requests: int, rounds: int) -> dict[str, float]:
    """CPU µs per request of a stage's app alone, best of `rounds`: driven in-process with app_cost.py's
    scopes and 16 concurrent tasks, no sockets and no Hypercorn (stage 4: `create_app` as app_cost.py
    builds it, its log written to a file in `data_dir`)."""
    access, secret = app_cost.ACCESS, app_cost.SECRET
    app: Any
    if stage == 0:
        app = ceiling.app
    elif stage == 4:
        from smarts3.app import create_app

        settings = Settings(data_dir=data_dir, access_key=access, secret_key=secret, log_file=data_dir / "log")
        configure_logging(ObservabilitySettings.from_flat(settings).logging)
        app = create_app(settings)
    else:
        app = StageApp(stage, data_dir, access, secret)
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = await app_cost.lifespan(app, events)
    best: dict[str, float] = {}
    try:
        signer = SigV4Signer(access, secret)
        if await app_cost.call(app, app_cost.scope(signer, "PUT", "/bench"), b"") != 200:
            raise SystemExit(f"stage {stage}: CreateBucket failed in-process")
        keys = [f"/bench/k{i:06d}" for i in range(requests)]
        for _ in range(rounds):
            for op, method, want in IN_PROCESS_OPS:
                body = app_cost.BODY if method == "PUT" else b""
                scopes = [app_cost.scope(signer, method, key, body) for key in keys]
                spent = await app_cost.phase(app, scopes, body, want)
                best[op] = min(best.get(op, spent), spent)
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await lifespan
        if stage == 4:
            unconfigure_logging()
    return best


def in_process(stages: list[int], requests: int, rounds: int) -> dict[int, dict[str, float]]:
    out = {}
    for stage in stages:
        with tempfile.TemporaryDirectory(prefix="smarts3-floor-") as data_dir:
            out[stage] = _run(app_cpu(stage, Path(data_dir), requests, rounds))
    return out


# --------------------------------------------------------------------------- report


def report(samples: dict[int, list[dict[str, Sample]]], loads: tuple[float, float]) -> str:
    """Markdown: per op and stage, medians over rounds (ranges in brackets) and the CPU each stage adds."""
    lines = [
        f"Server on one core, load generator on another, 16 connections; {len(next(iter(samples.values())))} "
        f"round(s), medians (ranges); load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end.",
        "",
        "| 4 KiB op | stage | ops/s | share of ceiling by rate | server CPU per request | added by the stage "
        "| share of ceiling by CPU | server / load generator busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for op in OPS:
        base = samples.get(0)
        previous: float | None = None
        for stage, runs in samples.items():
            rates = [r[op].rate for r in runs]
            cpus = [r[op].cpu_us for r in runs]
            cpu = statistics.median(cpus)
            share_rate = share_cpu = "—"
            if base is not None:
                shares = [r[op].rate / b[op].rate for r, b in zip(runs, base, strict=True)]
                share_rate = f"{statistics.median(shares):.2f} ({min(shares):.2f}-{max(shares):.2f})"
                share_cpu = f"{statistics.median([b[op].cpu_us for b in base]) / cpu:.2f}"
            added = "" if previous is None else f"{cpu - previous:+,.0f} µs"
            busy = statistics.median([r[op].busy for r in runs])
            generator = statistics.median([r[op].generator for r in runs])
            lines.append(
                f"| {op} | {stage}. {STAGES[stage]} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-"
                f"{max(rates):,.0f}) | {share_rate} | {cpu:,.0f} µs ({min(cpus):,.0f}-{max(cpus):,.0f}) | {added} "
                f"| {share_cpu} | {busy:.0%} / {generator:.0%} |"
            )
            previous = cpu
    return "\n".join(lines)


def report_in_process(apps: dict[int, dict[str, float]], samples: dict[int, list[dict[str, Sample]]]) -> str:
    """Markdown: each stage's app CPU alone, and the share a server would reach if the app's CPU were
    all it added to the ceiling's measured CPU over HTTP (no cost for a bigger head in h11, no cache
    effects): an optimistic bound, set next to the measured share by CPU."""
    stages = list(apps)
    lines = [
        "App CPU per request in-process (app_cost.py's method, best of rounds), and the share of the ceiling"
        " by CPU if a stage's app cost were all it added to the ceiling's CPU over HTTP (optimistic), against"
        " the share measured over HTTP:",
        "",
        "| 4 KiB op | " + " | ".join(f"{stage}. {STAGES[stage]}" for stage in stages) + " | "
        + " | ".join(f"share, stage {stage}: bound / measured" for stage in stages if stage >= 1 and 0 in apps)
        + " |",
        "|" + " --- |" * (1 + len(stages) + sum(1 for s in stages if s >= 1 and 0 in apps)),
    ]
    for op, _, _ in IN_PROCESS_OPS:
        cells = [f"{apps[stage][op]:,.0f} µs" for stage in stages]
        if 0 in apps and 0 in samples:
            ceiling_cpu = statistics.median([r[op].cpu_us for r in samples[0]])
            for stage in stages:
                if stage >= 1:
                    bound = ceiling_cpu / (ceiling_cpu + apps[stage][op] - apps[0][op])
                    measured = ceiling_cpu / statistics.median([r[op].cpu_us for r in samples[stage]])
                    cells.append(f"{bound:.2f} / {measured:.2f}")
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_json(samples: dict[int, list[dict[str, Sample]]]) -> dict[str, Any]:
    return {str(stage): [{op: vars(s) for op, s in run.items()} for run in runs] for stage, runs in samples.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--stages", default="0,1,2,3,4", help="comma-separated subset of 0-4")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per op and stage")
    p.add_argument("--quick", action="store_true", help="a smoke run: the checks, then one round of 0.5 s")
    p.add_argument("--no-pin", action="store_true", help="do not pin the server and the load generator")
    p.add_argument("--json", metavar="PATH", help="also write every round's figures here")
    p.add_argument("--stage", type=int, choices=range(4), help=argparse.SUPPRESS)  # a stage's server process
    p.add_argument("serve", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve not in (None, "serve"):
        p.error(f"unexpected argument {args.serve!r}")
    if args.serve == "serve":
        serve_stage(args.stage, args.data_dir, args.port)
        return 0
    stages = sorted({int(s) for s in args.stages.split(",")})
    if not set(stages) <= set(STAGES):
        p.error(f"stages are {sorted(STAGES)}")
    requests = 3000
    if args.quick:
        args.rounds, args.duration, requests = 1, 0.5, 300
    launch = Launch()
    cpus = sorted(os.sched_getaffinity(0))
    if not args.no_pin and len(cpus) >= 2:
        launch.server_cpu = cpus[0]
        os.sched_setaffinity(0, {cpus[1]})  # the load generator (and its RSS sampler) on the other core
    loads = os.getloadavg()[0], 0.0
    check_all(stages, launch)
    cfg = Config(duration=args.duration, max_ops=1_000_000)
    samples = run_rounds(stages, launch, cfg, args.rounds)
    print("[floor] in-process app cost", file=sys.stderr, flush=True)
    apps = in_process(stages, requests, args.rounds)
    loads = loads[0], os.getloadavg()[0]
    print(report(samples, loads))
    print()
    print(report_in_process(apps, samples))
    if args.json:
        Path(args.json).write_text(json.dumps({"http": to_json(samples), "in_process": apps}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
