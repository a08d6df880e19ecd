"""Helpers for tests that need to see raw HTTP: sign with botocore, send with httpx."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import psutil
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


def rss(pid: int) -> int:
    """Resident memory of a server process and its workers."""
    proc = psutil.Process(pid)
    return int(sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))


class PeakRss:
    """The highest RSS of a server (and its workers) while the block runs; `baseline` is at entry."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = rss(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.pid))
