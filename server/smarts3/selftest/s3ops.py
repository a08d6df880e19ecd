"""Signed S3 object requests (SigV4, path style) with a payload: what the self-test does with its key."""

from __future__ import annotations

import hashlib
import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from defusedxml.ElementTree import fromstring

from smarts3.auth import sigv4


@dataclass(frozen=True, slots=True)
class S3Reply:
    status: int
    body: bytes

    @property
    def code(self) -> str:
        """S3's error Code, or "" for a success or a body that is not an error document."""
        if self.status < 300 or not self.body.strip():
            return ""
        try:
            found = fromstring(self.body).find("Code")
        except Exception:  # any unparsable body: no code
            return ""
        return found.text or "" if found is not None else ""


@dataclass(frozen=True, slots=True)
class S3Key:
    access_key: str
    secret_key: str
    region: str


def request(endpoint: str, key: S3Key, method: str, bucket: str, name: str, body: bytes = b"", *,
            verify_tls: bool = True, timeout: float = 15.0) -> S3Reply:
    parts = urlsplit(endpoint)
    path = f"/{bucket}/{quote(name, safe='/')}"
    payload_hash = hashlib.sha256(body).hexdigest()
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{amz_date[:8]}/{key.region}/s3/aws4_request"
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = sorted(headers)
    canonical = sigv4.canonical_request(method, sigv4.canonical_uri(path.encode()), "", headers, signed, payload_hash)
    signature = sigv4.sign(sigv4.signing_key(key.secret_key, amz_date[:8], key.region, "s3"),
                           sigv4.string_to_sign(amz_date, scope, canonical))
    headers["authorization"] = (f"{sigv4.ALGORITHM} Credential={key.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    headers["content-length"] = str(len(body))
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return S3Reply(response.status, response.read())
    finally:
        conn.close()
