"""Run the smarts3 benchmarks and print a Markdown results table.

By default starts ``smarts3 serve`` on a free port with a temporary data directory,
measures, stops it, and prints the table. With ``--endpoint URL`` it benchmarks a
server that is already running instead (add ``--server-pid`` to sample its RSS).

    python benchmarks/run.py
    python benchmarks/run.py --scenarios small,list --duration 5
    python benchmarks/run.py --workers 2 --server-env SMARTS3_FSYNC=never
    python benchmarks/run.py --big 1GiB --scenarios big
    python benchmarks/run.py --endpoint http://127.0.0.1:5055 --access-key a --secret-key b

Exit status: 0 when every request succeeded, 1 when any failed (the table then says so
loudly), 2 on usage errors or when the server cannot be started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3client import S3Client
from scenarios import (
    GROUPS,
    HAVE_PSUTIL,
    RUNNERS,
    Config,
    Result,
    ServerMonitor,
    cleanup,
    size_label,
)

DEFAULT_ACCESS_KEY = "benchaccesskey"
DEFAULT_SECRET_KEY = "benchsecretkey0123456789"  # only ever used for a throwaway server
DEFAULT_GROUPS = ("small", "list", "large", "multipart")

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """``1GiB``, ``256MiB``, ``8M``, ``4096`` -> bytes (binary units)."""
    m = _SIZE_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 256MiB, 1GiB)")
    unit = (m.group(2) or "").upper()[:1]
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("target")
    g.add_argument(
        "--endpoint",
        help="benchmark an already running server at this http:// URL (implies --no-server); "
        "comma-separated URLs of replicas of one store get the connections round-robin",
    )
    g.add_argument("--no-server", action="store_true", help="do not start a server")
    g.add_argument("--access-key", default=os.environ.get("BENCH_ACCESS_KEY", DEFAULT_ACCESS_KEY))
    g.add_argument("--secret-key", default=os.environ.get("BENCH_SECRET_KEY", DEFAULT_SECRET_KEY))
    g.add_argument("--region", default="us-east-1")
    g.add_argument("--server-pid", type=int, help="external server's pid, to sample its RSS")
    g.add_argument(
        "--keep-objects",
        action="store_true",
        help="external server: leave this run's buckets behind (default: delete them)",
    )

    s = p.add_argument_group("launched server")
    s.add_argument(
        "--server-cmd",
        help="command that starts the server (default: smarts3 next to this Python, on PATH or in the "
        "repo's .venv, else 'python -m smarts3')",
    )
    s.add_argument("--workers", type=int, help="pass --workers N to smarts3 serve")
    s.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for 'smarts3 serve' (repeatable)",
    )
    s.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (repeatable), e.g. SMARTS3_FSYNC=never",
    )
    s.add_argument("--data-dir", help="parent directory for the server's temporary data dir")
    s.add_argument("--keep-data", action="store_true", help="do not delete the data dir")
    s.add_argument("--startup-timeout", type=float, default=30.0)

    w = p.add_argument_group("workload")
    w.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_GROUPS),
        help=f"comma-separated subset of {','.join(GROUPS)} ('big' is added by --big)",
    )
    w.add_argument("--duration", type=float, default=10.0, help="seconds per timed phase")
    w.add_argument("--ops", type=int, default=20_000, help="max ops per timed phase")
    w.add_argument("--concurrency", type=int, default=16, help="connections, small objects")
    w.add_argument("--object-size", type=parse_size, default=4096, help="small object size")
    w.add_argument("--list-keys", type=int, default=10_000)
    w.add_argument("--page-size", type=int, default=1000)
    w.add_argument("--list-concurrency", type=int, default=1, help="parallel bucket walkers")
    w.add_argument("--large-size", type=parse_size, default=256 * 1024**2)
    w.add_argument("--large-repeat", type=int, default=1, help="PUT/GET the large object N times")
    w.add_argument("--part-size", type=parse_size, default=8 * 1024**2)
    w.add_argument("--part-concurrency", type=int, default=4)
    w.add_argument("--big", type=parse_size, help="also PUT/GET one object this big, e.g. 1GiB")

    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH", help="also write results as JSON here")
    o.add_argument("--output", metavar="PATH", help="also write the Markdown report here")
    o.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)

    if args.endpoint:
        args.no_server = True
    elif args.no_server:
        p.error("--no-server needs --endpoint")
    groups = [g.strip() for g in args.scenarios.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        p.error(f"unknown scenarios {unknown}; choose from {list(GROUPS)}")
    if args.big and "big" not in groups:
        groups.append("big")
    if "big" in groups and not args.big:
        p.error("scenario 'big' needs --big SIZE")
    args.groups = groups
    for item in args.server_env:
        if "=" not in item:
            p.error(f"--server-env wants KEY=VALUE, got {item!r}")
    return args


# --------------------------------------------------------------------------- server launcher


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something at host:port answers an HTTP request (any status)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(5) == b"HTTP/"
    except OSError:
        return False


def listening_sockets(port: int) -> int | None:
    """How many sockets listen on the TCP port (Linux /proc), or None where unknown.

    With --workers N each worker binds its own SO_REUSEPORT socket; connections opened
    before all of them listen would all stay with the first worker for the whole run.
    """
    try:
        text = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    except OSError:
        return None
    wanted = f":{port:04X}"
    return sum(1 for line in text.splitlines()[1:] if (f := line.split())[1].endswith(wanted) and f[3] == "0A")


def default_server_cmd() -> list[str]:
    """smarts3 next to this Python, else on PATH, else in the repo's .venv, else -m."""
    candidates = [
        Path(sys.executable).parent / "smarts3",
        Path(shutil.which("smarts3") or "/nonexistent"),
        Path(__file__).resolve().parent.parent / ".venv" / "bin" / "smarts3",
    ]
    for exe in candidates:
        if exe.is_file() and os.access(exe, os.X_OK):
            return [str(exe)]
    return [sys.executable, "-m", "smarts3"]


