"""Graceful shutdown on SIGTERM, with a real subprocess and a slow upload in flight."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, metrics_url, server_output, start_subprocess_server

SIZE = 1_000_000


def _client(url: str) -> object:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name="us-east-1")


def _start_slow_put(url: str, key: str) -> tuple[socket.socket, str]:
    """Send the headers and the first 100 KB of a presigned PUT; the caller sends the rest."""
    s3 = _client(url)
    s3.create_bucket(Bucket="drain")  # type: ignore[attr-defined]
    presigned = s3.generate_presigned_url(  # type: ignore[attr-defined]
        "put_object", Params={"Bucket": "drain", "Key": key}, ExpiresIn=300)
    parts = urlsplit(presigned)
    sock = socket.create_connection((parts.hostname, parts.port))
    head = (f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Length: {SIZE}\r\n\r\n").encode()
    sock.sendall(head + b"a" * 100_000)
    return sock, presigned


def _wait_in_flight(proc: subprocess.Popen[bytes], count: int) -> None:
    """Until the server counts `count` requests in flight (the slow PUT has reached the app)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = httpx.get(metrics_url(proc) + "/_metrics", timeout=10).text
        if f"smarts3_requests_in_flight {float(count)}" in text:
            return
        time.sleep(0.02)
    pytest.fail(f"never {count} request(s) in flight")


def _read_status(sock: socket.socket) -> int:
    sock.settimeout(30)
    data = sock.recv(4096)
    return int(data.split(b" ", 2)[1])


@pytest.mark.slow
def test_sigterm_drains_requests_in_flight(tmp_path: Path) -> None:
    proc, url = start_subprocess_server(tmp_path / "data", env={"SMARTS3_SHUTDOWN_GRACE_PERIOD": "10"})
    sock, _ = _start_slow_put(url, "finished")
    _wait_in_flight(proc, 1)
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30  # refused while draining (up to 10 s) and once it exited
    while time.monotonic() < deadline:  # new connections are refused once draining starts
        try:
            httpx.get(url + "/_ready", timeout=1)
        except httpx.TransportError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("server still accepted new connections after SIGTERM")
    sock.sendall(b"a" * (SIZE - 100_000))  # the upload in flight completes within the grace period
    assert _read_status(sock) == 200
    sock.close()
    assert proc.wait(timeout=30) == 0
    output = server_output(proc)
    assert "SIGTERM received: draining 1 request(s) in flight, for up to 10 s" in output
    assert "exit: every request finished" in output
    assert "Traceback" not in output
    proc2, url2 = start_subprocess_server(tmp_path / "data")
    try:
        body = _client(url2).get_object(Bucket="drain", Key="finished")["Body"].read()  # type: ignore[attr-defined]
        assert body == b"a" * SIZE
    finally:
        proc2.terminate()
        proc2.wait(timeout=30)


@pytest.mark.slow
def test_upload_cut_off_by_the_deadline_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc, url = start_subprocess_server(data_dir, env={"SMARTS3_SHUTDOWN_GRACE_PERIOD": "1"})
    sock, _ = _start_slow_put(url, "cut")
    stop = threading.Event()

    def trickle() -> None:  # keeps the upload alive past the deadline
        try:
            while not stop.is_set():
                sock.sendall(b"a")
                time.sleep(0.1)
        except OSError:
            pass

    thread = threading.Thread(target=trickle)
    thread.start()
    _wait_in_flight(proc, 1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    stop.set()
    thread.join()
    sock.close()
    # The cut upload: one warning line and an access-log line with its own error code, no traceback.
    output = server_output(proc)
    assert "Traceback" not in output and "CancelledError" not in output, output
    assert output.count("request cancelled before it finished: PUT /drain/cut\n") == 1, output
    access = [line for line in output.splitlines() if "smarts3.access" in line and "PUT /drain/cut " in line]
    assert len(access) == 1, output
    assert "status=499" in access[0] and "error_code=RequestCancelled" in access[0]
    assert "SIGTERM received: draining 1 request(s) in flight, for up to 1 s" in output
    assert "exit: 1 request(s) cut at the 1 s shutdown deadline" in output
    assert [p for p in (data_dir / ".smarts3" / "tmp").rglob("*") if p.is_file()] == []  # (PostgreSQL: tmp/<replica>/)
    proc2, url2 = start_subprocess_server(data_dir)
    try:
        listed = _client(url2).list_objects_v2(Bucket="drain")  # type: ignore[attr-defined]
        assert listed["KeyCount"] == 0
    finally:
        proc2.terminate()
        proc2.wait(timeout=30)
