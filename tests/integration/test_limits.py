"""Limits, each with the error or behaviour it must produce."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server
from tests.integration.helpers import client_error


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    env = {"SMARTS3_MAX_OBJECT_SIZE": "10000", "SMARTS3_READ_TIMEOUT": "1", "SMARTS3_KEEP_ALIVE_TIMEOUT": "1",
           "SMARTS3_MAX_HEADER_BYTES": "8192", "SMARTS3_MAX_XML_BYTES": "4096"}
    proc, url = start_subprocess_server(tmp_path_factory.mktemp("limits") / "data", env=env)
    yield url, int(urlsplit(url).port or 0)
    proc.terminate()
    proc.wait(timeout=30)


def _s3(url: str) -> object:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name="us-east-1")


def test_object_size_limit(limited: tuple[str, int]) -> None:
    s3 = _s3(limited[0])
    s3.create_bucket(Bucket="lim")  # type: ignore[attr-defined]
    s3.put_object(Bucket="lim", Key="ok", Body=b"x" * 10000)  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="lim", Key="big", Body=b"x" * 10001)  # type: ignore[attr-defined]
    assert client_error(err.value) == ("EntityTooLarge", 400)
    upload = s3.create_multipart_upload(Bucket="lim", Key="mp")  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket="lim", Key="mp", UploadId=upload["UploadId"], PartNumber=1,  # type: ignore[attr-defined]
                       Body=b"x" * 10001)
    assert client_error(err.value) == ("EntityTooLarge", 400)


def test_xml_body_limit(limited: tuple[str, int]) -> None:
    s3 = _s3(limited[0])
    s3.create_bucket(Bucket="limxml")  # type: ignore[attr-defined]
    keys = [{"Key": "k" * 200 + str(i)} for i in range(40)]  # well over 4 KiB of XML
    with pytest.raises(ClientError) as err:
        s3.delete_objects(Bucket="limxml", Delete={"Objects": keys})  # type: ignore[attr-defined]
    assert client_error(err.value)[0] == "MalformedXML"


def test_header_size_limit(limited: tuple[str, int]) -> None:
    with socket.create_connection(("127.0.0.1", limited[1])) as sock:
        sock.sendall(b"GET /lim/k HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        sock.settimeout(5)
        reply = b""
        while b"</Error>" not in reply and (chunk := sock.recv(4096)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"<Code>RequestHeaderSectionTooLarge</Code>" in reply


def test_slow_client_is_dropped(limited: tuple[str, int]) -> None:
    """A client that sends one byte now and then never completes a request: it is cut off."""
    with socket.create_connection(("127.0.0.1", limited[1])) as sock:
        sock.sendall(b"GET /_health HTTP/1.1\r\n")
        sock.settimeout(10)
        started = time.monotonic()
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 8
    assert b"200 " not in data


def test_idle_keep_alive_is_closed(limited: tuple[str, int]) -> None:
    with socket.create_connection(("127.0.0.1", limited[1])) as sock:
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        reply = b""
        while not reply.endswith(b"ok\n"):
            reply += sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(4096) == b""  # the server closes the idle connection
        assert time.monotonic() - started < 8


def _served_after_others_close(port: int) -> bool:
    """Poll with Connection: close requests until one is served (earlier sockets take a moment to end)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            sock.settimeout(10)
            if sock.recv(4096).startswith(b"HTTP/1.1 200"):
                return True
        time.sleep(0.1)
    return False


def _hold_served(port: int, count: int) -> list[socket.socket]:
    """``count`` open connections, each served once. Tried again while an earlier connection is
    still being released (a loaded host may take a while), instead of sleeping a fixed time."""
    deadline = time.monotonic() + 30
    while True:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        replies = []
        for sock in held:
            sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(10)
            replies.append(sock.recv(4096))
        if all(reply.startswith(b"HTTP/1.1 200") for reply in replies):
            return held
        for sock in held:
            sock.close()
        assert time.monotonic() < deadline, f"{count} connections were never all served: {replies}"
        time.sleep(0.1)


def test_connection_limit(tmp_path: Path) -> None:
    proc, url = start_subprocess_server(tmp_path / "data", env={"SMARTS3_MAX_CONNECTIONS": "2"})
    port = int(urlsplit(url).port or 0)
    try:
        assert _served_after_others_close(port)
        held = _hold_served(port, 2)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            extra.settimeout(10)
            reply = b""
            while chunk := extra.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 503")
        assert b"<Code>SlowDown</Code>" in reply
        for sock in held:
            sock.close()
        assert _served_after_others_close(port), "connections were not released"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
