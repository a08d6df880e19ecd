"""The plain GET/HEAD fast path (s3/fast_read.py) answers exactly what the generic path answers.

Every plain read is sent twice: as is (the fast path serves it: its counter moves) and with one
extra header the fast path does not know (the generic path serves it), and the two answers must
have the same status, the same header names in the same order with the same values (but the
request id and date) and the same body. Requests that are not plain (ranges, conditionals,
versionId, response overrides, encrypted objects, refusals, missing keys) must not be served by
the fast path and must still get their usual answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from botocore.config import Config as BotoConfig

from smarts3.s3 import fast_read
from tests.conftest import ACCESS_KEY, SECRET_KEY
from tests.integration.helpers import error_code, signed

pytestmark = pytest.mark.both_metadata

READER = ("FASTREADERKEY000001", "fast-reader-secret-00000000000000000001")
BUCKET = "fast-a"
DIFFERENT = {"date", "x-amz-request-id", "x-amz-id-2"}  # per response, not per path
GENERIC = {"x-not-plain": "1"}  # unknown to PLAIN_HEADERS: the generic path answers


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """In this process, so the fast path's counter is visible; with a declared read-only credential."""
    from smarts3.config.settings import Settings
    from smarts3.pytest_plugin import serving

    base: Path = tmp_path_factory.mktemp("fastread")
    declared = base / "declared.yaml"
    declared.write_text(
        yaml.safe_dump(
            {
                "buckets": [{"name": BUCKET}],
                "credentials": [
                    {
                        "name": "reader",
                        "accessKeyId": READER[0],
                        "secretAccessKey": READER[1],
                        "grants": [{"bucket": BUCKET, "access": "read"}],
                    }
                ],
            }
        )
    )
    settings = Settings(data_dir=base / "data", access_key=ACCESS_KEY, secret_key=SECRET_KEY, declared=declared)
    with serving(settings) as served_url:
        yield served_url


def client(url: str, key: tuple[str, str] = (ACCESS_KEY, SECRET_KEY)) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
        config=BotoConfig(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def objects(url: str) -> dict[str, str]:
    """Keys in BUCKET (plain, metadata and tags, empty, large, odd names) and in a versioned bucket
    with an expiration rule, by what they show."""
    s3 = client(url)
    s3.put_object(Bucket=BUCKET, Key="plain", Body=b"x" * 4096)
    s3.put_object(
        Bucket=BUCKET,
        Key="described",
        Body=b"<p>hi</p>",
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.html"',
        ContentEncoding="identity",
        ContentLanguage="en",
        Expires="Wed, 21 Oct 2026 07:28:00 GMT",
        Metadata={"colour": "blue", "b-second": "2"},
        Tagging="a=1&b=2",
        ChecksumAlgorithm="SHA256",
    )
    s3.put_object(Bucket=BUCKET, Key="empty", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="large", Body=bytes(range(256)) * 6000)  # 1.5 MiB: the streamed path
    s3.put_object(Bucket=BUCKET, Key="dir/a b+c%d~é", Body=b"odd name")
    s3.put_object(Bucket=BUCKET, Key="sealed", Body=b"secret", ServerSideEncryption="AES256")
    s3.create_bucket(Bucket="fast-versioned")
    s3.put_bucket_versioning(Bucket="fast-versioned", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket="fast-versioned",
        LifecycleConfiguration={
            "Rules": [{"ID": "three days", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 3}}]
        },
    )
    s3.put_object(Bucket="fast-versioned", Key="v", Body=b"one")
    s3.put_object(Bucket="fast-versioned", Key="v", Body=b"two")
    return {
        "plain": f"{BUCKET}/plain",
        "described": f"{BUCKET}/described",
        "empty": f"{BUCKET}/empty",
        "large": f"{BUCKET}/large",
        "odd": f"{BUCKET}/dir/a%20b%2Bc%25d~%C3%A9",
        "versioned": "fast-versioned/v",
    }


def both(
    url: str,
    method: str,
    path: str,
    key: tuple[str, str] = (ACCESS_KEY, SECRET_KEY),
    headers: dict[str, str] | None = None,
) -> tuple[Any, Any]:
    """(fast answer, generic answer), checking that each went the way it should."""
    before = fast_read.served
    headers = headers or {}
    fast = signed(method, f"{url}/{path}", headers=headers, access_key=key[0], secret_key=key[1])
    assert fast_read.served == before + 1, "the plain request was not served by the fast path"
    generic = signed(
        method, f"{url}/{path}", headers={**headers, **GENERIC}, access_key=key[0], secret_key=key[1]
    )
    assert fast_read.served == before + 1, "the request with an unknown header took the fast path"
    return fast, generic


