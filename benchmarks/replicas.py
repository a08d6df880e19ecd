"""run.py's table on SQLite, on PostgreSQL, and on two replicas sharing PostgreSQL.

Runs benchmarks/run.py's scenarios (by default "small": PUT/GET/HEAD/DELETE of 4 KiB, 16
connections, fsync always; `--scenarios small,list,large,multipart` for the whole table)
three times, one after the other on this machine:

1. `smarts3 serve` on SQLite (the default);
2. `smarts3 serve --metadata postgresql://…`, one replica;
3. two `smarts3 serve --metadata …` on one data directory, the load generator's
   connections round-robin over both.

PostgreSQL is a throwaway cluster from Debian's binaries (tests/postgres.py) with its durable
defaults (fsync, synchronous commit), unless --dsn names one. Server and database share the
machine's cores with the load generator: say so next to any figure.

    python benchmarks/replicas.py --duration 5 [--scenarios small,list,large,multipart]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.postgres

from run import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, free_port, http_answers  # noqa: E402


def bench(args: argparse.Namespace, extra: list[str]) -> dict[str, tuple[float, str]]:
    """Throughput and unit per scenario row ("PUT 4 KiB", "LIST 1000/page", ...) of one run.py run."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, str(HERE / "run.py"), "--scenarios", args.scenarios, "--duration", str(args.duration),
               "--quiet", "--json", out.name, *extra]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        results = json.loads(Path(out.name).read_text())
    rates: dict[str, tuple[float, str]] = {}
    for r in results:
        errors = int(r.get("errors") or 0)
        if errors:
            raise RuntimeError(f"{r['scenario']}: {errors} failed request(s): {r.get('error_samples')}")
        if r["scenario"] != "seed":
            rates[str(r["scenario"])] = (float(r["throughput"]), str(r["unit"]))
    return rates


def start_replicas(n: int, data_dir: Path, dsn: str) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    env = {**os.environ, "SMARTS3_ACCESS_KEY": DEFAULT_ACCESS_KEY, "SMARTS3_SECRET_KEY": DEFAULT_SECRET_KEY,
           "SMARTS3_METADATA": dsn, "SMARTS3_METRICS_PORT": "off"}
    procs, urls = [], []
    for _ in range(n):
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data_dir),
                                       "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while not http_answers("127.0.0.1", port):
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                raise RuntimeError("a replica did not start")
            time.sleep(0.1)
    return procs, urls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    p.add_argument("--dsn", help="an existing, empty PostgreSQL database (default: a throwaway cluster)")
    p.add_argument("--scenarios", default="small", help="run.py's --scenarios (default: small)")
    args = p.parse_args()

    cluster: Any = None
    dsn = args.dsn
    if dsn is None:
        from tests.postgres import PostgresCluster, _bin_dir

        bin_dir = _bin_dir()
        if bin_dir is None:
            print("no PostgreSQL binaries (apt-get install postgresql), or pass --dsn", file=sys.stderr)
            return 2
        cluster = PostgresCluster(bin_dir)
        cluster.start(durable=True)
    try:
        rows: dict[str, dict[str, tuple[float, str]]] = {}
        rows["SQLite, 1 replica"] = bench(args, [])
        one = dsn or cluster.new_database()
        rows["PostgreSQL, 1 replica"] = bench(args, ["--server-arg=--metadata", f"--server-arg={one}"])
        two = dsn or cluster.new_database()
        with tempfile.TemporaryDirectory(prefix="smarts3-replicas-") as data_dir:
            procs, urls = start_replicas(2, Path(data_dir), two)
            try:
                rows["PostgreSQL, 2 replicas"] = bench(args, ["--endpoint", ",".join(urls),
                                                              "--access-key", DEFAULT_ACCESS_KEY,
                                                              "--secret-key", DEFAULT_SECRET_KEY])
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.wait(timeout=30)
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"run.py --scenarios {args.scenarios} (fsync always); servers, PostgreSQL and the load generator"
          f" share this machine's {os.cpu_count()} cores.\n")
    columns = list(dict.fromkeys(name for rates in rows.values() for name in rates))
    units = {name: unit for rates in rows.values() for name, (_, unit) in rates.items()}
    print("| metadata | " + " | ".join(f"{name} ({units[name]})" for name in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for label, rates in rows.items():
        cells = [f"{rates[name][0]:,.0f}" if name in rates else "-" for name in columns]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
