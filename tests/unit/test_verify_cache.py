"""The SigV4 Authorization parse cached per header head (verify._v4_fields_cached) decides as the full parse."""

from __future__ import annotations

import hashlib
import time

import pytest

from smarts3.auth import sigv4
from smarts3.auth.credentials import StaticCredentials
from smarts3.auth.types import AuthError, RequestView
from smarts3.auth.verify import authenticate

AKID, SECRET = "CACHEKEY00000000001", "cache-secret-000000000000000000000001"
CREDS = StaticCredentials({AKID: SECRET})
EMPTY = hashlib.sha256(b"").hexdigest()


def _request(path: bytes = b"/b/k", *, signature: str | None = None, head: str | None = None) -> RequestView:
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {"host": "localhost", "x-amz-date": amz_date, "x-amz-content-sha256": EMPTY}
    signed = ["host", "x-amz-content-sha256", "x-amz-date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    creq = sigv4.canonical_request("GET", sigv4.canonical_uri(path), "", headers, signed, EMPTY)
    key = sigv4.signing_key(SECRET, amz_date[:8], "us-east-1", "s3")
    good = sigv4.sign(key, sigv4.string_to_sign(amz_date, scope, creq))
    head = head or f"{sigv4.ALGORITHM} Credential={AKID}/{scope}, SignedHeaders={';'.join(signed)}, "
    headers["authorization"] = head + f"Signature={signature or good}"
    return RequestView("GET", path, b"", headers)


def test_each_request_is_checked_in_full_once_its_head_is_cached() -> None:
    for _ in range(3):
        assert authenticate(_request(), CREDS).access_key == AKID
    other_path = _request(b"/b/other~key_1.txt")  # the same head, another signature
    assert authenticate(other_path, CREDS).access_key == AKID
    for forged in ("0" * 64, "f" * 64):
        with pytest.raises(AuthError) as err:
            authenticate(_request(signature=forged), CREDS)
        assert err.value.code == "SignatureDoesNotMatch"


def test_a_path_that_needs_encoding_still_verifies() -> None:
    assert authenticate(_request(b"/b/a%20b%2Bc%C3%A9"), CREDS).access_key == AKID


def test_malformed_heads_are_refused_every_time() -> None:
    amz_day = time.strftime("%Y%m%d", time.gmtime())
    head = f"{sigv4.ALGORITHM} Credential={AKID}/{amz_day}/us-east-1/s3/aws4_request, "  # no SignedHeaders
    for _ in range(2):
        with pytest.raises(AuthError) as err:
            authenticate(_request(head=head), CREDS)
        assert err.value.code == "AuthorizationHeaderMalformed"
    wrong_service = f"{sigv4.ALGORITHM} Credential={AKID}/{amz_day}/us-east-1/ec2/aws4_request, SignedHeaders=host, "
    for _ in range(2):
        with pytest.raises(AuthError) as err:
            authenticate(_request(head=wrong_service), CREDS)
        assert err.value.code == "AuthorizationHeaderMalformed"
