"""`authenticate` against requests signed by botocore itself, then tampered with."""

from __future__ import annotations

import calendar
import dataclasses
import functools
import hashlib
import io
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import botocore.session
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from smarts3.auth.credentials import StaticCredentials
from smarts3.auth.types import AuthError, PayloadMode, RequestView
from smarts3.auth.verify import authenticate

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDS = StaticCredentials({AKID: SECRET, "OTHERKEY": "other-secret"})
ENDPOINT = "http://localhost:9000"
EMPTY = hashlib.sha256(b"").hexdigest()


class _Captured(Exception):
    pass


_SESSION = botocore.session.get_session()
_SEEN: list[AWSPreparedRequest] = []


def _before_send(request: AWSPreparedRequest, **_: Any) -> None:
    _SEEN.append(request)
    raise _Captured


@functools.cache
def _cached_client(sigv: str, style: str, endpoint: str, region: str, akid: str, secret: str) -> Any:
    client = _SESSION.create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=Config(signature_version=sigv, s3={"addressing_style": style}),
    )
    client.meta.events.register("before-send.s3", _before_send)
    return client


def _client(
    sigv: str = "s3v4",
    style: str = "path",
    endpoint: str = ENDPOINT,
    region: str = "us-east-1",
    akid: str = AKID,
    secret: str = SECRET,
) -> Any:
    return _cached_client(sigv, style, endpoint, region, akid, secret)


def capture(client: Any, operation: str, **params: Any) -> AWSPreparedRequest:
    """The request botocore would send, signed, without sending it."""
    _SEEN.clear()
    with pytest.raises(_Captured):
        getattr(client, operation)(**params)
    return _SEEN[-1]


def view(prepared: AWSPreparedRequest) -> RequestView:
    split = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name, value in prepared.headers.items():
        text = value.decode() if isinstance(value, bytes) else value
        headers[name.lower()] = text
    headers.setdefault("host", split.netloc)
    return RequestView(prepared.method, split.path.encode(), split.query.encode(), headers)


def url_view(url: str, method: str = "GET", **headers: str) -> RequestView:
    split = urlsplit(url)
    return RequestView(method, split.path.encode(), split.query.encode(), {"host": split.netloc, **headers})


def body_bytes(prepared: AWSPreparedRequest) -> bytes:
    body = prepared.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return bytes(body.read())


def fails(req: RequestView, code: str, status: int | None = None, **kw: Any) -> AuthError:
    with pytest.raises(AuthError) as info:
        authenticate(req, CREDS, **kw)
    err = info.value
    assert err.code == code, err.message
    if status is not None:
        assert err.status == status
    # Nothing secret ever reaches a message.
    for secret in (SECRET, req.headers.get("authorization") or "\0"):
        assert secret not in err.message
    assert "Signature=" not in err.message
    return err


def replace_header(req: RequestView, name: str, value: str | None) -> RequestView:
    headers = dict(req.headers)
    if value is None:
        headers.pop(name, None)
    else:
        headers[name] = value
    return dataclasses.replace(req, headers=headers)


def with_query(req: RequestView, raw_query: bytes) -> RequestView:
    return dataclasses.replace(req, raw_query=raw_query)


KEYS = [
    "plain.txt",
    "a b/c d.txt",
    "ü/ß/€ 漢字",
    "a+b=c&d;e,f",
    "100%.txt",
    "~tilde-_.",
    "!*'()[]{}$@:",
    "dir//x/../y/./z",
    "trailing/",
    "?question#hash",
]


# --- SigV4, Authorization header ---------------------------------------------------------------


