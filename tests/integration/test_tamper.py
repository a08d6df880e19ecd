"""The tamper matrix: alter one part of a valid signed request and it is refused, with nothing written."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.integration import chunked
from tests.integration.helpers import error_code

BODY = b"the signed body"


def _signed_put(url: str) -> tuple[dict[str, str], bytes]:
    request = AWSRequest(method="PUT", url=url, data=BODY, headers={"x-amz-meta-owner": "alice"})
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    return dict(request.prepare().headers), BODY


def _with_query(url: str, extra: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=(parts.query + "&" if parts.query else "") + extra))


def _shift_date(value: str) -> str:
    return value[:-3] + f"{(int(value[-3:-1]) + 1) % 60:02d}Z"


Tamper = Callable[[str, dict[str, str], bytes], tuple[str, str, dict[str, str], bytes]]

HEADER_CASES: dict[str, tuple[Tamper, str]] = {
    "method": (lambda u, h, b: ("DELETE", u, h, b), "SignatureDoesNotMatch"),
    "path": (lambda u, h, b: ("PUT", u + "-other", h, b), "SignatureDoesNotMatch"),
    "query": (lambda u, h, b: ("PUT", _with_query(u, "x-id=PutObject"), h, b), "SignatureDoesNotMatch"),
    "signed header": (lambda u, h, b: ("PUT", u, {**h, "x-amz-meta-owner": "mallory"}, b), "SignatureDoesNotMatch"),
    "body": (lambda u, h, b: ("PUT", u, h, b.replace(b"signed", b"forged")), "XAmzContentSHA256Mismatch"),
    "date": (lambda u, h, b: ("PUT", u, {**h, "X-Amz-Date": _shift_date(h["X-Amz-Date"])}, b),
             "SignatureDoesNotMatch"),
    "key": (lambda u, h, b: ("PUT", u, {**h, "Authorization": h["Authorization"].replace(
        ACCESS_KEY, "AKIDTAMPERED00000000")}, b), "InvalidAccessKeyId"),
}


def _gone(s3: Any, bucket: str) -> None:
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_header_auth_tampering(server: Server, s3: Any, bucket: str, case: str) -> None:
    url = f"{server.url}/{bucket}/target"
    headers, body = _signed_put(url)
    assert httpx.put(url + "-control", content=body, headers=headers).status_code == 403  # the path is signed
    tamper, code = HEADER_CASES[case]
    method, url2, headers2, body2 = tamper(url, headers, body)
    response = httpx.request(method, url2, content=body2, headers=headers2)
    assert response.status_code in (400, 403), response.text
    assert error_code(response) == code
    _gone(s3, bucket)
    assert httpx.put(url, content=body, headers=headers).status_code == 200  # the untouched request works


PRESIGN_CASES: dict[str, tuple[Callable[[str], tuple[str, str, dict[str, str]]], str]] = {
    "method": (lambda u: ("DELETE", u, {}), "SignatureDoesNotMatch"),
    "path": (lambda u: ("PUT", u.replace("/target?", "/other?"), {}), "SignatureDoesNotMatch"),
    "query": (lambda u: ("PUT", _with_query(u, "extra=1"), {}), "SignatureDoesNotMatch"),
    "signed header": (lambda u: ("PUT", u, {"Host": "evil.example:1"}), "SignatureDoesNotMatch"),
    "date": (lambda u: ("PUT", re.sub(r"X-Amz-Date=(\d{8}T\d{6}Z)",
                                       lambda m: "X-Amz-Date=" + _shift_date(m.group(1)), u), {}),
             "SignatureDoesNotMatch"),
    "key": (lambda u: ("PUT", u.replace(ACCESS_KEY, "AKIDTAMPERED00000000"), {}), "InvalidAccessKeyId"),
    "expiry": (lambda u: ("PUT", re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=999", u), {}),
               "SignatureDoesNotMatch"),
}


@pytest.mark.parametrize("case", sorted(PRESIGN_CASES))
def test_presigned_url_tampering(server: Server, s3: Any, bucket: str, case: str) -> None:
    signer = server.client(signature_version="s3v4")
    url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "target"}, ExpiresIn=300)
    tamper, code = PRESIGN_CASES[case]
    method, url2, headers = tamper(url)
    assert (method, url2, headers) != ("PUT", url, {})
    response = httpx.request(method, url2, content=BODY, headers=headers)
    assert response.status_code in (400, 403), response.text
    assert error_code(response) == code
    _gone(s3, bucket)
    assert httpx.put(url, content=BODY).status_code == 200


def test_presigned_v2_tampering(server: Server, s3: Any, bucket: str) -> None:
    url = server.client(signature_version="s3").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "target"}, ExpiresIn=300)
    query = dict(parse_qsl(urlsplit(url).query))
    forged = {**query, "Expires": str(int(query["Expires"]) + 1)}
    response = httpx.put(urlunsplit(urlsplit(url)._replace(query=urlencode(forged))), content=BODY)
    assert error_code(response) == "SignatureDoesNotMatch"
    _gone(s3, bucket)
    assert httpx.put(url, content=BODY).status_code == 200


STREAM_MODE = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _stream_cases() -> dict[str, tuple[Callable[[chunked.ChunkedRequest], tuple[str, dict[str, str], bytes]], str]]:
    def flip_chunk_data(r: chunked.ChunkedRequest) -> tuple[str, dict[str, str], bytes]:
        body = bytearray(r.body)
        first_data = body.index(b"\r\n") + 2
        body[first_data + 10] ^= 0x01
        return r.url, r.headers, bytes(body)

    def flip_chunk_signature(r: chunked.ChunkedRequest) -> tuple[str, dict[str, str], bytes]:
        body = r.body
        marker = body.index(b"chunk-signature=") + len(b"chunk-signature=")
        swapped = b"0" if body[marker : marker + 1] != b"0" else b"1"
        return r.url, r.headers, body[:marker] + swapped + body[marker + 1 :]

    def drop_chunk(r: chunked.ChunkedRequest) -> tuple[str, dict[str, str], bytes]:
        body = r.body
        second = body.index(b"\r\n", body.index(b"\r\n") + 2 + 64 * 1024) + 2
        third = body.index(b"\r\n", body.index(b"\r\n", second) + 2 + 64 * 1024) + 2
        shorter = body[:second] + body[third:]
        return r.url, {**r.headers, "Content-Length": str(len(shorter))}, shorter

    return {
        "chunk data": (flip_chunk_data, "SignatureDoesNotMatch"),
        "chunk signature": (flip_chunk_signature, "SignatureDoesNotMatch"),
        "dropped chunk": (drop_chunk, "SignatureDoesNotMatch"),
        "path": (lambda r: (r.url + "-other", r.headers, r.body), "SignatureDoesNotMatch"),
        "decoded length": (lambda r: (r.url, {**r.headers, "x-amz-decoded-content-length": "1"}, r.body),
                           "SignatureDoesNotMatch"),
        "date": (lambda r: (r.url, {**r.headers, "X-Amz-Date": _shift_date(r.headers["X-Amz-Date"])}, r.body),
                 "SignatureDoesNotMatch"),
        "key": (lambda r: (r.url, {**r.headers, "Authorization": r.headers["Authorization"].replace(
            ACCESS_KEY, "AKIDTAMPERED00000000")}, r.body), "InvalidAccessKeyId"),
    }


@pytest.mark.parametrize("case", sorted(_stream_cases()))
def test_streaming_signed_upload_tampering(server: Server, s3: Any, bucket: str, case: str) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: four 64 KiB chunks
    request = chunked.build(f"{server.url}/{bucket}/target", data, STREAM_MODE)
    tamper, code = _stream_cases()[case]
    url, headers, body = tamper(request)
    response = httpx.put(url, content=body, headers=headers)
    assert response.status_code in (400, 403), response.text
    assert error_code(response) == code
    _gone(s3, bucket)
    assert httpx.put(request.url, content=request.body, headers=request.headers).status_code == 200
