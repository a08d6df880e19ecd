"""One owner per data directory, ports bound before anything is written, owner-only file modes.

Start-up recovery deletes temp files and bodies no row references. Run by a second
server while the first is committing, it deleted acknowledged objects; run before a
bind that then failed, it did so for nothing. These tests start real `smarts3 serve`
processes: a second one on a live directory, one on a busy port, and one whose
data directory is then inspected file by file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, free_port, start_subprocess_server, stop_server

pytestmark = pytest.mark.sqlite_metadata  # one server per data directory: SQLite's lock semantics

PUTS = 300
ORPHAN_ID = "ab" + "0" * 30
TEMP_ID = "cd" + "1" * 30


def _serve(data_dir: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """`smarts3 serve` expected to stop on its own (it must not serve)."""
    env = {**os.environ, "SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY}
    return subprocess.run(
        [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data_dir), *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The one stderr line of a start that stopped: 2 for a start-up check (busy port), 1 for a
    data directory another server holds."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "", f"printed a banner: {done.stdout!r}"  # nothing started
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_second_server_on_a_live_directory_exits_and_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first, url = start_subprocess_server(data_dir)
    try:
        s3 = Server(url, data_dir).client()
        s3.create_bucket(Bucket="live")
        acked: dict[str, str] = {}
        failures: list[BaseException] = []

        def writer() -> None:
            client = Server(url, data_dir).client()
            try:
                for i in range(PUTS):
                    body = os.urandom(512 + i)
                    client.put_object(Bucket="live", Key=f"k{i:03d}", Body=body)
                    acked[f"k{i:03d}"] = hashlib.sha256(body).hexdigest()
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 20
        while len(acked) < 10 and thread.is_alive():
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.01)
        attempts = 0
        # Again and again while the writer commits: each attempt would have been a recovery.
        while thread.is_alive() or attempts == 0:
            done = _serve(data_dir, "--port", str(free_port()), "--metrics-port", str(free_port()))
            line = _one_line(done, status=1)
            assert str(data_dir.resolve()) in line
            assert "in use by another smarts3" in line
            assert f"pid {first.pid}" in line
            attempts += 1
        thread.join()
        assert not failures, failures
        assert len(acked) == PUTS
        for key, digest in acked.items():
            body = s3.get_object(Bucket="live", Key=key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == digest, key
    finally:
        stop_server(first)


def _plant_debris(data_dir: Path) -> dict[str, float]:
    """A temp file and an unreferenced body, as a crash leaves them (recovery removes both)."""
    system = data_dir / ".smarts3"
    for sub in ("tmp", f"bodies/{ORPHAN_ID[:2]}"):
        (system / sub).mkdir(parents=True, exist_ok=True)
    (system / "tmp" / TEMP_ID).write_bytes(b"half-written")
    (system / "bodies" / ORPHAN_ID[:2] / ORPHAN_ID).write_bytes(b"sealed, never committed")
    return _snapshot(data_dir)


def _snapshot(data_dir: Path) -> dict[str, float]:
    return {str(p.relative_to(data_dir)): p.stat().st_mtime for p in data_dir.rglob("*")}


@pytest.mark.parametrize("busy", ["--port", "--metrics-port"])
def test_busy_port_stops_before_the_data_directory_is_touched(tmp_path: Path, busy: str) -> None:
    data_dir = tmp_path / "data"
    before = _plant_debris(data_dir)
    with socket.socket() as holder:  # not a smarts3: any process on the port
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        ports = {"--port": free_port(), "--metrics-port": free_port(), busy: taken}
        done = _serve(data_dir, *(str(x) for pair in ports.items() for x in pair))
    assert _one_line(done) == f"smarts3: port {taken} on 127.0.0.1 is already in use; choose another with {busy}"
    assert _snapshot(data_dir) == before  # no recovery, no lock file, no meta.db


def test_busy_port_with_workers_and_a_smarts3_on_it(tmp_path: Path) -> None:
    """SO_REUSEPORT must not let a second multi-worker server join the first one's port."""
    proc, url = start_subprocess_server(tmp_path / "one", "--workers", "2")
    try:
        port = int(url.rsplit(":", 1)[1])
        data_dir = tmp_path / "two"
        before = _plant_debris(data_dir)
        done = _serve(data_dir, "--port", str(port), "--metrics-port", str(free_port()), "--workers", "2")
        assert _one_line(done) == f"smarts3: port {port} on 127.0.0.1 is already in use; choose another with --port"
        assert _snapshot(data_dir) == before
    finally:
        stop_server(proc)


def _modes(root: Path) -> dict[str, str]:
    """Every path under `root` whose mode is not owner-only (0700 directories, 0600 files)."""
    loose = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) != want:
            loose[str(path.relative_to(root.parent))] = oct(stat.S_IMODE(st.st_mode))
    return loose


def _tls_client(url: str, cert: Path) -> Any:
    return boto3.client("s3", endpoint_url=url.replace("127.0.0.1", "localhost"), aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", verify=str(cert),
                        config=BotoConfig(retries={"total_max_attempts": 1}))


def test_everything_under_the_data_directory_is_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # created by the server
    prom = tmp_path / "prom"
    cert = data_dir / ".smarts3" / "tls" / "selfsigned-cert.pem"
    fast_stop = {"SMARTS3_SHUTDOWN_GRACE_PERIOD": "1"}  # TLS connections otherwise linger at shutdown
    proc, url = start_subprocess_server(data_dir, "--tls-self-signed", scheme="https", env=fast_stop)
    try:
        s3 = _tls_client(url, cert)
        s3.create_bucket(Bucket="modes")
        s3.put_object(Bucket="modes", Key="a", Body=b"x" * 1000)
        upload = s3.create_multipart_upload(Bucket="modes", Key="mp")
        part = s3.upload_part(Bucket="modes", Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100)
        s3.complete_multipart_upload(Bucket="modes", Key="mp", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        pending = s3.create_multipart_upload(Bucket="modes", Key="pending")
        s3.upload_part(Bucket="modes", Key="pending", UploadId=pending["UploadId"], PartNumber=1, Body=b"q" * 10)
        s3.close()
    finally:
        stop_server(proc)
    assert _modes(data_dir) == {}
    # What earlier versions left behind: a world-readable database and directories.
    system = data_dir / ".smarts3"
    for name in ("meta.db", "root-credentials.json"):
        if (system / name).exists():
            (system / name).chmod(0o644)
    system.chmod(0o755)
    (system / "bodies").chmod(0o755)

    proc, url = start_subprocess_server(data_dir, "--tls-self-signed", "--workers", "2", scheme="https",
                                        env={"PROMETHEUS_MULTIPROC_DIR": str(prom), **fast_stop})
    try:
        s3 = _tls_client(url, cert)
        s3.put_object(Bucket="modes", Key="b", Body=b"y" * 1000)
        assert s3.get_object(Bucket="modes", Key="mp")["Body"].read() == b"p" * 100
        assert _modes(data_dir) == {}
        assert _modes(prom) == {}
        s3.close()
    finally:
        stop_server(proc)
    assert _modes(data_dir) == {}
