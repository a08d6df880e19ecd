"""Hypercorn's own ceiling on this machine: a do-nothing S3 look-alike behind the same server.

    .venv/bin/python benchmarks/ceiling.py [--workers N] [--port 9911]
    .venv/bin/python benchmarks/run.py --endpoint http://127.0.0.1:9911 --scenarios small \
        --server-pid <pid printed above>

The app answers every request at once, with no authentication, no storage and no logging:
PUT reads and drops the body, GET sends a fixed body of the size asked for in the key
(`?size=` is not needed: the small scenario's 4 KiB), HEAD its headers, DELETE 204.
Hypercorn runs it exactly as `smarts3 serve` runs smarts3 (uvloop, h11, the same worker
model), so the figures are the most any app on this stack can reach for small requests:
smarts3's own work per request comes on top of them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app

BODY = b"x" * 4096
_HEADERS = [(b"etag", b'"0123456789abcdef0123456789abcdef"'), (b"content-type", b"application/octet-stream")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    method = scope["method"]
    more = True
    while more:  # drain the request body
        message = await receive()
        more = message.get("more_body", False)
    if method == "DELETE":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = BODY if method in ("GET", "HEAD") and scope["path"].count("/") > 1 else b""
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def serve(port: int, workers: int, asgi: Any = app) -> None:
    """Serve `asgi` (this module's app unless another is given: floor.py's stages) as above."""
    import uvloop

    config = Config()
    config.accesslog = None
    config.bind = [f"127.0.0.1:{port}"]
    config.workers = workers  # > 1: each process binds its own socket with SO_REUSEPORT, as smarts3 does
    sockets = config.create_sockets()

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        wrapped = wrap_app(asgi, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
        await worker_serve(wrapped, config, sockets=sockets, shutdown_trigger=stop.wait)

    uvloop.run(main())


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9911)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(f"ceiling server on http://127.0.0.1:{args.port}, pid {os.getpid()} ({args.workers} worker(s))", flush=True)
    children = []
    for _ in range(args.workers - 1):
        pid = os.fork()
        if pid == 0:
            serve(args.port, args.workers)
            os._exit(0)
        children.append(pid)
    try:
        serve(args.port, args.workers)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)


if __name__ == "__main__":
    cli()
