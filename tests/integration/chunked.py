"""An aws-chunked request builder for tests, in the three streaming forms.

botocore only produces the unsigned-trailer form (over https); the signed
forms are what the Java, Go and .NET SDKs and many tools send, so tests build
them here from the AWS specification.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY, SECRET_KEY

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class _FixedPayloadAuth(S3SigV4Auth):
    def __init__(self, credentials: Credentials, payload: str) -> None:
        super().__init__(credentials, "s3", "us-east-1")
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


@dataclass
class ChunkedRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def build(
    url: str,
    data: bytes,
    mode: str,
    *,
    chunk_size: int = 64 * 1024,
    trailer: tuple[str, str] | None = None,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    tamper_chunk: int | None = None,
) -> ChunkedRequest:
    """A PUT of `data` with x-amz-content-sha256 = `mode`, body aws-chunked encoded."""
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    signed = mode.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")

    # Content-Length must be signed, so compute the encoded length first.
    sig_len = len(";chunk-signature=") + 64 if signed else 0
    length = sum(len(f"{len(c):x}") + sig_len + 2 + len(c) + 2 for c in chunks)
    length += 1 + sig_len + 2
    trailer_block = b""
    if trailer:
        trailer_block = f"{trailer[0]}:{trailer[1]}\r\n".encode()
        if signed:
            trailer_block += f"x-amz-trailer-signature:{'0' * 64}\r\n".encode()
    length += len(trailer_block) + 2
    headers["Content-Length"] = str(length)

    request = AWSRequest(method="PUT", url=url, headers=headers, data=b"")
    _FixedPayloadAuth(Credentials(access_key, secret_key), mode).add_auth(request)
    prepared = dict(request.prepare().headers)
    prepared["Content-Length"] = str(length)
    if not signed:
        body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n"
        body += trailer_block + b"\r\n"
        return ChunkedRequest(url, prepared, body)

    amz_date = prepared["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = _hmac(("AWS4" + secret_key).encode(), amz_date[:8])
    for part in ("us-east-1", "s3", "aws4_request"):
        key = _hmac(key, part)
    previous = prepared["Authorization"].rsplit("Signature=", 1)[1]
    out = bytearray()
    for index, chunk in enumerate([*chunks, b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                         hashlib.sha256(chunk).hexdigest()])
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        signature = previous if index != tamper_chunk else "f" * 64
        out += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk
        if chunk:
            out += b"\r\n"
    if trailer:
        trailer_text = f"{trailer[0]}:{trailer[1]}\n"
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                         hashlib.sha256(trailer_text.encode()).hexdigest()])
        trailer_sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{trailer[0]}:{trailer[1]}\r\nx-amz-trailer-signature:{trailer_sig}\r\n".encode()
    out += b"\r\n"
    assert len(out) == length, (len(out), length)
    return ChunkedRequest(url, prepared, bytes(out))
