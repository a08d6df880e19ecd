"""TLS from the command line: self-signed development certificate, redirect port, certificate reload."""

from __future__ import annotations

import shutil
import signal
import ssl
import time
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import ACCESS_KEY, SECRET_KEY, free_port, start_subprocess_server


def _peer_serial(url: str) -> int:
    """The serial of the certificate the server presents, read without verifying it.

    While a reload is pending the server still presents the old certificate, which does not verify
    against the new file: the probe must read it, not fail on it.
    """
    from cryptography import x509

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host, port = url.removeprefix("https://").split(":")
    import socket

    with socket.create_connection((host, int(port))) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def _file_serial(cert: Path) -> int:
    from cryptography import x509

    return int(x509.load_pem_x509_certificate(cert.read_bytes()).serial_number)


@pytest.mark.slow
def test_self_signed_tls_with_redirect_and_reload(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    redirect = free_port()
    proc, url = start_subprocess_server(data_dir, "--tls-self-signed", "--tls-redirect-port", str(redirect),
                                        scheme="https", env={"SMARTS3_SHUTDOWN_GRACE_PERIOD": "3"})
    try:
        tls_dir = data_dir / ".smarts3" / "tls"
        cert = tls_dir / "selfsigned-cert.pem"
        assert (tls_dir / "selfsigned-key.pem").stat().st_mode & 0o777 == 0o600
        url = url.replace("127.0.0.1", "localhost")
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name="us-east-1", verify=str(cert),
                          config=BotoConfig(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="tls")
        s3.put_object(Bucket="tls", Key="k", Body=b"secure")
        assert s3.get_object(Bucket="tls", Key="k")["Body"].read() == b"secure"
        plain = httpx.get(f"http://localhost:{redirect}/tls/k?x=1", follow_redirects=False)
        assert plain.status_code == 308
        assert plain.headers["location"] == f"{url}/tls/k?x=1"

        # Rotate: a new certificate pair appears in place of the old one; SIGHUP reloads it.
        before = _peer_serial(url)
        assert before == _file_serial(cert)
        backup = tmp_path / "old"
        backup.mkdir()
        shutil.move(str(cert), backup / cert.name)
        shutil.move(str(tls_dir / "selfsigned-key.pem"), backup / "selfsigned-key.pem")
        from smarts3.tls import self_signed

        self_signed(tls_dir)
        after = _file_serial(cert)
        assert after != before
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while (served := _peer_serial(url)) != after:
            assert served == before, f"serving a certificate that is neither the old nor the new one: {served}"
            assert time.monotonic() < deadline, "certificate not reloaded"
            time.sleep(0.1)
        # Reloaded: the new certificate now verifies, on a new connection (a new client: no pooled socket).
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name="us-east-1", verify=str(cert),
                          config=BotoConfig(retries={"total_max_attempts": 1}))
        assert s3.get_object(Bucket="tls", Key="k")["Body"].read() == b"secure"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _raw_get(port: int, host: bytes | None) -> tuple[int, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 request with exactly this Host header (or none), as an attacker sends it."""
    import socket

    head = b"GET /b/k?x=1 HTTP/1.1\r\n" + (b"Host: " + host + b"\r\n" if host is not None else b"")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in header_block.split(b"\r\n") if b": " in line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.slow
def test_redirect_port_sends_clients_only_to_our_hosts(tmp_path: Path) -> None:
    redirect = free_port()
    proc, url = start_subprocess_server(tmp_path / "data", "--tls-self-signed", "--tls-redirect-port", str(redirect),
                                        "--base-domain", "s3.example.test", scheme="https",
                                        env={"SMARTS3_SHUTDOWN_GRACE_PERIOD": "1"})
    https_port = url.rsplit(":", 1)[1]
    try:
        for host in (b"s3.example.test", b"bucket.s3.example.test:80", b"localhost", b"127.0.0.1:8080",
                     b"[::1]", b"BUCKET.S3.Example.Test"):
            status, headers, _ = _raw_get(redirect, host)
            assert status == 308, host
            name = host.decode().lower().rsplit(":", 1)[0] if not host.startswith(b"[") else "[::1]"
            assert headers[b"location"].decode() == f"https://{name}:{https_port}/b/k?x=1"
        for host in (b"evil.test", b"s3.example.test.evil.test", b"evils3.example.test", b"evil.test@s3.example.test",
                     b"s3.example.test@evil.test", b"evil.test/s3.example.test", b"evil.test\\s3.example.test",
                     b"evil.test#s3.example.test", b"evil.test?s3.example.test", b"s3.example.test:80/x",
                     b"s3 .example.test", b"s3.example.test:99999", b"[::1", b"[evil]", b"s3.example.test:x"):
            status, headers, body = _raw_get(redirect, host)
            assert (status, b"location" in headers) == (400, False), host
            assert b"<Code>InvalidArgument</Code>" in body and b"<RequestId>" in body
        status, headers, _ = _raw_get(redirect, None)  # HTTP/1.1 without Host: h11 refuses it
        assert b"location" not in headers
    finally:
        proc.terminate()
        proc.wait(timeout=30)