def comparable(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [(k, b"-" if k.decode() in DIFFERENT else v) for k, v in response.headers.raw]


@pytest.mark.parametrize("checksum_mode", [False, True])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", ["plain", "described", "empty", "large", "odd", "versioned"])
def test_fast_and_generic_answers_are_identical(
    url: str, objects: dict[str, str], method: str, name: str, checksum_mode: bool
) -> None:
    # boto3 asks for checksums (x-amz-checksum-mode: ENABLED) on every GetObject.
    asked = {"x-amz-checksum-mode": "ENABLED"} if checksum_mode else {}
    fast, generic = both(url, method, objects[name], headers=asked)
    assert fast.status_code == generic.status_code == 200
    assert comparable(fast) == comparable(generic)
    assert fast.content == generic.content
    if method == "GET" and name == "large":
        assert fast.content == bytes(range(256)) * 6000
    names = {k.decode() for k, _ in fast.headers.raw}
    assert {"x-amz-request-id", "x-amz-id-2", "etag", "content-length"} <= names
    if name == "described":
        assert fast.headers["x-amz-meta-colour"] == "blue"
        assert fast.headers["x-amz-tagging-count"] == "2"
        assert ("x-amz-checksum-sha256" in fast.headers) is checksum_mode  # only when asked for
    if name == "versioned":
        assert "x-amz-version-id" in fast.headers
        assert 'rule-id="three days"' in fast.headers["x-amz-expiration"]


def test_boto3_get_object_takes_the_fast_path(url: str, objects: dict[str, str]) -> None:
    before = fast_read.served
    got = client(url).get_object(Bucket=BUCKET, Key="described", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"<p>hi</p>"
    assert got["ChecksumSHA256"]
    assert fast_read.served == before + 1


def test_a_granted_credential_takes_the_fast_path(url: str, objects: dict[str, str]) -> None:
    fast, generic = both(url, "GET", objects["plain"], key=READER)
    assert fast.status_code == generic.status_code == 200
    assert comparable(fast) == comparable(generic)


def test_a_policy_deny_is_obeyed_and_seen_at_once_in_this_worker(url: str, objects: dict[str, str]) -> None:
    s3 = client(url)
    reader = client(url, READER)
    assert reader.get_object(Bucket=BUCKET, Key="plain")["Body"].read() == b"x" * 4096  # cached as allowed
    statement = {
        "Effect": "Deny",
        "Principal": {"AWS": [READER[0]]},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/plain",
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    try:
        before = fast_read.served
        response = signed("GET", f"{url}/{objects['plain']}", access_key=READER[0], secret_key=READER[1])
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")
        assert fast_read.served == before  # refusals are the generic path's
    finally:
        s3.delete_bucket_policy(Bucket=BUCKET)
    assert reader.get_object(Bucket=BUCKET, Key="plain")["Body"].read() == b"x" * 4096


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("", {"Range": "bytes=0-9"}, 206),
        ("", {"If-None-Match": "*"}, 304),
        ("", {"If-Match": '"nope"'}, 412),
        ("", {"Origin": "https://example.com"}, 200),
        ("?response-content-type=text%2Fplain", {}, 200),
        ("?partNumber=1", {}, 206),
    ],
)
def test_requests_that_are_not_plain_take_the_generic_path(
    url: str, objects: dict[str, str], query: str, headers: dict[str, str], status: int
) -> None:
    before = fast_read.served
    response = signed("GET", f"{url}/{objects['described']}{query}", headers=headers)
    assert response.status_code == status
    assert fast_read.served == before
    if "response-content-type" in query:
        assert response.headers["content-type"] == "text/plain"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_what_the_fast_path_gives_up_on_gets_the_generic_answer(
    url: str, objects: dict[str, str], method: str
) -> None:
    before = fast_read.served
    sealed = signed(method, f"{url}/{BUCKET}/sealed")
    assert sealed.status_code == 200
    assert sealed.headers["x-amz-server-side-encryption"] == "AES256"
    if method == "GET":
        assert sealed.content == b"secret"
    missing = signed(method, f"{url}/{BUCKET}/no-such-key")
    assert missing.status_code == 404
    bad = signed(method, f"{url}/{objects['plain']}", secret_key="not-the-secret")
    assert bad.status_code == 403
    if method == "GET":
        assert error_code(missing) == "NoSuchKey"
        assert error_code(bad) == "SignatureDoesNotMatch"
    no_bucket = signed(method, f"{url}/fast-no-such-bucket/k")
    assert no_bucket.status_code == 404
    assert fast_read.served == before


def test_the_predicate() -> None:
    def scope(method: str = "GET", query: bytes = b"", **extra: str) -> dict[str, Any]:
        headers = [(b"host", b"h"), (b"authorization", b"AWS4-HMAC-SHA256 Credential=k/..."), (b"x-amz-date", b"d")]
        headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in extra.items()]
        return {"method": method, "query_string": query, "headers": headers}

    assert fast_read.plain_headers(scope(), 8192) == {
        "host": "h",
        "authorization": "AWS4-HMAC-SHA256 Credential=k/...",
        "x-amz-date": "d",
    }
    assert fast_read.plain_headers(scope("HEAD", User_Agent="boto3"), 8192) is not None
    assert fast_read.plain_headers(scope("PUT"), 8192) is None
    assert fast_read.plain_headers(scope(query=b"versionId=1"), 8192) is None
    assert fast_read.plain_headers(scope(Range="bytes=0-1"), 8192) is None
    assert fast_read.plain_headers(scope(If_Match="x"), 8192) is None
    assert fast_read.plain_headers(scope(Content_Length="0"), 8192) is None
    assert fast_read.plain_headers(scope(), 20) is None  # too large: the generic path's error
    repeated = scope()
    repeated["headers"].append((b"host", b"other"))
    assert fast_read.plain_headers(repeated, 8192) is None
    sigv2 = scope()
    sigv2["headers"][1] = (b"authorization", b"AWS k:sig")
    assert fast_read.plain_headers(sigv2, 8192) is None