@pytest.mark.parametrize("style", ["path", "virtual"])
@pytest.mark.parametrize("key", KEYS)
def test_v4_put_object_any_key(key: str, style: str) -> None:
    client = _client(style=style, endpoint="http://s3.local:9000")
    prepared = capture(client, "put_object", Bucket="bucket", Key=key, Body=b"hello")
    result = authenticate(view(prepared), CREDS)
    assert result.access_key == AKID
    assert result.signature_version == 4
    assert result.payload is PayloadMode.SIGNED
    assert result.expected_sha256 == hashlib.sha256(b"hello").hexdigest()
    assert result.chunk_signing is None


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_object", {"Bucket": "b", "Key": "k", "Range": "bytes=0-9"}),
        ("get_object", {"Bucket": "b", "Key": "k", "VersionId": "v/1+2",
                        "ResponseContentDisposition": "attachment; filename=\"a b\""}),
        ("head_bucket", {"Bucket": "b"}),
        ("list_objects_v2", {"Bucket": "b", "Prefix": "a b+c/ü", "Delimiter": "/",
                             "StartAfter": "~x"}),
        ("list_objects", {"Bucket": "b", "Marker": "m&n=o"}),
        ("get_bucket_lifecycle_configuration", {"Bucket": "b"}),
        ("create_multipart_upload", {"Bucket": "b", "Key": "k", "Metadata": {"a": " x  y "}}),
        ("upload_part", {"Bucket": "b", "Key": "k", "UploadId": "u/+=", "PartNumber": 3,
                         "Body": b"part"}),
        ("copy_object", {"Bucket": "b", "Key": "k", "CopySource": "src/a b+c"}),
        ("put_object_tagging", {"Bucket": "b", "Key": "k",
                                "Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}}),
        ("delete_objects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}]}}),
        ("list_buckets", {}),
    ],
)  # fmt: skip
def test_v4_operations(operation: str, params: dict[str, Any]) -> None:
    prepared = capture(_client(), operation, **params)
    req = view(prepared)
    result = authenticate(req, CREDS)
    assert (result.access_key, result.signature_version) == (AKID, 4)
    assert result.payload is PayloadMode.SIGNED
    assert result.expected_sha256 == hashlib.sha256(body_bytes(prepared)).hexdigest()


def test_v4_any_region_accepted() -> None:
    prepared = capture(_client(region="moon-central-1"), "head_bucket", Bucket="b")
    assert authenticate(view(prepared), CREDS).access_key == AKID


def test_v4_https_streaming_unsigned_trailer() -> None:
    client = _client(endpoint="https://localhost:9000")
    prepared = capture(client, "put_object", Bucket="b", Key="k", Body=io.BytesIO(b"hello" * 1000))
    result = authenticate(view(prepared), CREDS)
    assert result.payload is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert result.trailer_names == ("x-amz-checksum-crc32",)
    assert result.decoded_length == 5000
    assert result.chunk_signing is None


@pytest.fixture
def signed_put() -> RequestView:
    client = _client()
    prepared = capture(
        client,
        "put_object",
        Bucket="bucket",
        Key="dir/key.txt",
        Body=b"data",
        ACL="private",
        Metadata={"color": "blue"},
    )
    return view(prepared)


def test_v4_tampering(signed_put: RequestView) -> None:
    req = signed_put
    authenticate(req, CREDS)
    fails(dataclasses.replace(req, method="POST"), "SignatureDoesNotMatch", 403)
    fails(dataclasses.replace(req, raw_path=b"/bucket/dir/key.txu"), "SignatureDoesNotMatch")
    fails(dataclasses.replace(req, raw_path=b"/bucket2/dir/key.txt"), "SignatureDoesNotMatch")
    fails(with_query(req, b"acl"), "SignatureDoesNotMatch")
    fails(replace_header(req, "x-amz-acl", "public-read"), "SignatureDoesNotMatch")
    fails(replace_header(req, "x-amz-meta-color", "red"), "SignatureDoesNotMatch")
    fails(replace_header(req, "host", "evil:9000"), "SignatureDoesNotMatch")
    fails(
        replace_header(req, "x-amz-content-sha256", hashlib.sha256(b"other").hexdigest()),
        "SignatureDoesNotMatch",
    )
    # A later time in the same day: still in the skew window, but signed as another instant.
    amz_date = req.headers["x-amz-date"]
    when = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    moved = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when + (-60 if when % 86400 > 60 else 60)))
    fails(replace_header(req, "x-amz-date", moved), "SignatureDoesNotMatch")


