from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from smarts3.auth import sigv2
from smarts3.auth.query import Param, Query, parse_query
from smarts3.auth.types import AuthError

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_subresources_are_botocores() -> None:
    assert frozenset(HmacV1Auth.QSAOfInterest) == sigv2.SUBRESOURCES


@pytest.mark.parametrize(
    ("path", "query", "vhost", "expected"),
    [
        (b"/bucket/key", b"", None, "/bucket/key"),
        (b"/bucket", b"", None, "/bucket"),
        (b"/", b"", "bucket", "/bucket/"),
        (b"/key", b"", "bucket", "/bucket/key"),
        (b"/bucket/key", b"acl", None, "/bucket/key?acl"),
        (b"/bucket/key", b"acl=", None, "/bucket/key?acl="),
        (b"/bucket/k", b"uploadId=a%2Fb&partNumber=2", None, "/bucket/k?partNumber=2&uploadId=a/b"),
        (b"/bucket/k", b"prefix=x&max-keys=3&versions", None, "/bucket/k?versions"),
        (
            b"/bucket/k",
            b"response-content-disposition=attachment%3B%20filename%3Dx&versionId=v1",
            None,
            "/bucket/k?response-content-disposition=attachment; filename=x&versionId=v1",
        ),
        (b"/bucket/a%20b", b"", None, "/bucket/a%20b"),  # the path as sent
        (b"", b"", None, "/"),
    ],
)
def test_canonical_resource(path: bytes, query: bytes, vhost: str | None, expected: str) -> None:
    assert sigv2.canonical_resource(path, parse_query(query), vhost_bucket=vhost) == expected


def test_canonical_resource_reencoded() -> None:
    got = sigv2.canonical_resource(b"/b/a b!", parse_query(b""), reencode=True)
    assert got == "/b/a%20b%21"


def test_subresources_chosen_by_decoded_name() -> None:
    """What the server serves as `tagging` is signed as `tagging`, however it was spelled.

    (The parse refuses such a spelling first; this is the second line.)"""
    spelled = Query(b"%74agging", (Param("tagging", "", "%74agging", None),))
    assert sigv2.canonical_resource(b"/b/k", spelled) == "/b/k?tagging"


@pytest.mark.parametrize(
    "value",
    ["text/plain&versionId=1", "a&tagging", "a&uploadId", "x&acl=&y"],
)
def test_value_hiding_a_signed_subresource_is_refused(value: str) -> None:
    """`response-content-disposition=a%26versionId%3D1` would sign exactly as two pairs."""
    query = Query(b"", (Param("response-content-disposition", value, "r", "v"),))
    with pytest.raises(AuthError) as info:
        sigv2.canonical_resource(b"/b/k", query)
    assert (info.value.code, info.value.status) == ("InvalidArgument", 400)


def test_value_with_harmless_ampersand_is_signed() -> None:
    query = parse_query(b"response-content-disposition=attachment%3B%20filename%3D%22a%26b.txt%22")
    assert (
        sigv2.canonical_resource(b"/b/k", query) == '/b/k?response-content-disposition=attachment; filename="a&b.txt"'
    )


def test_canonical_amz_headers() -> None:
    items = [
        ("X-Amz-Meta-B", " 2 "),
        ("x-amz-meta-a", "1"),
        ("Content-Type", "text/plain"),
        ("x-amz-meta-b", "3"),
    ]
    assert sigv2.canonical_amz_headers(items) == "x-amz-meta-a:1\nx-amz-meta-b:2,3\n"


def test_aws_documented_get_object_example() -> None:
    """The GET Object example of the S3 SigV2 documentation (RESTAuthentication)."""
    sts = sigv2.string_to_sign(
        "GET", "", "", "Tue, 27 Mar 2007 19:36:42 +0000", "", "/awsexamplebucket1/photos/puppy.jpg"
    )
    assert sts == "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    assert sigv2.sign(SECRET, sts) == "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="


@pytest.mark.parametrize(
    ("method", "url", "headers", "auth_path"),
    [
        ("GET", "http://h/bucket/key.txt", {}, None),
        ("GET", "http://h/bucket/key.txt?versionId=3&response-content-type=a%2Fb", {}, None),
        (
            "PUT",
            "http://h/bucket/k%20k?partNumber=1&uploadId=xyz",
            {"Content-Type": "text/plain", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
            None,
        ),
        (
            "PUT",
            "http://bucket.h/k",
            {"x-amz-meta-Foo": " bar ", "X-Amz-ACL": "private", "x-amz-date": "x"},
            "/bucket/k",
        ),
        ("GET", "http://bucket.h/?acl", {}, "/bucket/"),
    ],
)
def test_string_to_sign_matches_botocore(method: str, url: str, headers: dict[str, str], auth_path: str | None) -> None:
    request = AWSRequest(method=method, url=url, headers=headers)
    request.auth_path = auth_path
    signer = HmacV1Auth(Credentials(AKID, SECRET))
    fixed_date = "Wed, 01 May 2024 10:00:00 GMT"
    signer._get_date = lambda: fixed_date
    signer.add_auth(request)
    split = urlsplit(url)
    expected = signer.canonical_string(method, split, request.headers, auth_path=auth_path)

    lower = {k.lower(): v for k, v in request.headers.items()}
    vhost = auth_path.split("/")[1] if auth_path else None
    resource = sigv2.canonical_resource(split.path.encode(), parse_query(split.query.encode()), vhost_bucket=vhost)
    ours = sigv2.string_to_sign(
        method,
        lower.get("content-md5", ""),
        lower.get("content-type", ""),
        fixed_date,
        sigv2.canonical_amz_headers(request.headers.items()),
        resource,
    )
    assert ours == expected
    assert request.headers["Authorization"] == f"AWS {AKID}:{sigv2.sign(SECRET, ours)}"
