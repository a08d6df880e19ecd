"""Helpers for tests that need to see raw HTTP: sign with botocore, send with httpx."""

from __future__ import annotations

from typing import Any

import httpx
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY, SECRET_KEY


def signed(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    host: str | None = None,
) -> httpx.Response:
    """Send a SigV4-signed request exactly as given (url already percent-encoded)."""
    all_headers = dict(headers or {})
    if host:
        all_headers["Host"] = host
    request = AWSRequest(method=method, url=url, data=body, headers=all_headers)
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, content=body, headers=dict(prepared.headers), timeout=30)


def error_code(response: httpx.Response) -> str:
    import defusedxml.ElementTree as ET

    root = ET.fromstring(response.content)
    code = root.find("Code")
    assert code is not None and code.text, response.text
    assert root.find("RequestId") is not None
    assert response.headers.get("x-amz-request-id")
    return code.text


def client_error(exc: Any) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