def test_v4_query_tampering() -> None:
    prepared = capture(_client(), "list_objects_v2", Bucket="b", Prefix="p")
    req = view(prepared)
    authenticate(req, CREDS)
    fails(with_query(req, req.raw_query.replace(b"prefix=p", b"prefix=q")), "SignatureDoesNotMatch")
    fails(with_query(req, req.raw_query + b"&max-keys=1"), "SignatureDoesNotMatch")
    fails(with_query(req, req.raw_query.replace(b"&prefix=p", b"")), "SignatureDoesNotMatch")


def test_v4_wrong_key_or_secret(signed_put: RequestView) -> None:
    other = StaticCredentials({AKID: "not-the-secret"})
    with pytest.raises(AuthError) as info:
        authenticate(signed_put, other)
    assert info.value.code == "SignatureDoesNotMatch"
    fails(view(capture(_client(akid="NOSUCHKEY"), "list_buckets")), "InvalidAccessKeyId", 403)


def test_v4_clock_skew(signed_put: RequestView) -> None:
    fails(signed_put, "RequestTimeTooSkewed", 403, now=time.time() + 16 * 60)
    fails(signed_put, "RequestTimeTooSkewed", 403, now=time.time() - 16 * 60)
    authenticate(signed_put, CREDS, now=time.time() + 14 * 60)


def test_v4_credential_date_must_match(signed_put: RequestView) -> None:
    auth = signed_put.headers["authorization"]
    date = signed_put.headers["x-amz-date"][:8]
    bad = auth.replace(f"/{date}/", "/20000101/")
    fails(replace_header(signed_put, "authorization", bad), "AuthorizationHeaderMalformed", 400)


def test_v4_date_header_instead_of_x_amz_date() -> None:
    """SigV4 over a Date header: the ISO form of that date is what was signed."""
    request = AWSRequest(method="GET", url=ENDPOINT + "/b/k", headers={"Date": "x"})
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = view(prepared)
    assert "x-amz-date" not in req.headers
    assert authenticate(req, CREDS).access_key == AKID


@pytest.mark.parametrize(
    "wire_path",
    ["/b/a%2bc", "/b/it's(1)!", "/b/%7euser", "/b/a%2Fb", "/b/sp%20ace", "/b/=;:@,$"],
)
def test_v4_client_signing_its_own_wire_path(wire_path: str) -> None:
    """Clients that sign the path exactly as they send it, escaped their own way."""
    request = AWSRequest(method="GET", url=ENDPOINT + wire_path)
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    req = view(request.prepare())
    assert req.raw_path == wire_path.encode()
    assert authenticate(req, CREDS).access_key == AKID
    fails(dataclasses.replace(req, raw_path=req.raw_path + b"x"), "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request", "malformed"),
        ("AWS4-HMAC-SHA256 garbage", "malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/2024/us-east-1/s3/aws4_request, SignedHeaders=host, "
         "Signature=00", "malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/ec2/aws4_request, "
         "SignedHeaders=host, Signature=00", "malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws5_request, "
         "SignedHeaders=host, Signature=00", "malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, "
         "SignedHeaders=x-amz-date, Signature=00", "malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, "
         "SignedHeaders=host;;x, Signature=00", "malformed"),
        ("Bearer abc", "InvalidArgument"),
        ("AWS4-ECDSA-P256-SHA256 Credential=AK/20240101/s3/aws4_request", "InvalidArgument"),
        ("AWS nocolon", "InvalidArgument"),
    ],
)  # fmt: skip
def test_malformed_authorization(authorization: str, code: str) -> None:
    req = RequestView(
        "GET",
        b"/b",
        b"",
        {
            "host": "h",
            "authorization": authorization,
            "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "x-amz-content-sha256": EMPTY,
        },
    )
    expected = "AuthorizationHeaderMalformed" if code == "malformed" else code
    fails(req, expected, 400)


