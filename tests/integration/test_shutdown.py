"""Graceful shutdown on SIGTERM, with a real subprocess and a slow upload in flight."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server

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


def _read_status(sock: socket.socket) -> int:
    sock.settimeout(30)
    data = sock.recv(4096)
    return int(data.split(b" ", 2)[1])


@pytest.mark.slow
def test_sigterm_drains_requests_in_flight(tmp_path: Path) -> None:
    proc, url = start_subprocess_server(tmp_path / "data", env={"SMARTS3_SHUTDOWN_GRACE_PERIOD": "10"})
    sock, _ = _start_slow_put(url, "finished")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
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
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    stop.set()
    thread.join()
    sock.close()
    assert list((data_dir / ".smarts3" / "tmp").iterdir()) == []
    proc2, url2 = start_subprocess_server(data_dir)
    try:
        listed = _client(url2).list_objects_v2(Bucket="drain")  # type: ignore[attr-defined]
        assert listed["KeyCount"] == 0
    finally:
        proc2.terminate()
        proc2.wait(timeout=30)
