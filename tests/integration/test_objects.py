"""Object operations with boto3: round trips, headers, ranges, checksums, conditions, copy, tags."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, error_code, signed

# Core S3 behaviour: run on SQLite and on PostgreSQL metadata in every CI run (tests/conftest.py).
pytestmark = pytest.mark.both_metadata


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_put_get_head_delete_round_trip(s3: Any, bucket: str) -> None:
    body = b"hello smarts3\n" * 1000
    put = s3.put_object(Bucket=bucket, Key="dir/file.txt", Body=body)
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="dir/file.txt")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentLength"] == len(body)
    assert got["ContentType"] == "binary/octet-stream"
    assert got["AcceptRanges"] == "bytes"
    head = s3.head_object(Bucket=bucket, Key="dir/file.txt")
    assert head["ContentLength"] == len(body)
    assert abs(head["LastModified"].timestamp() - time.time()) < 60
    s3.delete_object(Bucket=bucket, Key="dir/file.txt")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="dir/file.txt")
    assert client_error(err.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="dir/file.txt")
    assert client_error(err.value) == ("404", 404)
    # deleting a missing key is not an error
    assert s3.delete_object(Bucket=bucket, Key="dir/file.txt")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_metadata_and_content_headers_round_trip(s3: Any, bucket: str) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket, Key="m", Body=b"{}", ContentType="application/json", ContentEncoding="gzip",
        ContentDisposition='attachment; filename="a.json"', ContentLanguage="en-GB",
        CacheControl="max-age=60", Expires=expires, Metadata={"Owner": "alice", "x": "y"},
    )
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["ContentType"] == "application/json"
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentDisposition"] == 'attachment; filename="a.json"'
    assert head["ContentLanguage"] == "en-GB"
    assert head["CacheControl"] == "max-age=60"
    assert head["Expires"] == expires
    assert head["Metadata"]["owner"] == "alice"


def test_metadata_too_large(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="big-meta", Body=b"x", Metadata={"a": "v" * 2100})
    assert client_error(err.value) == ("MetadataTooLarge", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="big-meta")


@pytest.mark.parametrize(
    ("header", "expected", "status"),
    [
        ("bytes=0-9", b"0123456789", 206),
        ("bytes=5-", b"56789abcdefghij", 206),
        ("bytes=-5", b"fghij", 206),
        ("bytes=10-1000", b"abcdefghij", 206),
        ("bytes=0-0", b"0", 206),
        ("bytes=-100", b"0123456789abcdefghij", 206),
        ("bytes=9-3", b"0123456789abcdefghij", 200),
        ("items=0-3", b"0123456789abcdefghij", 200),
    ],
)
def test_ranges(s3: Any, bucket: str, header: str, expected: bytes, status: int) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789abcdefghij")
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == status
    assert got["Body"].read() == expected
    if status == 206:
        assert got["ContentRange"].endswith("/20")


def test_unsatisfiable_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-20")
    assert client_error(err.value) == ("InvalidRange", 416)
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */10"


def test_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket, Key="o", ResponseContentType="application/x-test",
        ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
        ResponseContentLanguage="fr", ResponseContentEncoding="identity",
    )
    assert got["ContentType"] == "application/x-test"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "fr"


def test_content_md5(s3: Any, bucket: str, server: Any) -> None:
    body = b"digest me"
    s3.put_object(Bucket=bucket, Key="ok", Body=body, ContentMD5=_b64(hashlib.md5(body).digest()))
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5=_b64(hashlib.md5(b"other").digest()))
    assert client_error(err.value) == ("BadDigest", 400)
    response = signed("PUT", f"{server.url}/{bucket}/invalid", body=body, headers={"Content-MD5": "nope"})
    assert response.status_code == 400
    assert error_code(response) == "InvalidDigest"
    for key in ("bad", "invalid"):
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key=key)


def _crc(fn: Any, body: bytes, width: int) -> str:
    return _b64(fn(body).to_bytes(width, "big"))


CHECKSUMS = {
    "CRC32": lambda b: _crc(crt.crc32, b, 4),
    "CRC32C": lambda b: _crc(crt.crc32c, b, 4),
    "CRC64NVME": lambda b: _crc(crt.crc64nvme, b, 8),
    "SHA1": lambda b: _b64(hashlib.sha1(b).digest()),
    "SHA256": lambda b: _b64(hashlib.sha256(b).digest()),
}


@pytest.mark.parametrize("algorithm", sorted(CHECKSUMS))
def test_flexible_checksums_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    body = b"checksum body " * 500
    expected = CHECKSUMS[algorithm](body)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == expected
    plain = s3.head_object(Bucket=bucket, Key="c")
    assert f"Checksum{algorithm}" not in plain


@pytest.mark.parametrize("algorithm", sorted(CHECKSUMS))
def test_wrong_checksum_rejected_and_nothing_written(server: Any, s3: Any, bucket: str, algorithm: str) -> None:
    body = b"the real body"
    header = f"x-amz-checksum-{algorithm.lower()}"
    response = signed("PUT", f"{server.url}/{bucket}/lying", body=body,
                      headers={header: CHECKSUMS[algorithm](b"another body")})
    assert response.status_code == 400
    assert error_code(response) == "BadDigest"
    response = signed("PUT", f"{server.url}/{bucket}/lying", body=body, headers={header: "!!notbase64"})
    assert response.status_code == 400
    assert error_code(response) == "InvalidRequest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="lying")


def test_conditional_reads(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    before, after = modified - timedelta(hours=1), modified + timedelta(hours=1)

    def status(**kwargs: Any) -> int:
        try:
            return int(s3.get_object(Bucket=bucket, Key="c", **kwargs)["ResponseMetadata"]["HTTPStatusCode"])
        except ClientError as exc:
            return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])

    assert status(IfMatch=etag) == 200
    assert status(IfMatch='"0000"') == 412
    assert status(IfNoneMatch=etag) == 304
    assert status(IfNoneMatch='"0000"') == 200
    assert status(IfModifiedSince=before) == 200
    assert status(IfModifiedSince=after) == 304
    assert status(IfUnmodifiedSince=after) == 200
    assert status(IfUnmodifiedSince=before) == 412
    # AWS precedence: If-Match true wins over If-Unmodified-Since false...
    assert status(IfMatch=etag, IfUnmodifiedSince=before) == 200
    # ...and If-None-Match false (etag differs) wins over If-Modified-Since false.
    assert status(IfNoneMatch='"0000"', IfModifiedSince=after) == 200
    assert status(IfNoneMatch=etag, IfModifiedSince=before) == 304
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert client_error(err.value)[1] == 412


def test_conditional_writes(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="w", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfNoneMatch="*")
    assert client_error(err.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch='"ffffffffffffffffffffffffffffffff"')
    assert client_error(err.value) == ("PreconditionFailed", 412)
    second = s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch=first["ETag"])
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"two"
    assert second["ETag"] != first["ETag"]
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=first["ETag"])
    assert client_error(err.value) == ("NoSuchKey", 404)


def test_copy_object_directives(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"}, Tagging="t=1")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"a": "1"}
    assert head["ContentType"] == "text/plain"
    assert s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"] == [{"Key": "t", "Value": "1"}]
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/csv", TaggingDirective="REPLACE", Tagging="u=2")
    head = s3.head_object(Bucket=bucket, Key="dst2")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "text/csv"
    assert s3.get_object_tagging(Bucket=bucket, Key="dst2")["TagSet"] == [{"Key": "u", "Value": "2"}]
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"copy me"
    # the source can change afterwards without touching the copy
    s3.put_object(Bucket=bucket, Key="src", Body=b"changed")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"


def test_copy_onto_itself(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"me", Metadata={"v": "1"})
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self")
    assert client_error(err.value) == ("InvalidRequest", 400)
    s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self", MetadataDirective="REPLACE",
                   Metadata={"v": "2"})
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"v": "2"}
    assert got["Body"].read() == b"me"


def test_copy_source_conditions_and_errors(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"x")["ETag"]
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="a", CopySource=source, CopySourceIfMatch=etag)
    for kwargs in (
        {"CopySourceIfMatch": '"0000"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfUnmodifiedSince": datetime(2000, 1, 1, tzinfo=UTC)},
        {"CopySourceIfModifiedSince": datetime(2100, 1, 1, tzinfo=UTC)},
    ):
        with pytest.raises(ClientError) as err:
            s3.copy_object(Bucket=bucket, Key="b", CopySource=source, **kwargs)
        assert client_error(err.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "nope"})
    assert client_error(err.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": "no-such-bucket-x", "Key": "k"})
    assert client_error(err.value) == ("NoSuchBucket", 404)


def test_object_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two words"}]
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    with pytest.raises(ClientError) as err:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": too_many})
    assert client_error(err.value)[0] == "InvalidTag"
    with pytest.raises(ClientError) as err:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    assert client_error(err.value) == ("InvalidTag", 400)
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"x"
    with pytest.raises(ClientError) as err:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert client_error(err.value) == ("NoSuchKey", 404)


def test_delete_objects(s3: Any, bucket: str) -> None:
    keys = [f"d/{i}" for i in range(30)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in [*keys[:20], "absent"]]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted([*keys[:20], "absent"])
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[20:]], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v", "VersionId": "abc"}]})
    assert errors["Errors"][0]["Code"] == "NoSuchVersion"


def test_get_part_number_of_single_part_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="p", Body=b"single")
    got = s3.get_object(Bucket=bucket, Key="p", PartNumber=1)
    assert got["Body"].read() == b"single"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="p", PartNumber=2)
    assert client_error(err.value) == ("InvalidPart", 400)  # S3: a PUT object has no part 2


def test_large_object_streams(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * (40 * 4096)  # 40 MiB
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    got = s3.get_object(Bucket=bucket, Key="large")
    digest = hashlib.md5()
    for chunk in got["Body"].iter_chunks(1024 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.md5(body).hexdigest()
    ranged = s3.get_object(Bucket=bucket, Key="large", Range="bytes=10000000-10000009")["Body"].read()
    assert ranged == body[10000000:10000010]