def test_empty_authorization_is_anonymous() -> None:
    """Issue 12: an empty Authorization header signs nothing; the request is anonymous (and refused
    by authorization wherever a credential is needed), no longer a 400 InvalidArgument."""
    req = RequestView("GET", b"/b", b"", {"host": "h", "authorization": ""})
    result = authenticate(req, CREDS)
    assert (result.access_key, result.signature_version) == (None, 0)


def test_v4_content_sha256_rules(signed_put: RequestView) -> None:
    err = fails(replace_header(signed_put, "x-amz-content-sha256", "nonsense"), "InvalidArgument")
    assert err.status == 400
    fails(replace_header(signed_put, "x-amz-content-sha256", None), "InvalidRequest", 400)


def test_unsigned_amz_header_rejected(signed_put: RequestView) -> None:
    err = fails(replace_header(signed_put, "x-amz-copy-source", "b/other"), "AccessDenied", 403)
    assert "x-amz-copy-source" in err.message


def test_missing_date() -> None:
    prepared = capture(_client(), "list_buckets")
    req = replace_header(view(prepared), "x-amz-date", None)
    fails(req, "AccessDenied", 403)


# --- SigV4, presigned URLs -------------------------------------------------------------------


def presign(operation: str, params: dict[str, Any], expires: int = 3600, **kw: Any) -> str:
    url: str = _client(**kw).generate_presigned_url(operation, Params=params, ExpiresIn=expires)
    return url


@pytest.mark.parametrize("key", KEYS)
def test_v4_presigned_get(key: str) -> None:
    url = presign("get_object", {"Bucket": "b", "Key": key})
    result = authenticate(url_view(url), CREDS)
    assert (result.access_key, result.signature_version) == (AKID, 4)
    assert result.payload is PayloadMode.UNSIGNED


def test_v4_presigned_put_virtual_host() -> None:
    url = presign(
        "put_object",
        {"Bucket": "bucket", "Key": "a b", "ContentType": "text/plain"},
        style="virtual",
        endpoint="http://s3.local:9000",
    )
    assert urlsplit(url).netloc == "bucket.s3.local:9000"
    req = url_view(url, "PUT", **{"content-type": "text/plain"})
    assert authenticate(req, CREDS, vhost_bucket="bucket").access_key == AKID
    fails(replace_header(req, "content-type", "text/html"), "SignatureDoesNotMatch")


def test_v4_presigned_tampering_and_expiry() -> None:
    url = presign("get_object", {"Bucket": "b", "Key": "k"}, expires=60)
    req = url_view(url)
    authenticate(req, CREDS)
    fails(dataclasses.replace(req, method="DELETE"), "SignatureDoesNotMatch")
    fails(dataclasses.replace(req, raw_path=b"/b/k2"), "SignatureDoesNotMatch")
    fails(with_query(req, req.raw_query + b"&versionId=1"), "SignatureDoesNotMatch")
    fails(replace_header(req, "host", "other:1"), "SignatureDoesNotMatch")
    err = fails(req, "AccessDenied", 403, now=time.time() + 120)
    assert err.message == "Request has expired"
    # Moving the expiry changes a signed parameter.
    fails(with_query(req, req.raw_query.replace(b"X-Amz-Expires=60", b"X-Amz-Expires=61")),
          "SignatureDoesNotMatch")  # fmt: skip


def _set_param(req: RequestView, name: str, value: str | None) -> RequestView:
    pairs = [(k, v) for k, v in parse_qsl(req.raw_query.decode(), keep_blank_values=True)]
    pairs = [(k, v) for k, v in pairs if k != name]
    if value is not None:
        pairs.append((name, value))
    return with_query(req, urlencode(pairs).encode())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Amz-Expires", "soon"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
        ("X-Amz-Date", "yesterday"),
        ("X-Amz-Credential", "AKID/bad"),
        ("X-Amz-SignedHeaders", None),
        ("X-Amz-Date", None),
    ],
)
def test_v4_presigned_bad_parameters(name: str, value: str | None) -> None:
    req = url_view(presign("get_object", {"Bucket": "b", "Key": "k"}))
    fails(_set_param(req, name, value), "AuthorizationQueryParametersError", 400)