class ServerProcess:
    """``smarts3 serve`` as a child process in its own process group."""

    def __init__(self, args: argparse.Namespace, log: TextIO) -> None:
        self.port = free_port()
        parent = args.data_dir
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(tempfile.mkdtemp(prefix="smarts3-bench-", dir=parent))
        self.keep_data = args.keep_data
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        base = args.server_cmd.split() if args.server_cmd else default_server_cmd()
        self.cmd = [
            *base,
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
        ]
        if args.workers:
            self.cmd += ["--workers", str(args.workers)]
        self.cmd += args.server_arg
        self.env = dict(os.environ)
        self.env.update(
            SMARTS3_ACCESS_KEY=args.access_key,
            SMARTS3_SECRET_KEY=args.secret_key,
            SMARTS3_REGION=args.region,
        )
        # The ops listener (default port 9090) is not measured here; a busy 9090 must not stop a run.
        self.env.setdefault("SMARTS3_METRICS_PORT", "off")
        self.extra_env = dict(item.split("=", 1) for item in args.server_env)
        self.env.update(self.extra_env)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.workers = args.workers or 1
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = log

    def start(self, timeout: float) -> None:
        self._logfile = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with status {self.proc.returncode} during startup")
            if http_answers("127.0.0.1", self.port):
                listening = listening_sockets(self.port)
                if listening is None or listening >= self.workers:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer HTTP on port {self.port} within {timeout}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._log.write("server ignored SIGTERM for 15s; killing it\n")
            code = self.proc.poll()
            # The group is ours (start_new_session): clear out any worker left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if getattr(self, "_logfile", None):
            self._logfile.close()
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- running


def _install_fast_loop() -> str:
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return "asyncio"
    uvloop.install()
    return "uvloop"


