"""A real PostgreSQL for the tests: Debian's `postgresql` binaries, a throwaway cluster per session.

`initdb` and `pg_ctl` refuse to run as root, and tests run as root in CI: the cluster then runs
as the `postgres` user (runuser), in a temp directory it owns, on an ephemeral port on loopback.
Each test (or server) gets a database of its own from `PostgresCluster.new_database()`, so
tests stay independent. Without the binaries the fixtures skip, except under SMARTS3_CI=1,
where they fail: CI must not skip the PostgreSQL backend silently.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return Path(dirs[-1]) if dirs and os.path.exists(os.path.join(dirs[-1], "initdb")) else None


def _unavailable(reason: str) -> None:
    if os.environ.get("SMARTS3_CI") == "1":
        pytest.fail(f"PostgreSQL tests cannot run under SMARTS3_CI=1: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="smarts3-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self._as: list[str] = []
        self._options = ""
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no `postgres` user")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def start(self, *, durable: bool = False) -> None:
        """`durable`: PostgreSQL's defaults (fsync, synchronous commit), for benchmarks."""
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "-N")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not durable:  # the test cluster's own durability is not under test (smarts3 is killed, not it)
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._options = options
        self.resume()

    def pause(self) -> None:
        """Stop the server (fast: clients' backends are terminated) and keep the cluster: an outage."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def resume(self) -> None:
        """Start the server (again), on the same port."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", self._options, "-l",
                  str(self.dir / "log"), "-w", "-t", "60", "start")

    def restart(self) -> None:
        """`pg_ctl restart`: every client connection is closed by the server."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", self._options, "-l",
                  str(self.dir / "log"), "-m", "fast", "-w", "-t", "60", "restart")

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.dsn(name)


def _running_cluster() -> Iterator[PostgresCluster]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'smarts3[postgres]')")
    bin_dir = _bin_dir()
    if bin_dir is None:
        _unavailable("no initdb on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    assert bin_dir is not None
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(cluster.dir, ignore_errors=True)
        raise
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    yield from _running_cluster()


@pytest.fixture(scope="module")
def own_postgres_cluster() -> Iterator[PostgresCluster]:
    """A cluster of the module's own, for tests that stop or restart it (outages)."""
    yield from _running_cluster()


@pytest.fixture
def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """A database of this test's own."""
    return postgres_cluster.new_database()


def pooled_connections(dsn: str) -> int:
    """How many connections a server's metadata pool holds in this database (application_name smarts3)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND application_name = 'smarts3'").fetchone()
    assert row is not None
    return int(row[0])