@pytest.mark.parametrize(
    ("value", "code"),
    [("0", "AccessDenied"), ("604801", "AuthorizationQueryParametersError"),
     ("-5", "AuthorizationQueryParametersError")],
)
def test_v4_presigned_expires_out_of_range_is_403(value: str, code: str) -> None:
    """Issue 12: AWS answers 403 (ceph's s3-tests, run against AWS, expect it); it was 400 here."""
    req = url_view(presign("get_object", {"Bucket": "b", "Key": "k"}))
    fails(_set_param(req, "X-Amz-Expires", value), code, 403)


def test_v4_presigned_max_expiry_accepted() -> None:
    req = url_view(presign("get_object", {"Bucket": "b", "Key": "k"}, expires=604800))
    authenticate(req, CREDS, now=time.time() + 604000)


def test_v4_presigned_unknown_key() -> None:
    req = url_view(presign("get_object", {"Bucket": "b", "Key": "k"}, akid="NOPE"))
    fails(req, "InvalidAccessKeyId", 403)


def test_v4_presigned_unsigned_amz_header() -> None:
    req = url_view(presign("put_object", {"Bucket": "b", "Key": "k"}), "PUT")
    fails(replace_header(req, "x-amz-acl", "public-read"), "AccessDenied", 403)
    # Body-framing headers may come along unsigned.
    authenticate(replace_header(req, "x-amz-content-sha256", "UNSIGNED-PAYLOAD"), CREDS)


def test_v4_presigned_with_declared_digest_is_checked() -> None:
    req = url_view(presign("put_object", {"Bucket": "b", "Key": "k"}), "PUT")
    digest = hashlib.sha256(b"x").hexdigest()
    result = authenticate(replace_header(req, "x-amz-content-sha256", digest), CREDS)
    assert (result.payload, result.expected_sha256) == (PayloadMode.SIGNED, digest)
    req = replace_header(req, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    fails(replace_header(req, "x-amz-decoded-content-length", "1"), "InvalidRequest", 400)


def test_header_and_query_auth_together(signed_put: RequestView) -> None:
    url = presign("get_object", {"Bucket": "b", "Key": "k"})
    req = with_query(signed_put, urlsplit(url).query.encode())
    fails(req, "InvalidArgument", 400)


# --- SigV2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["path", "virtual"])
@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("put_object", {"Bucket": "bucket", "Key": "a b/ü+c", "Body": b"x",
                        "Metadata": {"m": "v"}, "ContentType": "text/plain"}),
        ("get_object", {"Bucket": "bucket", "Key": "k", "VersionId": "v1",
                        "ResponseContentType": "text/a b"}),
        ("list_objects", {"Bucket": "bucket", "Prefix": "a b"}),
        ("get_bucket_acl", {"Bucket": "bucket"}),
        ("upload_part", {"Bucket": "bucket", "Key": "k", "UploadId": "u/1", "PartNumber": 2,
                         "Body": b"p"}),
        ("delete_objects", {"Bucket": "bucket", "Delete": {"Objects": [{"Key": "x"}]}}),
    ],
)  # fmt: skip
def test_v2_header(operation: str, params: dict[str, Any], style: str) -> None:
    client = _client(sigv="s3", style=style, endpoint="http://s3.local:9000")
    prepared = capture(client, operation, **params)
    req = view(prepared)
    assert req.headers["authorization"].startswith(f"AWS {AKID}:")
    vhost = "bucket" if req.headers["host"].startswith("bucket.") else None
    result = authenticate(req, CREDS, vhost_bucket=vhost)
    assert (result.access_key, result.signature_version) == (AKID, 2)
    assert result.payload is PayloadMode.UNSIGNED