def _progress(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


async def run_all(
    client: S3Client,
    cfg: Config,
    groups: list[str],
    monitor: ServerMonitor,
    quiet: bool,
    server: ServerProcess | None,
) -> list[Result]:
    results: list[Result] = []
    for group in groups:
        _progress(quiet, f"[bench] {group} ...")
        t0 = time.perf_counter()
        try:
            got = await RUNNERS[group](client, cfg, monitor)
        except Exception as exc:  # BenchmarkSetupError and anything unexpected
            failed = Result(f"{group} (aborted)", "")
            failed.error(f"{type(exc).__name__}: {exc}")
            got = [failed]
        for r in got:
            _progress(
                quiet,
                f"[bench]   {r.name}: {fmt_throughput(r)}, p50 {fmt_latency(r.percentile(50))}, "
                f"p99 {fmt_latency(r.percentile(99))}, ops {r.ops}, errors {r.errors}",
            )
        _progress(quiet, f"[bench] {group} done in {time.perf_counter() - t0:.1f}s")
        results.extend(got)
        if server is not None and not server.alive():
            dead = Result("server", "")
            dead.error(f"server process exited (status {server.proc and server.proc.returncode})")
            results.append(dead)
            break
    return results


# --------------------------------------------------------------------------- report


def fmt_throughput(r: Result) -> str:
    if not r.unit:
        return "—"
    v = r.throughput
    return f"{v:,.0f} {r.unit}" if v >= 10 else f"{v:,.1f} {r.unit}"


def fmt_latency(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 0.01:
        return f"{v * 1e3:.0f} ms"
    return f"{v * 1e3:.2f} ms"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1024**2:,.0f} MiB" if n >= 10 * 1024**2 else f"{n / 1024**2:,.1f} MiB"


def ref_cells(r: Result) -> tuple[str, str]:
    if r.growth_limit is not None:
        ref = f"RSS growth < {size_label(r.growth_limit)}"
        growth = r.rss_growth
        if growth is None:
            return ref, "n/a (no RSS)"
        return ref, "OK" if growth < r.growth_limit else "**OVER**"
    if r.ref is None:
        return "—", "—"
    ref = f"{r.ref:,.0f} {r.unit}"
    if r.errors or not r.ops:
        return ref, "—"
    return ref, f"{r.throughput / r.ref:.2f}x"


def markdown_table(results: list[Result]) -> str:
    head = [
        "Scenario",
        "Result",
        "Ref",
        "Ratio",
        "p50",
        "p99",
        "Ops",
        "Errors",
        "Server peak RSS",
        "RSS growth",
        "CPU srv / bench",
        "Notes",
    ]
    rows = [head, ["---"] * len(head)]
    for r in results:
        ref, ratio = ref_cells(r)
        cpu = "—"
        if r.client_cpu is not None:
            srv = f"{r.server_cpu * 100:.0f}%" if r.server_cpu is not None else "?"
            cpu = f"{srv} / {r.client_cpu * 100:.0f}%"
        rows.append(
            [
                r.name,
                fmt_throughput(r),
                ref,
                ratio,
                fmt_latency(r.percentile(50)),
                fmt_latency(r.percentile(99)),
                f"{r.ops:,}",
                f"**{r.errors:,}**" if r.errors else "0",
                fmt_bytes(r.rss_peak),
                fmt_bytes(r.rss_growth) if r.report_growth else "",
                cpu,
                r.note,
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def header_lines(args: argparse.Namespace, endpoint: str, server: ServerProcess | None, loop: str) -> list[str]:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# smarts3 benchmark — {when}",
        "",
        f"- target: `{endpoint}`" + (f" — `{' '.join(server.cmd)}`" if server else " (external server)"),
    ]
    if server and server.extra_env:
        lines.append(f"- server env: `{' '.join(f'{k}={v}' for k, v in server.extra_env.items())}`")
    lines.append(
        f"- host: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load generator on {loop}"
    )
    lines.append(
        f"- timed phases: {args.duration:g} s or {args.ops:,} ops; {args.concurrency} connections "
        f"for small objects ({size_label(args.object_size)}); MB/s = 10^6 bytes/s; "
        "RSS = server process + children, sampled every 50 ms"
    )
    lines.append("- ref = the server smarts3 replaces, same 2-core machine")
    return lines


def to_json(results: list[Result]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        out.append(
            {
                "scenario": r.name,
                "unit": r.unit,
                "throughput": r.throughput,
                "ref": r.ref,
                "ratio": (r.throughput / r.ref) if r.ref and r.ops else None,
                "p50_s": r.percentile(50),
                "p99_s": r.percentile(99),
                "ops": r.ops,
                "errors": r.errors,
                "error_samples": dict(r.error_samples),
                "elapsed_s": r.elapsed,
                "rss_base": r.rss_base,
                "rss_peak": r.rss_peak,
                "rss_growth": r.rss_growth,
                "server_cpu": r.server_cpu,
                "client_cpu": r.client_cpu,
                "note": r.note,
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config(
        duration=args.duration,
        max_ops=args.ops,
        concurrency=args.concurrency,
        object_size=args.object_size,
        list_keys=args.list_keys,
        page_size=args.page_size,
        list_concurrency=args.list_concurrency,
        large_size=args.large_size,
        part_size=args.part_size,
        part_concurrency=args.part_concurrency,
        large_repeat=args.large_repeat,
        big_size=args.big,
    )
    if not HAVE_PSUTIL:
        print(
            "warning: psutil is not installed; no RSS/CPU figures (pip install psutil)",
            file=sys.stderr,
        )

    server: ServerProcess | None = None
    pid: int | None = args.server_pid
    if args.no_server:
        endpoint = args.endpoint
    else:
        server = ServerProcess(args, sys.stderr)
        endpoint = server.endpoint
        _progress(args.quiet, f"[bench] starting: {' '.join(server.cmd)}")
        try:
            server.start(args.startup_timeout)
        except (OSError, RuntimeError) as exc:
            print(f"error: could not start the server: {exc}", file=sys.stderr)
            tail = server.log_tail()
            if tail:
                print(f"--- server log ({server.log_path}) ---\n{tail}", file=sys.stderr)
            server.stop()
            return 2
        assert server.proc is not None
        pid = server.proc.pid
        _progress(args.quiet, f"[bench] server up at {endpoint} (pid {pid})")

    loop_name = _install_fast_loop()
    client = S3Client(endpoint, args.access_key, args.secret_key, args.region)
    monitor = ServerMonitor(pid)
    monitor.start()
    exit_code: int | None = None
    try:
        results = asyncio.run(run_all(client, cfg, args.groups, monitor, args.quiet, server))
        if args.no_server and not args.keep_objects:
            problems = asyncio.run(cleanup(client, cfg.run_id))
            for problem in problems:
                print(f"warning: cleanup: {problem}", file=sys.stderr)
    finally:
        monitor.stop()
        if server is not None:
            exit_code = server.stop()
            if server.keep_data:
                _progress(args.quiet, f"[bench] data kept in {server.data_dir}")

    lines = header_lines(args, endpoint, server, loop_name)
    lines += ["", markdown_table(results), ""]
    total_errors = sum(r.errors for r in results)
    if total_errors:
        lines += [
            f"**!!! THIS BENCHMARK HAD {total_errors:,} FAILED REQUEST(S) — THE NUMBERS ABOVE ARE NOT VALID !!!**",
            "",
        ]
        for r in results:
            for what, n in r.error_samples.most_common(5):
                lines.append(f"- {r.name}: {n:,} x {what}")
        lines.append("")
    if server is not None and exit_code not in (0, -signal.SIGTERM, None):
        lines.append(f"note: server exited with status {exit_code} on SIGTERM")
    report = "\n".join(lines)
    print(report)
    if total_errors:
        print(f"\n!!! {total_errors:,} FAILED REQUEST(S) — BENCHMARK INVALID !!!", file=sys.stderr)
        if server is not None:
            tail = server.log_tail(20)
            if tail:
                print(f"--- server log tail ({server.log_path}) ---\n{tail}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(report + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(results), indent=2) + "\n")
    if server is not None:
        if total_errors or server.keep_data:
            _progress(args.quiet, f"[bench] server log kept: {server.log_path}")
        else:
            server.log_path.unlink(missing_ok=True)
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
