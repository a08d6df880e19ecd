"""PostObject (browser form uploads) over HTTP: boto3's generate_presigned_post (SigV4 and SigV2)
sent with httpx multipart, the response forms, anonymous POST under a bucket policy, the error
matrix, and a large upload streamed with bounded server memory."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, start_subprocess_server, stop_server
from tests.integration.helpers import PeakRss, error_code


@pytest.fixture
def s3(server: Server) -> Any:
    """SigV4 forms (boto3 signs POST policies with SigV2 for a custom endpoint unless told)."""
    return server.client(signature_version="s3v4")


def _post(url: str, fields: dict[str, str], content: bytes = b"hello", filename: str = "hello.txt") -> httpx.Response:
    return httpx.post(url, data=fields, files={"file": (filename, content, "application/octet-stream")}, timeout=30)


def _presign(s3: Any, bucket: str, key: str, fields: dict[str, str] | None = None,
             conditions: list[Any] | None = None, expires: int = 300) -> dict[str, Any]:
    return dict(s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires))


def test_sigv4_form_upload_stores_the_object(server: Server, s3: Any, bucket: str) -> None:
    fields = {"Content-Type": "text/plain", "x-amz-meta-colour": "blue", "success_action_status": "201"}
    conditions: list[Any] = [{"Content-Type": "text/plain"}, {"x-amz-meta-colour": "blue"},
                             {"success_action_status": "201"}, ["content-length-range", 1, 100]]
    post = _presign(s3, bucket, "uploads/${filename}", fields, [*conditions, ["starts-with", "$key", "uploads/"]])
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    response = _post(post["url"], post["fields"], b"form body", "notes.txt")
    assert response.status_code == 201, response.text
    assert b"<PostResponse" in response.content and b"<Key>uploads/notes.txt</Key>" in response.content
    assert response.headers["etag"] == f'"{hashlib.md5(b"form body").hexdigest()}"'
    assert response.headers["location"].endswith(f"/{bucket}/uploads/notes.txt")
    got = s3.get_object(Bucket=bucket, Key="uploads/notes.txt")
    assert got["Body"].read() == b"form body"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"colour": "blue"}


@pytest.mark.parametrize(("status", "expected"), [(None, 204), ("200", 200), ("204", 204), ("302", 204)])
def test_success_action_status(s3: Any, bucket: str, status: str | None, expected: int) -> None:
    fields = {} if status is None else {"success_action_status": status}
    post = _presign(s3, bucket, "k", fields, [fields] if fields else [])
    response = _post(post["url"], post["fields"])
    assert response.status_code == expected, response.text
    assert response.content == b""


def test_success_action_redirect(s3: Any, bucket: str) -> None:
    target = "https://app.example/done?x=1"
    post = _presign(s3, bucket, "r", {"success_action_redirect": target}, [{"success_action_redirect": target}])
    response = _post(post["url"], post["fields"])
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.netloc == "app.example"
    query = parse_qs(location.query)
    assert query == {"x": ["1"], "bucket": [bucket], "key": ["r"], "etag": [f'"{hashlib.md5(b"hello").hexdigest()}"']}


def test_tagging_acl_and_checksum_fields(s3: Any, bucket: str) -> None:
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>red</Value></Tag></TagSet></Tagging>"
    digest = base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    fields = {"tagging": tagging, "acl": "private", "x-amz-checksum-sha256": digest}
    post = _presign(s3, bucket, "t", fields, [{k: v} for k, v in fields.items()])
    assert _post(post["url"], post["fields"]).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "team", "Value": "red"}]
    head = s3.head_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == digest

    wrong = {**fields, "x-amz-checksum-sha256": base64.b64encode(b"x" * 32).decode()}
    post = _presign(s3, bucket, "t2", wrong, [{k: v} for k, v in wrong.items()])
    response = _post(post["url"], post["fields"])
    assert response.status_code == 400 and error_code(response) == "BadDigest"
    _absent(s3, bucket, "t2")


def test_sigv2_form(server: Server, bucket: str) -> None:
    v2 = server.client(signature_version="s3")
    post = _presign(v2, bucket, "v2key")
    assert "AWSAccessKeyId" in post["fields"] and "signature" in post["fields"]
    assert _post(post["url"], post["fields"]).status_code == 204
    assert v2.get_object(Bucket=bucket, Key="v2key")["Body"].read() == b"hello"


def test_anonymous_post_needs_the_bucket_policy(server: Server, s3: Any, bucket: str) -> None:
    url = f"{server.url}/{bucket}"
    response = _post(url, {"key": "anon"})
    assert response.status_code == 403 and error_code(response) == "AccessDenied"
    _absent(s3, bucket, "anon")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                                                      "Resource": f"arn:aws:s3:::{bucket}/drop/*"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert _post(url, {"key": "drop/anon"}).status_code == 204
    assert _post(url, {"key": "elsewhere"}).status_code == 403
    # A public ACL on what an anonymous form creates needs more than PutObject.
    assert _post(url, {"key": "drop/pub", "acl": "public-read"}).status_code == 403


def _absent(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _resign(fields: dict[str, str], doc: dict[str, Any] | bytes) -> dict[str, str]:
    """The form with a new policy document, signed like boto3 signs one (SigV4)."""
    from smarts3.auth import sigv4

    encoded = base64.b64encode(doc if isinstance(doc, bytes) else json.dumps(doc).encode()).decode()
    _, date, region, service, _ = fields["x-amz-credential"].split("/")
    key = sigv4.signing_key(SECRET_KEY, date, region, service)
    return {**fields, "policy": encoded, "x-amz-signature": sigv4.sign(key, encoded)}


def _case(name: str, s3: Any, bucket: str) -> tuple[dict[str, str], bytes, dict[str, Any]]:
    post = _presign(s3, bucket, "err", conditions=[["content-length-range", 2, 10]])
    fields = dict(post["fields"])
    doc = json.loads(base64.b64decode(fields["policy"]))
    content = b"hello"
    files: dict[str, Any] = {}
    if name == "expired":
        fields = _resign(fields, {**doc, "expiration": "2020-01-01T00:00:00Z"})
    elif name == "condition":
        fields = _resign(fields, {**doc, "conditions": [*doc["conditions"], ["starts-with", "$key", "users/"]]})
    elif name == "extra-field":
        fields["x-amz-meta-sneaky"] = "1"
    elif name == "bad-signature":
        fields["x-amz-signature"] = "0" * 64
    elif name == "unknown-key":
        fields["x-amz-credential"] = "NOSUCHKEY/" + fields["x-amz-credential"].split("/", 1)[1]
    elif name == "policy-not-json":
        fields = _resign(fields, b"{nope")
    elif name == "policy-no-expiration":
        fields = _resign(fields, {"conditions": doc["conditions"]})
    elif name == "too-large":
        content = b"x" * 11
    elif name == "too-small":
        content = b"x"
    elif name == "no-key":
        del fields["key"]
    elif name == "signature-without-policy":
        del fields["policy"]
    elif name == "pre-data-too-large":
        fields["x-ignore-padding"] = "p" * (21 * 1024)
    elif name == "two-files":
        files = {"file2": ("b", b"b")}
    return fields, content, files


ERRORS = [
    ("expired", 403, "AccessDenied", "Policy expired"),
    ("condition", 403, "AccessDenied", "Policy Condition failed"),
    ("extra-field", 403, "AccessDenied", "Extra input fields: x-amz-meta-sneaky"),
    ("bad-signature", 403, "SignatureDoesNotMatch", ""),
    ("unknown-key", 403, "InvalidAccessKeyId", ""),
    ("policy-not-json", 400, "InvalidPolicyDocument", "Invalid JSON"),
    ("policy-no-expiration", 400, "InvalidPolicyDocument", "missing expiration"),
    ("too-large", 400, "EntityTooLarge", ""),
    ("too-small", 400, "EntityTooSmall", ""),
    ("no-key", 400, "InvalidArgument", "key"),
    ("signature-without-policy", 400, "InvalidArgument", "Policy"),
    ("pre-data-too-large", 400, "MaxPostPreDataLengthExceeded", ""),
]


@pytest.mark.parametrize(("name", "status", "code", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_matrix(s3: Any, bucket: str, name: str, status: int, code: str, message: str) -> None:
    fields, content, _ = _case(name, s3, bucket)
    response = _post(s3.meta.endpoint_url + f"/{bucket}", fields, content)
    assert (response.status_code, error_code(response)) == (status, code), response.text
    assert message in response.text
    _absent(s3, bucket, "err")


def _raw(url: str, body: bytes, content_type: str = "multipart/form-data; boundary=B") -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": content_type}, timeout=30)


def _part(name: str, value: str, filename: str | None = None) -> bytes:
    extra = f'; filename="{filename}"' if filename else ""
    return f'--B\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n{value}\r\n'.encode()


def test_malformed_forms(server: Server, s3: Any, bucket: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                                                      "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    url = f"{server.url}/{bucket}"
    cases = [
        (_raw(url, b"key=x", "application/x-www-form-urlencoded"), 412, "PreconditionFailed"),
        (_raw(url, _part("key", "k") + b"--B--\r\n"), 400, "IncorrectNumberOfFilesInPostRequest"),
        (_raw(url, _part("key", "k") + _part("file", "a", "a") + _part("file", "b", "b") + b"--B--\r\n"), 400,
         "IncorrectNumberOfFilesInPostRequest"),
        (_raw(url, _part("key", "k") + _part("file", "truncated", "a")[:-2]), 400, "MalformedPOSTRequest"),
        (_raw(url, b"garbage without boundaries"), 400, "MalformedPOSTRequest"),
        (_raw(url, b"".join(_part(f"x-ignore-{i}", "") for i in range(600)) + _part("file", "a", "a") + b"--B--\r\n"),
         400, "MaxPostPreDataLengthExceeded"),  # empty fields cost their headers
    ]
    for response, status, code in cases:
        assert (response.status_code, error_code(response)) == (status, code), response.text
    _absent(s3, bucket, "k")
    # Fields after the file are ignored, as S3 ignores them.
    response = _raw(url, _part("key", "k") + _part("file", "data", "a") + _part("acl", "public-read") + b"--B--\r\n")
    assert response.status_code == 204, response.text
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


@pytest.fixture(scope="module")
def subprocess_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    proc, url = start_subprocess_server(tmp_path_factory.mktemp("post") / "data", "--fsync", "never")
    try:
        yield proc, url
    finally:
        stop_server(proc)


def test_large_upload_is_streamed(subprocess_server: tuple[Any, str]) -> None:
    proc, url = subprocess_server
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="us-east-1", config=BotoConfig(retries={"total_max_attempts": 1}))
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    post = _presign(s3, bucket, "big")
    size, block = 256 * 1024 * 1024, b"z" * (1024 * 1024)
    head = b"".join(_part(k, v) for k, v in post["fields"].items()) + _part("file", "", "big")[:-2]

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(size // len(block)):
            yield block
        yield b"\r\n--B--\r\n"

    with PeakRss(proc.pid) as peak:
        response = httpx.post(post["url"], content=body(), timeout=120,
                              headers={"content-type": "multipart/form-data; boundary=B"})
    assert response.status_code == 204, response.text
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == size
    growth = peak.peak - peak.baseline
    print(f"peak RSS growth for a {size >> 20} MiB POST: {growth >> 20} MiB")
    assert growth < 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"acl": "not-a-canned-acl"}, 400, "InvalidArgument"),
        ({"tagging": "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"}, 400, "MalformedXML"),
        ({"x-amz-storage-class": "FANCY"}, 400, "InvalidStorageClass"),
        ({"x-amz-checksum-md7": "x"}, 400, "InvalidRequest"),
    ],
)
def test_bad_metadata_is_refused_before_storing(s3: Any, bucket: str, fields: dict[str, str], status: int,
                                                code: str) -> None:
    post = _presign(s3, bucket, "meta", fields, [{k: v} for k, v in fields.items()])
    response = _post(post["url"], post["fields"])
    assert (response.status_code, error_code(response)) == (status, code), response.text
    _absent(s3, bucket, "meta")


def test_policy_sees_the_form_tags(server: Server, s3: Any, bucket: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "red"}}}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    url = f"{server.url}/{bucket}"
    red = "<Tagging><TagSet><Tag><Key>team</Key><Value>red</Value></Tag></TagSet></Tagging>"
    assert _post(url, {"key": "tagged", "tagging": red}).status_code == 204
    assert _post(url, {"key": "untagged"}).status_code == 403
