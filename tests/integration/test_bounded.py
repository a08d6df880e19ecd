"""Bounded resources: a deadline for request heads, and aws-chunked bodies verified as they stream."""

from __future__ import annotations

import base64
import hashlib
import hmac
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server
from tests.integration import chunked
from tests.integration.chunked import EMPTY_SHA256, _FixedPayloadAuth
from tests.integration.helpers import PeakRss

HEAD_TIMEOUT = 2.0
MIB = 1024 * 1024
SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    data_dir = tmp_path_factory.mktemp("bounded") / "data"
    env = {
        "SMARTS3_REQUEST_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
        "SMARTS3_READ_TIMEOUT": "20",
        "SMARTS3_KEEP_ALIVE_TIMEOUT": "10",
        "SMARTS3_FSYNC": "never",
    }
    proc, url = start_subprocess_server(data_dir, env=env)
    yield url, proc.pid, data_dir
    proc.terminate()
    proc.wait(timeout=30)


def _s3(url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )


def _connect(url: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", urlsplit(url).port or 0))
    sock.settimeout(30)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body (what the server sends here)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _trickle_until_cut(
    sock: socket.socket, data: bytes, interval: float = 0.3, give_up: float = 8.0
) -> tuple[float, bytes]:
    """Send `data` a byte per `interval` until the server ends the connection; (seconds taken, reply)."""
    started = time.monotonic()
    reply = b""
    for byte in data:
        if time.monotonic() - started > give_up:
            break
        readable, _, _ = select.select([sock], [], [], interval)  # the pace, and a watch for the cut
        try:
            if readable:
                while chunk := sock.recv(65536):
                    reply += chunk
                return time.monotonic() - started, reply
            sock.sendall(bytes([byte]))
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started, reply
    raise AssertionError(f"still connected after {time.monotonic() - started:.1f}s of trickling")


# --- the request head deadline ---------------------------------------------------------------


def test_trickled_head_is_cut_at_the_deadline(served: tuple[str, int, Path]) -> None:
    """A byte every 0.3 s is well within the read timeout (20 s), but the head never completes."""
    with _connect(served[0]) as sock:
        taken, reply = _trickle_until_cut(sock, b"GET /_health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200)
    assert HEAD_TIMEOUT - 0.5 < taken < HEAD_TIMEOUT + 3
    if reply:  # (a reset racing the reply may swallow it)
        assert reply.startswith(b"HTTP/1.1 408 ")
        assert b"<Code>RequestTimeout</Code>" in reply


def test_keep_alive_heads_each_get_the_deadline_idle_time_does_not_count(served: tuple[str, int, Path]) -> None:
    with _connect(served[0]) as sock:
        # A slow-ish head that completes in time is served.
        for part in (b"GET /_health HTTP/1.1\r\n", b"Host: x\r\n"):
            sock.sendall(part)
            assert select.select([sock], [], [], 0.4)[0] == []  # the head is incomplete: no answer, no cut
        sock.sendall(b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        # Idle longer than the head deadline: keep_alive_timeout (10 s) governs, not the deadline.
        assert select.select([sock], [], [], HEAD_TIMEOUT + 1)[0] == [], "an idle keep-alive connection was cut"
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        # The next head gets its own deadline, from its first byte.
        taken, _ = _trickle_until_cut(sock, b"GET /_health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200)
    assert HEAD_TIMEOUT - 0.5 < taken < HEAD_TIMEOUT + 3


def test_pipelined_head_gets_its_own_deadline(served: tuple[str, int, Path]) -> None:
    """A head that starts arriving behind a slow response is timed from that response's end."""
    url = served[0]
    s3 = _s3(url)
    s3.create_bucket(Bucket="pipelined")
    s3.put_object(Bucket="pipelined", Key="big", Body=b"b" * 8 * MIB)  # more than the socket buffers hold
    get_url = urlsplit(s3.generate_presigned_url("get_object", Params={"Bucket": "pipelined", "Key": "big"}))
    with _connect(url) as sock:
        sock.sendall(
            f"GET {get_url.path}?{get_url.query} HTTP/1.1\r\nHost: {get_url.netloc}\r\n\r\n".encode()
            + b"GET /_health HTTP/1.1\r\n"  # the start of a second, pipelined head
        )
        # The first response stalls on our unread socket for longer than the head deadline.
        assert select.select([], [], [], HEAD_TIMEOUT + 1) == ([], [], [])
        first = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"b" * 1024)
        sock.sendall(b"Host: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")


def test_slow_body_is_not_cut(served: tuple[str, int, Path]) -> None:
    """The deadline covers the head only: a body may take longer than it."""
    url = served[0]
    s3 = _s3(url)
    s3.create_bucket(Bucket="slow-body")
    put_url = urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": "slow-body", "Key": "k"}))
    pieces = [bytes([i]) * 64 * 1024 for i in range(8)]
    with _connect(url) as sock:
        sock.sendall(
            f"PUT {put_url.path}?{put_url.query} HTTP/1.1\r\nHost: {put_url.netloc}\r\n"
            f"Content-Length: {sum(map(len, pieces))}\r\n\r\n".encode()
        )
        started = time.monotonic()
        for piece in pieces:
            assert select.select([sock], [], [], 0.4)[0] == [], "answered (or cut) before the body ended"
            sock.sendall(piece)
        reply = _read_response(sock)
    assert time.monotonic() - started > HEAD_TIMEOUT
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert s3.get_object(Bucket="slow-body", Key="k")["Body"].read() == b"".join(pieces)


# --- aws-chunked: no chunk held whole before its signature is checked --------------------------


def _unread_bytes(client_ports: set[int], server_port: int) -> int:
    """Bytes our sockets sent that the server has not read yet (both ends' queues, /proc/net/tcp)."""
    pending = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(addr.split(":")[1], 16) for addr in fields[1:3])
        tx_queue, rx_queue = (int(n, 16) for n in fields[4].split(":"))
        if local in client_ports and remote == server_port:
            pending += tx_queue
        elif local == server_port and remote in client_ports:
            pending += rx_queue
    return pending


def test_stalled_bad_chunks_hold_little_memory(served: tuple[str, int, Path]) -> None:
    """16 connections each declare a 16 MiB chunk with a bad signature, send half of it and stall."""
    url, pid, data_dir = served
    port = urlsplit(url).port or 0
    s3 = _s3(url)
    s3.create_bucket(Bucket="chunk-mem")
    warm = chunked.build(f"{url}/chunk-mem/warm", b"w" * 300_000, SIGNED)
    assert httpx.put(warm.url, content=warm.body, headers=warm.headers).status_code == 200
    s3.delete_object(Bucket="chunk-mem", Key="warm")

    size, sent, conns = 16 * MIB, 8 * MIB, 16
    data, zeros = bytes(size), bytes(sent)
    held: list[tuple[socket.socket, bytes]] = []
    try:
        with PeakRss(pid) as memory:
            for i in range(conns):
                request = chunked.build(f"{url}/chunk-mem/k{i}", data, SIGNED, chunk_size=size, tamper_chunk=0)
                line_end = request.body.index(b"\r\n") + 2
                assert request.body[:line_end] == f"{size:x};chunk-signature={'f' * 64}\r\n".encode()
                head = (
                    f"PUT /chunk-mem/k{i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    + "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
                    + "\r\n"
                )
                sock = _connect(url)
                held.append((sock, request.body[line_end + size :]))
                sock.sendall(head.encode() + request.body[:line_end])
                sock.sendall(zeros)
                del request
            ports = {sock.getsockname()[1] for sock, _ in held}
            deadline = time.monotonic() + 30
            while _unread_bytes(ports, port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _unread_bytes(ports, port) == 0, "the server stopped reading"
        growth = memory.peak - memory.baseline
        assert growth < 48 * MIB, f"RSS grew by {growth / MIB:.0f} MiB while {conns} connections held 8 MiB each"

        for sock, tail in held:  # each finishes its chunk: refused at the chunk's end
            sock.sendall(zeros[: size - sent] + tail)
            reply = _read_response(sock)
            assert reply.startswith(b"HTTP/1.1 403"), reply[:200]
            assert b"<Code>SignatureDoesNotMatch</Code>" in reply
    finally:
        for sock, _ in held:
            sock.close()
    assert s3.list_objects_v2(Bucket="chunk-mem")["KeyCount"] == 0
    tmp_dir = data_dir / ".smarts3" / "tmp"
    deadline = time.monotonic() + 30
    while any(tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(tmp_dir.iterdir()), "a refused body left its temp file"


def _chunked_delete_objects(url: str, xml: bytes, *, tamper: bool) -> httpx.Response:
    """DeleteObjects with its XML body sent aws-chunked (signed chunks), as the Java and Go SDKs can."""
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(xml)),
        "Content-MD5": base64.b64encode(hashlib.md5(xml).digest()).decode(),
    }
    sig_len = len(";chunk-signature=") + 64
    headers["Content-Length"] = str(len(f"{len(xml):x}") + sig_len + 2 + len(xml) + 2 + 1 + sig_len + 2 + 2)
    request = AWSRequest(method="POST", url=f"{url}?delete", headers=headers, data=b"")
    _FixedPayloadAuth(Credentials(ACCESS_KEY, SECRET_KEY), SIGNED).add_auth(request)
    prepared = dict(request.prepare().headers)
    amz_date = prepared["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = hmac.new(("AWS4" + SECRET_KEY).encode(), amz_date[:8].encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    previous = prepared["Authorization"].rsplit("Signature=", 1)[1]
    body = b""
    for chunk in (xml, b""):
        sts = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()]
        )
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        signature = "0" * 64 if tamper and chunk else previous
        body += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"
    assert len(body) == int(headers["Content-Length"])
    return httpx.post(f"{url}?delete", content=body, headers=prepared)


def test_xml_bodies_are_acted_on_only_once_verified(served: tuple[str, int, Path]) -> None:
    """An XML request reads its whole decoded body before acting: a bad chunk deletes nothing."""
    url = served[0]
    s3 = _s3(url)
    s3.create_bucket(Bucket="chunk-xml")
    s3.put_object(Bucket="chunk-xml", Key="victim", Body=b"v")
    xml = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>victim</Key></Object></Delete>'
    response = _chunked_delete_objects(f"{url}/chunk-xml", xml, tamper=True)
    assert response.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.content
    assert s3.head_object(Bucket="chunk-xml", Key="victim")["ContentLength"] == 1
    response = _chunked_delete_objects(f"{url}/chunk-xml", xml, tamper=False)
    assert response.status_code == 200, response.text
    assert s3.list_objects_v2(Bucket="chunk-xml")["KeyCount"] == 0


def test_http2_is_never_negotiated(served: tuple[str, int, Path]) -> None:
    """S3 speaks HTTP/1.1 only; HTTP/2 would carry many slow streams past the per-connection deadline."""
    url, _, _ = served
    with _connect(url) as sock:  # prior knowledge: the preface is an HTTP/1.1 request S3 refuses
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        reply = _read_response(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    with _connect(url) as sock:  # an upgrade offer is ignored: the answer is S3's, in HTTP/1.1
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                     b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        reply = _read_response(sock)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
