"""CPU time smarts3's own code spends per small request, without HTTP: the ASGI app driven in-process.

    PYTHONPATH=server .venv/bin/python benchmarks/app_cost.py [--requests 4000] [--rounds 3] 2>/dev/null

Builds the app as `smarts3 serve` does (`create_app`, defaults: fsync always, access log and
metrics on, logging configured and the lifespan running), feeds it ready-made ASGI scopes of
signed 4 KiB PUT, GET, HEAD and DELETE requests from 16 concurrent tasks on one event loop, and
prints the process's CPU time (all threads: the event loop, the group-commit writer, the access
log's thread) per request, best of `--rounds`. No sockets, no Hypercorn, no load generator: on a
machine shared with other work this is the steadier figure for the app's own share of a request
(`run.py`'s rates swing with the load on the other core). What Hypercorn, h11 and asyncio spend
per request (the ceiling's ~160-200 µs, more for more response headers) comes on top of this.
The signatures are made once per key before timing (a SigV4 signature may be replayed within
its 15 minutes), so the client side costs nothing measurable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3client import SigV4Signer

ACCESS, SECRET = "appcostaccesskey", "appcostsecretkey0123456789"
HOST = "127.0.0.1:9000"
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CONCURRENCY = 16
BODY = bytes(range(256)) * 16  # 4 KiB


def scope(signer: SigV4Signer, method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    headers = {"host": HOST}
    if body:
        headers["content-length"] = str(len(body))
    signer.sign(method, path, "", headers, "UNSIGNED-PAYLOAD" if body else EMPTY_SHA)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 9000),
    }


async def call(app: Any, template: dict[str, Any], body: bytes) -> int:
    status = 0
    sent = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()  # a disconnect that never comes
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(template), receive, send)
    return status


async def phase(app: Any, requests: list[dict[str, Any]], body: bytes, want: int) -> float:
    """CPU µs per request (process time: every thread) for `requests`, CONCURRENCY at a time."""
    queue = iter(requests)
    failures: list[int] = []

    async def worker() -> None:
        for template in queue:
            status = await call(app, template, body)
            if status != want:
                failures.append(status)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    spent = time.process_time() - start
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. status {failures[0]}")
    return spent / len(requests) * 1e6


async def lifespan(app: Any, events: asyncio.Queue[dict[str, Any]]) -> asyncio.Task[None]:
    """The app's lifespan started (sweeper, bucket-log delivery) as the server starts it."""
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise SystemExit(f"startup failed: {message.get('message')}")

    await events.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, events.get, send))
    await started.wait()
    return task


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    from smarts3.app import create_app
    from smarts3.config.settings import Settings
    from smarts3.observability import ObservabilitySettings
    from smarts3.observability.logging import configure_logging

    out: dict[str, list[float]] = {"PUT": [], "GET": [], "HEAD": [], "DELETE": []}
    with tempfile.TemporaryDirectory(prefix="smarts3-appcost-") as data:
        settings = Settings(data_dir=Path(data), access_key=ACCESS, secret_key=SECRET, **args.setting)
        configure_logging(ObservabilitySettings.from_flat(settings).logging)  # as `smarts3 serve`
        app = create_app(settings)
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        running = await lifespan(app, events)
        signer = SigV4Signer(ACCESS, SECRET)
        assert await call(app, scope(signer, "PUT", "/bench"), b"") == 200
        keys = [f"/bench/k{i:06d}" for i in range(args.requests)]
        for _ in range(args.rounds):
            put = [scope(signer, "PUT", k, BODY) for k in keys]
            get = [scope(signer, "GET", k) for k in keys]
            head = [scope(signer, "HEAD", k) for k in keys]
            delete = [scope(signer, "DELETE", k) for k in keys]
            out["PUT"].append(await phase(app, put, BODY, 200))
            out["GET"].append(await phase(app, get, b"", 200))
            out["HEAD"].append(await phase(app, head, b"", 200))
            out["DELETE"].append(await phase(app, delete, b"", 204))
        await events.put({"type": "lifespan.shutdown"})
        await running
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per op and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a Settings field, e.g. --set access_log=false")
    args = parser.parse_args()
    args.setting = dict(item.split("=", 1) for item in args.setting)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(run(args))
    print("| 4 KiB op | CPU µs per request (best of rounds) | all rounds |")
    print("| --- | --- | --- |")
    for op, values in out.items():
        print(f"| {op} | {min(values):.0f} | {' / '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    main()