def test_v2_tampering_and_skew() -> None:
    prepared = capture(_client(sigv="s3"), "put_object", Bucket="b", Key="k", Body=b"x", ACL="private")
    req = view(prepared)
    authenticate(req, CREDS)
    fails(dataclasses.replace(req, method="POST"), "SignatureDoesNotMatch")
    fails(dataclasses.replace(req, raw_path=b"/b/k2"), "SignatureDoesNotMatch")
    fails(with_query(req, b"acl"), "SignatureDoesNotMatch")
    fails(replace_header(req, "x-amz-acl", "public-read"), "SignatureDoesNotMatch")
    fails(replace_header(req, "content-type", "text/html"), "SignatureDoesNotMatch")
    fails(replace_header(req, "date", "Mon, 01 Jan 2001 00:00:00 GMT"), "RequestTimeTooSkewed")
    fails(req, "RequestTimeTooSkewed", 403, now=time.time() + 3600)
    fails(replace_header(req, "authorization", "AWS NOPE:abc="), "InvalidAccessKeyId")
    fails(replace_header(req, "date", None), "AccessDenied", 403)


def test_v2_x_amz_date_blanks_the_date_line() -> None:
    """AWS docs: with x-amz-date the Date line of the string to sign is empty."""
    import base64
    import hmac

    amz_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    sts = f"GET\n\n\n\nx-amz-date:{amz_date}\n/b/k"
    sig = base64.b64encode(hmac.new(SECRET.encode(), sts.encode(), "sha1").digest()).decode()
    req = RequestView(
        "GET",
        b"/b/k",
        b"",
        {"host": "h", "x-amz-date": amz_date, "authorization": f"AWS {AKID}:{sig}"},
    )
    assert authenticate(req, CREDS).signature_version == 2


def test_v2_presigned() -> None:
    url = presign("get_object", {"Bucket": "b", "Key": "a b/ü", "ResponseContentType": "x/y"},
                  expires=60, sigv="s3")  # fmt: skip
    assert "AWSAccessKeyId=" in url
    req = url_view(url)
    result = authenticate(req, CREDS)
    assert (result.access_key, result.signature_version) == (AKID, 2)
    fails(dataclasses.replace(req, raw_path=b"/b/other"), "SignatureDoesNotMatch")
    fails(dataclasses.replace(req, method="PUT"), "SignatureDoesNotMatch")
    err = fails(req, "AccessDenied", 403, now=time.time() + 120)
    assert err.message == "Request has expired"
    fails(_set_param(req, "Expires", None), "AccessDenied", 403)
    fails(_set_param(req, "Expires", "soon"), "AccessDenied", 403)


def test_v2_presigned_virtual_host_with_amz_params() -> None:
    url = presign(
        "put_object",
        {"Bucket": "bucket", "Key": "k", "ACL": "public-read"},
        sigv="s3",
        style="virtual",
        endpoint="http://s3.local:9000",
    )
    assert "x-amz-acl=public-read" in url
    req = url_view(url, "PUT")
    assert authenticate(req, CREDS, vhost_bucket="bucket").access_key == AKID
    changed = with_query(req, req.raw_query.replace(b"public-read", b"private"))
    fails(changed, "SignatureDoesNotMatch", vhost_bucket="bucket")


# --- anonymous -------------------------------------------------------------------------------


def test_anonymous() -> None:
    req = RequestView("GET", b"/b/k", b"", {"host": "h"})
    result = authenticate(req, CREDS)
    assert (result.access_key, result.signature_version, result.payload) == (
        None,
        0,
        PayloadMode.UNSIGNED,
    )


def test_anonymous_unsigned_trailer_is_chunked() -> None:
    req = RequestView(
        "PUT",
        b"/b/k",
        b"",
        {
            "host": "h",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-CRC32, ",
            "x-amz-decoded-content-length": "5",
        },
    )
    result = authenticate(req, CREDS)
    assert result.payload is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert result.payload.chunked
    assert result.trailer_names == ("x-amz-checksum-crc32",)
    assert result.decoded_length == 5
    fails(replace_header(req, "x-amz-decoded-content-length", None), "MissingContentLength", 411)
    fails(replace_header(req, "x-amz-decoded-content-length", "five"), "InvalidArgument", 400)


