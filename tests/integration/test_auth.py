"""Authentication over real HTTP: SigV4 header and query, SigV2, aws-chunked bodies, TLS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from awscrt import checksums as crt
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.integration import chunked
from tests.integration.helpers import client_error, error_code, signed


def _crc32(data: bytes) -> str:
    return base64.b64encode(crt.crc32(data).to_bytes(4, "big")).decode()


def test_presigned_v4_get_and_put(server: Server, bucket: str) -> None:
    s3 = server.client(signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="p v4/ü", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p v4/ü"}, ExpiresIn=300)
    assert "X-Amz-Signature" in url
    assert httpx.get(url).content == b"presigned"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300)
    assert httpx.put(put_url, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    tampered = url.replace(bucket, bucket + "x", 1)
    assert error_code(httpx.get(tampered)) == "SignatureDoesNotMatch"


def test_presigned_v2_default_boto3(server: Server, bucket: str) -> None:
    """boto3 signs presigned URLs with SigV2 by default for us-east-1."""
    s3 = server.client()
    s3.put_object(Bucket=bucket, Key="v2 key+plus", Body=b"sigv2")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 key+plus"}, ExpiresIn=60)
    if "AWSAccessKeyId" not in url:
        pytest.skip("this botocore presigns with SigV4 by default")
    assert httpx.get(url).content == b"sigv2"
    assert httpx.get(url.replace("Signature=", "Signature=A")).status_code == 403


def test_presigned_expiry(server: Server, bucket: str) -> None:
    s3 = server.client(signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    time.sleep(2.1)
    response = httpx.get(url)
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                         ExpiresIn=7 * 24 * 3600 + 1)
    assert httpx.get(too_long).status_code in (400, 403)


def test_sigv2_header_auth(server: Server, bucket: str) -> None:
    s3 = server.client(signature_version="s3")
    s3.put_object(Bucket=bucket, Key="v2", Body=b"header v2", Metadata={"m": "1"})
    assert s3.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"header v2"
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == ["v2"]


def test_bad_signature_unknown_key_and_skew(server: Server, bucket: str) -> None:
    wrong = boto3.client("s3", endpoint_url=server.url, aws_access_key_id=ACCESS_KEY,
                         aws_secret_access_key="not-the-secret", region_name="us-east-1")
    with pytest.raises(ClientError) as err:
        wrong.list_objects_v2(Bucket=bucket)
    assert client_error(err.value) == ("SignatureDoesNotMatch", 403)
    unknown = boto3.client("s3", endpoint_url=server.url, aws_access_key_id="AKIDUNKNOWN000000000",
                           aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    with pytest.raises(ClientError) as err:
        unknown.list_objects_v2(Bucket=bucket)
    assert client_error(err.value) == ("InvalidAccessKeyId", 403)
    from unittest import mock

    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=skewed):
        response = signed("GET", f"{server.url}/{bucket}?list-type=2")
    assert response.status_code == 403
    assert error_code(response) == "RequestTimeTooSkewed"


def test_anonymous_is_denied(server: Server, bucket: str) -> None:
    response = httpx.get(f"{server.url}/{bucket}")
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"


def test_payload_hash_checked(server: Server, bucket: str, s3: Any) -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="PUT", url=f"{server.url}/{bucket}/hash", data=b"original")
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    response = httpx.put(request.url, content=b"tampered", headers=dict(request.prepare().headers))
    assert response.status_code == 400
    assert error_code(response) == "XAmzContentSHA256Mismatch"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="hash")


@pytest.mark.parametrize(
    ("mode", "trailer"),
    [
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", False),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", True),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", True),
    ],
)
def test_aws_chunked_forms(server: Server, bucket: str, s3: Any, mode: str, trailer: bool) -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB chunks and a short one
    url = f"{server.url}/{bucket}/chunked"
    request = chunked.build(url, data, mode, trailer=("x-amz-checksum-crc32", _crc32(data)) if trailer else None)
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert "ContentEncoding" not in got
    if trailer:
        assert got["ChecksumCRC32"] == _crc32(data)


def test_aws_chunked_rejects_bad_chunk_signature_and_checksum(server: Server, bucket: str, s3: Any) -> None:
    data = b"z" * 200_000
    url = f"{server.url}/{bucket}/bad-chunk"
    request = chunked.build(url, data, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", tamper_chunk=1)
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"
    request = chunked.build(url, data, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                            trailer=("x-amz-checksum-crc32", _crc32(b"other")))
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 400
    assert error_code(response) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-chunk")


# --- TLS: current boto3 sends aws-chunked bodies with a CRC32 trailer over https ---------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    import asyncio
    import socket
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from smarts3.app import create_app
    from smarts3.config.settings import Settings
    from smarts3.storage.fs import recover

    base = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = base / "cert.pem", base / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    data_dir = base / "data"
    recover(data_dir)
    settings = Settings(data_dir=data_dir, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.certfile, config.keyfile = str(cert_path), str(key_path)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(serve(create_app(settings), config, shutdown_trigger=stop.wait)),
        daemon=True,
    )
    thread.start()
    url = f"https://localhost:{port}"
    deadline = time.monotonic() + 20
    context = ssl.create_default_context(cafile=str(cert_path))
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/_ready", verify=context).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url, cert_path
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=10)


def test_boto3_over_https_sends_chunked_crc32_trailer(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="us-east-1", verify=str(cert), config=BotoConfig(retries={"max_attempts": 1}))
    seen: dict[str, str] = {}
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: seen.update(
        {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}))
    s3.create_bucket(Bucket="tls-bucket")
    body = b"over tls " * 100_000
    import io

    s3.put_object(Bucket="tls-bucket", Key="k", Body=io.BytesIO(body))
    assert seen.get("Content-Encoding") == "aws-chunked"
    assert "x-amz-checksum-crc32" in seen.get("X-Amz-Trailer", "")
    got = s3.get_object(Bucket="tls-bucket", Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ChecksumCRC32"] == _crc32(body)
