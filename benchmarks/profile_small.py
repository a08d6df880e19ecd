"""Profile small GETs, HEADs, PUTs or DELETEs end to end inside the server, and say whose CPU time it is.

    .venv/bin/python benchmarks/profile_small.py [--op GET|HEAD|PUT|DELETE] [--duration 8] [--top 25]

Starts `smarts3 serve` (one worker, defaults: fsync always) under cProfile in the server's
own process, PUTs `--keys` 4 KiB objects, then runs only `--op` from 16 keep-alive
connections for `--duration` seconds (PUT overwrites the seeded keys at random; DELETE
removes them in order, then keys already gone: seed more `--keys` than it gets through),
stops the server (SIGTERM; the profile is written at exit) and prints the top functions by
cumulative time and the share of the event loop's CPU time spent in smarts3's code against
Hypercorn/h11/asyncio. Time in C functions (socket calls, hashing, SQLite) goes to the
package of the Python code that called them. The profiler counts the event loop thread's CPU
time (not wall time, which on a shared machine charges preemption to whatever function was
running). cProfile slows Python code more than C code, so the split overstates Python-heavy
parts a little; compare runs with each other, not with the benchmark's rates. (py-spy would
be the lighter tool, but under uvloop it sees no frame below the event loop here.) The
group committer's own thread is not profiled: `app_cost.py` measures all threads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3client import S3Client, make_buffer
from scenarios import Result, timed_loop

ACCESS, SECRET = "profileaccesskey", "profilesecretkey0123456789"
_WRAPPER = """
import cProfile, signal, sys, time
from smarts3.__main__ import main
out = sys.argv.pop(1)
profile = cProfile.Profile(time.thread_time)  # CPU time, see above
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())  # after the seeding PUTs
try:
    main()
finally:
    profile.disable()
    profile.dump_stats(out)
"""
_SPLIT = ("json", "sqlite3", "logging", "email", "urllib", "concurrent")  # stdlib packages named by module
# Package of a code file, by the path part that names it.
_PACKAGES = ("smarts3", "hypercorn", "h11", "starlette", "anyio", "uvloop", "asyncio", "wsproto", "prometheus_client")


def package(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for name in reversed(parts[:-1]):
        if name in _PACKAGES:
            return name
    if filename in ("~", ""):
        return "C"
    module = parts[-1].removesuffix(".py")
    if len(parts) > 1 and (module == "__init__" or parts[-2] in _SPLIT):
        module = f"{parts[-2]}.{module}".removesuffix(".__init__")
    return "stdlib " + module  # which part of the standard library


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Own time per package; a C function's own time is split among its callers' packages."""
    raw = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, callers) in raw.items():
        pkg = package(filename)
        if pkg != "C" or not callers:
            out[pkg] += tottime
            continue
        total = sum(c[2] for c in callers.values()) or 1.0
        for (cfile, _cl, _cn), c in callers.items():
            out[package(cfile) if package(cfile) != "C" else "C"] += tottime * c[2] / total
    return dict(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(url: str, op: str, keys: int, duration: float, pid: int) -> Result:
    client = S3Client(url, ACCESS, SECRET)
    conns = await client.connections(16)
    await conns[0].request("PUT", "profile")
    body = make_buffer(4096, seed=4)

    async def seed(first: int) -> None:
        for i in range(first, keys, 16):
            await conns[first].request("PUT", "profile", f"obj/{i:06d}", body=body)

    await asyncio.gather(*(seed(n) for n in range(16)))
    rng = random.Random(42)
    result = Result(op, "ops/s")
    os.kill(pid, signal.SIGUSR1)

    want = 204 if op == "DELETE" else 200

    async def one(conn: object, i: int) -> str | None:
        key = f"obj/{i if op == 'DELETE' else rng.randrange(keys):06d}"
        resp = await conns[i % 16].request(op, "profile", key, body=body if op == "PUT" else None)
        return None if resp.status == want else f"{op} {resp.status}"

    await timed_loop(conns, one, result, duration, 10**9)  # type: ignore[arg-type]
    for c in conns:
        await c.close()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--op", choices=("GET", "HEAD", "PUT", "DELETE"), default="GET")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--keys", type=int, default=500)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out", help="keep the profile here (pstats format)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="smarts3-profile-") as tmp:
        out = args.out or os.path.join(tmp, "server.prof")
        env = {**os.environ, "SMARTS3_ACCESS_KEY": ACCESS, "SMARTS3_SECRET_KEY": SECRET, "SMARTS3_METRICS_PORT": "off"}
        env.update(item.split("=", 1) for item in args.server_env)
        data = os.path.join(tmp, "data")
        cmd = [sys.executable, "-c", _WRAPPER, out, "serve", "--data-dir", data, "--port", str(port)]
        with open(os.path.join(tmp, "server.log"), "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if time.monotonic() > deadline or proc.poll() is not None:
                            print("server did not start", file=sys.stderr)
                            return 2
                        time.sleep(0.1)
                result = asyncio.run(load(f"http://127.0.0.1:{port}", args.op, args.keys, args.duration, proc.pid))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        print(f"{args.op}: {result.ops / (result.elapsed or 1):,.0f} ops/s under cProfile, {result.errors} errors")
        stats = pstats.Stats(out)
        by_pkg = shares(stats)
        total = sum(by_pkg.values())
        print("own CPU time by package (C calls to their callers' package):")
        for pkg, t in sorted(by_pkg.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {pkg:22} {t:7.2f} s  {100 * t / total:5.1f}%")
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