def test_partial_query_auth_is_an_error() -> None:
    fails(RequestView("GET", b"/b", b"Signature=abc", {"host": "h"}), "AccessDenied", 403)
    fails(
        RequestView("GET", b"/b", b"X-Amz-Credential=a", {"host": "h"}),
        "AuthorizationQueryParametersError",
        400,
    )


def test_credentials_replace_is_live() -> None:
    store = StaticCredentials({AKID: SECRET})
    prepared = capture(_client(), "list_buckets")
    req = view(prepared)
    assert authenticate(req, store).access_key == AKID
    store.replace({"NEW": "secret"})
    with pytest.raises(AuthError) as info:
        authenticate(req, store)
    assert info.value.code == "InvalidAccessKeyId"
    assert "NEW" in store and len(store) == 1
    with pytest.raises(ValueError, match="non-empty"):
        store.replace({"": "x"})


# --- one parsed query for signer and server ----------------------------------------------------


@pytest.mark.parametrize("sigv", ["s3", "s3v4"])
@pytest.mark.parametrize("extra", [b"%74agging", b"%61cl", b"%75ploadId=u1", b"%72esponse-content-type=text/html"])
def test_encoded_subresource_appended_to_presigned_url(sigv: str, extra: bytes) -> None:
    url = presign("get_object", {"Bucket": "b", "Key": "k"}, sigv=sigv)
    req = url_view(url)
    authenticate(req, CREDS)
    with pytest.raises(AuthError) as info:
        with_query(req, req.raw_query + b"&" + extra)
    assert (info.value.code, info.value.status) == ("InvalidArgument", 400)


@pytest.mark.parametrize("extra", [b"tagging", b"acl", b"uploadId=u1", b"response-content-type=text/html"])
def test_plain_subresource_appended_to_v2_presigned_url(extra: bytes) -> None:
    req = url_view(presign("get_object", {"Bucket": "b", "Key": "k"}, sigv="s3"))
    fails(with_query(req, req.raw_query + b"&" + extra), "SignatureDoesNotMatch", 403)


def test_v4_literal_plus_in_signed_query() -> None:
    """Signed as `+` on the wire (botocore signs its URL's own query): served as a plus."""
    request = AWSRequest(method="GET", url=ENDPOINT + "/b?list-type=2&prefix=a+b")
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    req = view(request.prepare())
    assert authenticate(req, CREDS).access_key == AKID
    assert req.query["prefix"] == "a+b"
    fails(with_query(req, req.raw_query.replace(b"a+b", b"a%20b")), "SignatureDoesNotMatch")
    fails(with_query(req, req.raw_query.replace(b"a+b", b"a b")), "SignatureDoesNotMatch")


def _pinned_presign(digest: str, method: str = "PUT") -> str:
    """A presigned URL whose signed query carries X-Amz-Content-Sha256 (as some SDKs make)."""
    from botocore.auth import S3SigV4QueryAuth

    class Pinned(S3SigV4QueryAuth):
        def payload(self, request: Any) -> str:
            return digest

    request = AWSRequest(method=method, url=f"{ENDPOINT}/b/k?X-Amz-Content-Sha256={digest}")
    Pinned(Credentials(AKID, SECRET), "s3", "us-east-1", expires=300).add_auth(request)
    url: str = request.prepare().url
    return url


def test_v4_presigned_pinned_digest_is_a_signed_payload() -> None:
    digest = hashlib.sha256(b"the body").hexdigest()
    req = url_view(_pinned_presign(digest), "PUT")
    result = authenticate(req, CREDS)
    assert (result.payload, result.expected_sha256) == (PayloadMode.SIGNED, digest)
    # A header may repeat it, never replace it.
    assert authenticate(replace_header(req, "x-amz-content-sha256", digest.upper()), CREDS).expected_sha256 == digest
    other = hashlib.sha256(b"other").hexdigest()
    for declared in (other, "UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
        fails(replace_header(req, "x-amz-content-sha256", declared), "XAmzContentSHA256Mismatch", 400)
    # The digest is signed: changing it breaks the signature.
    fails(with_query(req, req.raw_query.replace(digest.encode(), other.encode())), "SignatureDoesNotMatch")
