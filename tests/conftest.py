"""Shared fixtures: a real smarts3 (Hypercorn on an ephemeral port) and real clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig

from tests.postgres import own_postgres_cluster, postgres_cluster, postgres_dsn  # noqa: F401 - fixtures

ACCESS_KEY = "SMARTS3TESTROOTKEY01"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklmn"


@dataclass
class Server:
    url: str
    data_dir: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    metadata: str = ""  # the server's metadata setting: "" (SQLite) or its PostgreSQL database

    def client(self, **config: Any) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=BotoConfig(**{"retries": {"total_max_attempts": 1}, **config}),
        )


def wait_ready(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/_ready", timeout=1, verify=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


# The metadata backend of the `server` fixture: SMARTS3_TEST_METADATA=postgresql runs the whole
# suite on PostgreSQL (tests/postgres.py). Modules marked `both_metadata` run on both.
METADATA_BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_metadata") and "metadata_backend" in metafunc.fixturenames:
        metafunc.parametrize("metadata_backend", METADATA_BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def metadata_backend(request: pytest.FixtureRequest) -> str:
    backend: str = getattr(request, "param", None) or os.environ.get("SMARTS3_TEST_METADATA") or "sqlite"
    if backend not in METADATA_BACKENDS:
        raise ValueError(f"SMARTS3_TEST_METADATA: {backend!r} is not one of {METADATA_BACKENDS}")
    return backend


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, metadata_backend: str,
           request: pytest.FixtureRequest) -> Iterator[Server]:
    """One in-process server for the session (per metadata backend); tests keep to their own buckets."""
    from smarts3.config.settings import Settings
    from smarts3.pytest_plugin import serving

    data_dir = tmp_path_factory.mktemp("data")
    metadata = ""
    if metadata_backend == "postgresql":
        metadata = request.getfixturevalue("postgres_cluster").new_database()
    settings = Settings(data_dir=data_dir, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        base_domain="s3.smarts3.test", metadata=metadata)
    with serving(settings) as url:
        yield Server(url, data_dir, metadata=metadata)


@pytest.fixture
def s3(server: Server) -> Any:
    return server.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


# SMARTS3_TEST_METADATA=postgresql: servers from start_subprocess_server use PostgreSQL too.
_SUBPROCESS_PG: list[Any] = []  # the session's PostgresCluster while a module runs on PostgreSQL
_DATABASES: dict[Path, str] = {}  # data directory -> its database: a restarted server finds its metadata


@pytest.fixture(scope="module", autouse=True)
def _subprocess_metadata(request: pytest.FixtureRequest) -> Iterator[None]:
    """Modules marked `sqlite_metadata` test SQLite itself (meta.db, its migrations) and stay on it."""
    if os.environ.get("SMARTS3_TEST_METADATA") != "postgresql" or request.node.get_closest_marker("sqlite_metadata"):
        yield
        return
    _SUBPROCESS_PG.append(request.getfixturevalue("postgres_cluster"))
    try:
        yield
    finally:
        _SUBPROCESS_PG.clear()


def _metadata_env(data_dir: Path, args: tuple[str, ...], env: dict[str, str] | None) -> dict[str, str]:
    if not _SUBPROCESS_PG or "--metadata" in args or "SMARTS3_METADATA" in (env or {}):
        return env or {}
    key = Path(data_dir).resolve()
    if key not in _DATABASES:
        _DATABASES[key] = _SUBPROCESS_PG[0].new_database()
    return {**(env or {}), "SMARTS3_METADATA": _DATABASES[key]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: SIGTERM the server when the test process dies, even if pytest is killed."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_subprocess_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, scheme: str = "http"
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m smarts3 serve` in its own process (signals, crashes, RSS, workers).

    Each server gets its own free ops port (never the default 9090, so servers run side
    by side) unless the caller chooses one; `metrics_url(proc)` is its base URL.
    """
    port = free_port()
    env = _metadata_env(data_dir, args, env)
    full_env = {**os.environ, "SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY,
                **(env or {})}
    metrics_port: int | None = None
    if "--metrics-port" not in args and "SMARTS3_METRICS_PORT" not in (env or {}):
        metrics_port = free_port()
        while metrics_port == port:
            metrics_port = free_port()
        args = ("--metrics-port", str(metrics_port), *args)
    # A file, not a pipe: nobody may need to read it for the server to keep running.
    fd, name = tempfile.mkstemp(prefix=f"smarts3-server-{port}-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data_dir),
             "--port", str(port), *args],
            env=full_env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    proc.metrics_port = metrics_port  # type: ignore[attr-defined]
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_ready(url, proc=proc)
    except Exception:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start:\n{server_output(proc)}") from None
    return proc, url


def metrics_url(proc: subprocess.Popen[bytes]) -> str:
    """The ops listener (/_metrics, /_health, /_ready) of a server from start_subprocess_server."""
    port = proc.metrics_port  # type: ignore[attr-defined]
    assert port is not None, "the caller chose the ops port"
    return f"http://127.0.0.1:{port}"


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM a server from start_subprocess_server and wait; kill it (and fail) if it hangs."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def server_output(proc: subprocess.Popen[bytes]) -> str:
    """Everything a subprocess server printed so far."""
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
