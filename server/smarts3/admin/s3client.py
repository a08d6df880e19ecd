"""A minimal S3 client for the admin commands: SigV4 from smarts3.auth.sigv4, http.client.

Not boto3: that is a test dependency, and the few calls admin makes do not need it.
"""

from __future__ import annotations

import http.client
import ssl
import time
from urllib.parse import quote, urlencode, urlsplit
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

from smarts3.admin.errors import AdminError
from smarts3.admin.target import RootKey
from smarts3.auth import sigv4
from smarts3.auth.query import parse_query

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3Client:
    def __init__(
        self, endpoint: str, key: RootKey, region: str, *, ca_file: str | None = None, timeout: float = 30
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AdminError(f"not an http(s) endpoint: {endpoint}")
        self.endpoint = endpoint
        self._parts = parts
        self._key = key
        self._region = region
        self._timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None

    def call(self, method: str, path: str = "/", query: dict[str, str] | None = None) -> Element | None:
        """One signed request; the parsed XML body (None if empty), or AdminError with S3's code."""
        raw_query = urlencode(query or {}, quote_via=quote)
        headers = self._sign(method, path, raw_query)
        target = quote(path) + (f"?{raw_query}" if raw_query else "")
        conn: http.client.HTTPConnection
        if self._context is not None:
            conn = http.client.HTTPSConnection(self._parts.netloc, timeout=self._timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self._parts.netloc, timeout=self._timeout)
        try:
            conn.request(method, target, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise AdminError(f"cannot reach {self.endpoint}: {exc} (is the server running? --endpoint)") from None
        finally:
            conn.close()
        document = fromstring(body) if body.strip() else None
        if response.status >= 300:
            code = _text(document, "Code") or str(response.status)
            message = _text(document, "Message") or response.reason
            raise AdminError(f"{method} {path}: {code}: {message}")
        return document

    def _sign(self, method: str, path: str, raw_query: str) -> dict[str, str]:
        now = time.gmtime()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
        scope = f"{amz_date[:8]}/{self._region}/s3/aws4_request"
        headers = {"host": self._parts.netloc, "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": amz_date}
        signed = sorted(headers)
        request = sigv4.canonical_request(
            method,
            sigv4.canonical_uri(quote(path).encode()),
            sigv4.canonical_query(parse_query(raw_query.encode())),
            headers,
            signed,
            sigv4.EMPTY_SHA256,
        )
        signature = sigv4.sign(
            sigv4.signing_key(self._key.secret_key, amz_date[:8], self._region, "s3"),
            sigv4.string_to_sign(amz_date, scope, request),
        )
        headers["authorization"] = (
            f"{sigv4.ALGORITHM} Credential={self._key.access_key}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        return headers


def _text(document: Element | None, tag: str) -> str | None:
    if document is None:
        return None
    found = document.find(tag)
    if found is None:
        found = document.find(S3_NS + tag)
    return found.text if found is not None else None
