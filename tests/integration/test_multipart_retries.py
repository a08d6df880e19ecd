"""CompleteMultipartUpload retried after a lost response, re-uploaded parts, and racing Completes."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.integration.test_checksums import digest
from tests.integration.test_multipart_checksums import composite

# Core S3 behaviour: run on SQLite and on PostgreSQL metadata in every CI run (tests/conftest.py).
pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024
FIRST, SECOND, TAIL = os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def part(s3: Any, bucket: str, key: str, upload_id: str, number: int, body: bytes, **extra: Any) -> dict[str, Any]:
    answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra)
    return {"PartNumber": number, "ETag": answer["ETag"],
            **{k: v for k, v in answer.items() if k.startswith("Checksum") and k != "ChecksumType"}}


def complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                          MultipartUpload={"Parts": parts})
    return answer


def test_repeated_complete_answers_the_same(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    parts = [part(s3, bucket, "k", upload_id, 1, FIRST, ChecksumAlgorithm="SHA256"),
             part(s3, bucket, "k", upload_id, 2, TAIL, ChecksumAlgorithm="SHA256")]
    first = complete(s3, bucket, "k", upload_id, parts)
    again = complete(s3, bucket, "k", upload_id, parts)
    keys = ("Bucket", "Key", "ETag", "ChecksumSHA256", "ChecksumType", "Location")
    assert {k: again.get(k) for k in keys} == {k: first.get(k) for k in keys}
    assert again["ChecksumSHA256"] == composite("SHA256", [FIRST, TAIL])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == FIRST + TAIL

    # Another parts list is not a retry of that Complete.
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, parts[:1])
    assert error_of(exc) == (404, "NoSuchUpload")
    # Nor is the same upload id on another key, and the upload's other calls stay gone.
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "other", upload_id, parts)
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert error_of(exc) == (404, "NoSuchUpload")


def test_retry_after_an_overwrite_still_answers_the_completed_result(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts = [part(s3, bucket, "k", upload_id, 1, TAIL)]
    first = complete(s3, bucket, "k", upload_id, parts)
    s3.put_object(Bucket=bucket, Key="k", Body=b"newer")
    assert complete(s3, bucket, "k", upload_id, parts)["ETag"] == first["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"newer"  # the retry wrote nothing


def test_never_completed_upload_is_no_such_upload(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", "0000000000000000nothing", [{"PartNumber": 1, "ETag": '"00"'}])
    assert error_of(exc) == (404, "NoSuchUpload")


def test_complete_uses_the_latest_upload_of_a_part(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    stale = part(s3, bucket, "k", upload_id, 1, FIRST, ChecksumAlgorithm="CRC32")
    latest = part(s3, bucket, "k", upload_id, 1, SECOND, ChecksumAlgorithm="CRC32")
    tail = part(s3, bucket, "k", upload_id, 2, TAIL, ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as exc:  # the replaced part's ETag no longer names a part
        complete(s3, bucket, "k", upload_id, [stale, tail])
    assert error_of(exc) == (400, "InvalidPart")
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["ChecksumCRC32"]) for p in listed] == [
        (1, latest["ETag"], digest("CRC32", SECOND)), (2, tail["ETag"], digest("CRC32", TAIL))]
    done = complete(s3, bucket, "k", upload_id, [latest, tail])
    assert done["ChecksumCRC32"] == composite("CRC32", [SECOND, TAIL])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == SECOND + TAIL


def test_racing_completes_both_succeed_with_one_result(server: Server, bucket: str) -> None:
    s3 = server.client()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts = [part(s3, bucket, "k", upload_id, 1, FIRST), part(s3, bucket, "k", upload_id, 2, TAIL)]
    clients = [server.client() for _ in range(4)]
    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(lambda c: complete(c, bucket, "k", upload_id, parts), clients))
    assert len({a["ETag"] for a in answers}) == 1
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == FIRST + TAIL


def test_repeated_complete_in_a_versioned_bucket_names_the_same_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="v")["UploadId"]
    parts = [part(s3, bucket, "v", upload_id, 1, TAIL)]
    first = complete(s3, bucket, "v", upload_id, parts)
    again = complete(s3, bucket, "v", upload_id, parts)
    assert first["VersionId"] not in ("", "null")
    assert again["VersionId"] == first["VersionId"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="v")["Versions"]
    assert [v["VersionId"] for v in versions] == [first["VersionId"]]  # the retry wrote nothing
