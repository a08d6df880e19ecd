"""Malformed requests get S3 XML errors with a request id, never a 500, never a stray object."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from awscrt import checksums as crt
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

UNSIGNED = "UNSIGNED-PAYLOAD"


class _Signer(S3SigV4Auth):
    """SigV4 with a payload hash we choose (UNSIGNED-PAYLOAD for streamed or lying bodies)."""

    def __init__(self, credentials: Credentials, payload_hash: str) -> None:
        super().__init__(credentials, "s3", "us-east-1")
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def sign(server: Any, method: str, target: str, body: bytes = b"",
         headers: dict[str, str] | None = None, payload_hash: str | None = None
         ) -> tuple[str, dict[str, str]]:
    """(url, headers) for a signed request; `target` is the path plus query, already encoded."""
    url = server.url + target
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    digest = payload_hash or hashlib.sha256(body).hexdigest()
    _Signer(Credentials(server.access_key, server.secret_key), digest).add_auth(request)
    return url, dict(request.headers.items())


def send(server: Any, method: str, target: str, body: Any = b"",
         headers: dict[str, str] | None = None, payload_hash: str | None = None) -> httpx.Response:
    signed_body = body if isinstance(body, bytes) else b""
    url, all_headers = sign(server, method, target, signed_body, headers,
                            payload_hash or (None if isinstance(body, bytes) else UNSIGNED))
    return httpx.request(method, url, content=body, headers=all_headers, timeout=60)


def md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def s3_error(response: httpx.Response, status: int, code: str | tuple[str, ...]) -> ET.Element:
    """Assert an S3 error document: Code, Message, RequestId matching x-amz-request-id."""
    codes = (code,) if isinstance(code, str) else code
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("x-amz-request-id")
    root = ET.fromstring(response.content)
    assert root.tag == "Error", response.text[:300]
    assert root.findtext("Code") in codes, response.text[:500]
    assert root.findtext("Message")
    assert root.findtext("RequestId") == response.headers["x-amz-request-id"]
    return root


def client_error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def tmp_dir(server: Any) -> Any:
    from smarts3.storage.fs.layout import Layout, replica_id

    return Layout(server.data_dir, replica_id() if server.metadata else "").tmp_dir  # per replica on PostgreSQL


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# ---------------------------------------------------------------- XML bodies

BAD_XML = [
    b"<Delete><Object><Key>a</Key></Object>",  # unclosed
    b"not xml at all",
    b"<?xml version='1.0'?><a><b></a></b>",
    b"\xff\xfe<\x00",
]
DOCTYPE_XML = [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b"<Delete><Object><Key>&lol4;</Key></Object></Delete>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<Delete><Object><Key>&e;</Key></Object></Delete>",
    b'<?xml version="1.0"?><!DOCTYPE Delete><Delete><Object><Key>a</Key></Object></Delete>',
]


def _xml_targets(s3: Any, bucket: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="up")["UploadId"]
    return {
        "DeleteObjects": ("POST", f"/{bucket}?delete", {}),
        "CompleteMultipartUpload": ("POST", f"/{bucket}/up?uploadId={upload_id}", {}),
        "PutBucketTagging": ("PUT", f"/{bucket}?tagging", {}),
        "PutObjectTagging": ("PUT", f"/{bucket}/victim?tagging", {}),
        "CreateBucket": ("PUT", f"/t-{uuid.uuid4().hex[:16]}", {}),
    }


@pytest.mark.parametrize("body", BAD_XML + DOCTYPE_XML, ids=lambda b: b[:24].decode("latin-1"))
def test_malformed_and_entity_xml_is_malformed_xml(server: Any, s3: Any, bucket: str,
                                                    body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key="victim", Body=b"v")
    for name, (method, target, _) in _xml_targets(s3, bucket).items():
        response = send(server, method, target, body, md5_header(body))
        s3_error(response, 400, "MalformedXML")
        if name == "CreateBucket":
            assert send(server, "HEAD", target).status_code == 404
    assert s3.get_object(Bucket=bucket, Key="victim")["Body"].read() == b"v"
    assert s3.get_object_tagging(Bucket=bucket, Key="victim")["TagSet"] == []
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["victim"]
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert client_error(exc) == (404, "NoSuchTagSet")


@pytest.mark.parametrize("body", [b"<Wrong/>", b"<Delete/>", b"<Tagging><Nope/></Tagging>"])
def test_wrong_shape_xml(server: Any, bucket: str, body: bytes) -> None:
    for method, target in (("POST", f"/{bucket}?delete"), ("PUT", f"/{bucket}?tagging")):
        s3_error(send(server, method, target, body, md5_header(body)), 400, "MalformedXML")


def test_empty_xml_body(server: Any, bucket: str) -> None:
    response = send(server, "POST", f"/{bucket}?delete", b"", md5_header(b""))
    s3_error(response, 400, ("MalformedXML", "MissingRequestBodyError"))


def test_oversized_xml_is_refused(server: Any, bucket: str) -> None:
    padding = b" " * (3 * 1024 * 1024)
    body = b"<Delete>" + padding + b"<Object><Key>a</Key></Object></Delete>"
    response = send(server, "POST", f"/{bucket}?delete", body, md5_header(body))
    s3_error(response, 400, ("MalformedXML", "MaxMessageLengthExceeded", "EntityTooLarge"))


def test_huge_streamed_xml_does_not_blow_up_memory(server: Any, bucket: str) -> None:
    """64 MiB of XML streamed in: refused after the cap, without buffering it (in-process server)."""
    process = psutil.Process()
    before = process.memory_info().rss
    chunk = b" " * (1024 * 1024)

    def stream() -> Any:
        yield b"<Delete>"
        for _ in range(64):
            yield chunk

    try:
        response = send(server, "POST", f"/{bucket}?delete", stream(),
                        {"Content-Length": str(8 + 64 * len(chunk)), **md5_header(b"")})
    except httpx.TransportError:
        response = None  # the server may close the connection before reading it all
    if response is not None:
        s3_error(response, 400, ("MalformedXML", "MaxMessageLengthExceeded", "EntityTooLarge"))
    assert process.memory_info().rss - before < 48 * 1024 * 1024
    assert httpx.get(server.url + "/_ready").status_code == 200


# ---------------------------------------------------------------- numbers and ranges


@pytest.mark.parametrize("number", ["0", "10001", "abc", "-1", "", "1.5", "99999999999999999999"])
def test_bad_part_numbers(server: Any, s3: Any, bucket: str, number: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    response = send(server, "PUT", f"/{bucket}/k?partNumber={number}&uploadId={upload_id}", b"x")
    s3_error(response, 400, "InvalidArgument")
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id).get("Parts", []) == []
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    s3_error(send(server, "GET", f"/{bucket}/obj?partNumber={number}"), 400, "InvalidArgument")


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "0x10"])
def test_bad_max_keys(server: Any, s3: Any, bucket: str, value: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for target in (f"/{bucket}?max-keys={value}", f"/{bucket}?list-type=2&max-keys={value}",
                   f"/{bucket}?versions&max-keys={value}", f"/{bucket}?uploads&max-uploads={value}",
                   f"/{bucket}/k?uploadId={upload_id}&max-parts={value}"):
        s3_error(send(server, "GET", target), 400, "InvalidArgument")


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [
        ("bytes=abc", 200, b"0123456789"),
        ("bytes=5-2", 200, b"0123456789"),
        ("items=0-1", 200, b"0123456789"),
        ("bytes=0-1,3-4", 200, b"0123456789"),
        ("bytes=", 200, b"0123456789"),
        ("bytes=2-4", 206, b"234"),
        ("bytes=-3", 206, b"789"),
        ("bytes=7-", 206, b"789"),
        ("bytes=8-100", 206, b"89"),
        ("bytes=-100", 206, b"0123456789"),
        ("bytes=10-20", 416, None),
        ("bytes=100-", 416, None),
    ],
)
def test_ranges(server: Any, s3: Any, bucket: str, header: str, status: int,
                expected: bytes | None) -> None:
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    response = send(server, "GET", f"/{bucket}/digits", headers={"Range": header})
    if expected is None:
        s3_error(response, status, "InvalidRange")
        assert response.headers.get("content-range") == "bytes */10"
    else:
        assert response.status_code == status
        assert response.content == expected


# ---------------------------------------------------------------- digests and bodies


@pytest.mark.parametrize("value", ["not base64!", "AAAA", base64.b64encode(b"x" * 17).decode(), ""])
def test_invalid_content_md5(server: Any, s3: Any, bucket: str, value: str) -> None:
    response = send(server, "PUT", f"/{bucket}/k", b"hello", {"Content-MD5": value})
    s3_error(response, 400, "InvalidDigest")
    assert_absent(s3, bucket, "k")


def test_wrong_content_md5(server: Any, s3: Any, bucket: str) -> None:
    response = send(server, "PUT", f"/{bucket}/k", b"hello", md5_header(b"other"))
    s3_error(response, 400, "BadDigest")
    assert_absent(s3, bucket, "k")
    # The same through boto3, and an existing object is not replaced by a bad upload.
    s3.put_object(Bucket=bucket, Key="keep", Body=b"original")
    response = send(server, "PUT", f"/{bucket}/keep", b"replacement", md5_header(b"other"))
    s3_error(response, 400, "BadDigest")
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"original"
    assert os.listdir(tmp_dir(server)) == []


def test_lying_checksum_header(server: Any, s3: Any, bucket: str) -> None:
    lie = base64.b64encode(crt.crc32(b"something else").to_bytes(4, "big")).decode()
    response = send(server, "PUT", f"/{bucket}/k", b"hello", {"x-amz-checksum-crc32": lie})
    s3_error(response, 400, "BadDigest")
    assert_absent(s3, bucket, "k")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"hello", ChecksumCRC32=lie)
    assert client_error(exc) == (400, "BadDigest")
    assert_absent(s3, bucket, "k2")
    truth = base64.b64encode(crt.crc32(b"hello").to_bytes(4, "big")).decode()
    ok = send(server, "PUT", f"/{bucket}/k", b"hello", {"x-amz-checksum-crc32": truth})
    assert ok.status_code == 200
    assert ok.headers["x-amz-checksum-crc32"] == truth


def test_lying_payload_hash(server: Any, s3: Any, bucket: str) -> None:
    response = send(server, "PUT", f"/{bucket}/k", b"hello",
                    payload_hash=hashlib.sha256(b"other").hexdigest())
    s3_error(response, 400, ("XAmzContentSHA256Mismatch", "BadDigest"))
    assert_absent(s3, bucket, "k")


def test_truncated_body_leaves_nothing(server: Any, s3: Any, bucket: str) -> None:
    target = f"/{bucket}/truncated"
    url, headers = sign(server, "PUT", target, payload_hash=UNSIGNED,
                        headers={"Content-Length": "1000000"})
    host = urlsplit(url)
    head = [f"PUT {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    if not any(k.lower() == "host" for k in headers):
        head.append(f"Host: {host.netloc}")
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + b"0123456789")
        time.sleep(0.2)  # let the server start streaming into a temp file
    assert wait_until(lambda: os.listdir(tmp_dir(server)) == []), os.listdir(tmp_dir(server))
    assert_absent(s3, bucket, "truncated")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_short_body_with_content_length(server: Any, s3: Any, bucket: str) -> None:
    """A client that declares more than it sends and then waits gets an error, not a hang."""
    target = f"/{bucket}/short"
    url, headers = sign(server, "PUT", target, payload_hash=UNSIGNED,
                        headers={"Content-Length": "20"})
    host = urlsplit(url)
    head = [f"PUT {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + b"0123456789")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if answer:  # an answer, if any, is an S3 error, not a success
        assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]
        assert not answer.startswith(b"HTTP/1.1 5"), answer[:200]
    assert_absent(s3, bucket, "short")
    assert wait_until(lambda: os.listdir(tmp_dir(server)) == [])


def test_metadata_too_large(server: Any, s3: Any, bucket: str) -> None:
    response = send(server, "PUT", f"/{bucket}/k", b"x", {"x-amz-meta-big": "v" * 3000})
    s3_error(response, 400, "MetadataTooLarge")
    assert_absent(s3, bucket, "k")


# ---------------------------------------------------------------- operations we do not serve

UNSERVED = [
    ("GET", "", "website", "GetBucketWebsite"),
    ("PUT", "", "website", "PutBucketWebsite"),
    ("DELETE", "", "website", "DeleteBucketWebsite"),
    ("GET", "", "replication", "GetBucketReplication"),
    ("GET", "", "notification", "GetBucketNotificationConfiguration"),
    ("POST", "/k", "restore", "RestoreObject"),
    ("POST", "/k", "select&select-type=2", "SelectObjectContent"),
]


@pytest.mark.parametrize(("method", "key", "query", "operation"), UNSERVED,
                         ids=[f"{m}{k}?{q}" for m, k, q, _ in UNSERVED])
def test_unserved_sub_resources_are_not_implemented(server: Any, s3: Any, bucket: str,
                                                    method: str, key: str, query: str,
                                                    operation: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    body = b"<Payload>would-be-object</Payload>" if method in ("PUT", "POST") else b""
    target = f"/{bucket}{key}" + (f"?{query}" if query else "")
    response = send(server, method, target, body, md5_header(body) if body else None)
    root = s3_error(response, 501, "NotImplemented")
    assert operation in (root.findtext("Message") or "")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(c["Key"], c["Size"]) for c in listed] == [("k", 8)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


def test_boto3_sees_not_implemented(s3: Any, bucket: str) -> None:
    for call in (lambda: s3.get_bucket_website(Bucket=bucket),):
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc) == (501, "NotImplemented")


def test_acl_is_never_a_listing_or_an_upload(server: Any, s3: Any, bucket: str) -> None:
    """?acl is served (canned ACLs); it must still never fall through to ListObjects or PutObject."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    for target in (f"/{bucket}?acl", f"/{bucket}/k?acl"):
        response = send(server, "GET", target)
        assert response.status_code == 200, response.text
        assert ET.fromstring(response.content).tag.endswith("AccessControlPolicy")
    body = b"<AccessControlPolicy><Owner><ID>x</ID></Owner></AccessControlPolicy>"
    for target in (f"/{bucket}?acl", f"/{bucket}/k?acl"):
        response = send(server, "PUT", target, body, md5_header(body))
        if response.status_code != 200:
            s3_error(response, response.status_code, ("NotImplemented", "MissingSecurityHeader",
                                                      "MalformedACLError", "InvalidRequest"))
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(c["Key"], c["Size"]) for c in listed] == [("k", 8)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


@pytest.mark.parametrize(("method", "key"), [("PATCH", "/k"), ("PATCH", ""), ("POST", "/k"),
                                             ("TRACE", "/k"), ("PATCH", "-root")])
def test_method_not_allowed(server: Any, s3: Any, bucket: str, method: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    target = "/" if key == "-root" else f"/{bucket}{key}"
    response = send(server, method, target, b"patch", md5_header(b"patch"))
    s3_error(response, 405, "MethodNotAllowed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


# ---------------------------------------------------------------- DeleteObjects limits


def _delete_xml(keys: list[str]) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()


def test_delete_objects_over_1000_keys(server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k0", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert client_error(exc) == (400, "MalformedXML")
    body = _delete_xml([f"k{i}" for i in range(1001)])
    s3_error(send(server, "POST", f"/{bucket}?delete", body, md5_header(body)), 400, "MalformedXML")
    assert s3.head_object(Bucket=bucket, Key="k0")["ContentLength"] == 1
    answer = s3.delete_objects(Bucket=bucket,
                               Delete={"Objects": [{"Key": f"k{i}"} for i in range(1000)]})
    assert answer.get("Errors", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_objects_needs_a_digest(server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    body = _delete_xml(["a"])
    s3_error(send(server, "POST", f"/{bucket}?delete", body), 400, "InvalidRequest")
    assert s3.head_object(Bucket=bucket, Key="a")["ContentLength"] == 1
    crc = base64.b64encode(crt.crc32(body).to_bytes(4, "big")).decode()
    wrong = base64.b64encode(crt.crc32(b"x").to_bytes(4, "big")).decode()
    s3_error(send(server, "POST", f"/{bucket}?delete", body, {"x-amz-checksum-crc32": wrong}),
             400, "BadDigest")
    s3_error(send(server, "POST", f"/{bucket}?delete", body, md5_header(b"other")),
             400, "BadDigest")
    assert s3.head_object(Bucket=bucket, Key="a")["ContentLength"] == 1
    ok = send(server, "POST", f"/{bucket}?delete", body, {"x-amz-checksum-crc32": crc})
    assert ok.status_code == 200, ok.text
    assert ET.fromstring(ok.content).tag.endswith("DeleteResult")
    assert_absent(s3, bucket, "a")
