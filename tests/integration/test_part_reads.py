"""GET and HEAD with partNumber: single PUTs, multipart objects (also of one part), ranges and uploads."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.integration.helpers import error_code, signed
from tests.integration.test_checksums import digest

pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_single_put_part_one_is_the_whole_object_as_206(s3: Any, bucket: str) -> None:
    body = b"0123456789"
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="CRC32C")
    got = s3.get_object(Bucket=bucket, Key="k", PartNumber=1, ChecksumMode="ENABLED")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10"
    assert got["Body"].read() == body
    assert "PartsCount" not in got
    assert got["ChecksumCRC32C"] == digest("CRC32C", body)  # the bytes sent are the whole object
    head = s3.head_object(Bucket=bucket, Key="k", PartNumber=1)
    assert (head["ResponseMetadata"]["HTTPStatusCode"], head["ContentLength"]) == (206, 10)
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="k", PartNumber=2)
        assert error_of(exc)[0] == 400
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert error_of(exc) == (400, "InvalidPart")


def test_one_part_multipart_object_reports_its_parts_count(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm="SHA1")["UploadId"]
    answer = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=b"only part",
                            ChecksumAlgorithm="SHA1")
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": answer["ETag"], "ChecksumSHA1": answer["ChecksumSHA1"]}]})
    got = s3.get_object(Bucket=bucket, Key="m", PartNumber=1, ChecksumMode="ENABLED")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["PartsCount"] == 1
    assert got["ChecksumSHA1"] == digest("SHA1", b"only part")
    assert got["Body"].read() == b"only part"
    assert s3.head_object(Bucket=bucket, Key="m", PartNumber=1)["PartsCount"] == 1
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="m", PartNumber=2)
    assert error_of(exc) == (416, "InvalidPartNumber")


def test_every_part_of_a_multipart_object(s3: Any, bucket: str) -> None:
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB + 1), b"last"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=n,
                                                     Body=b)["ETag"]} for n, b in enumerate(bodies, start=1)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload_id, MultipartUpload={"Parts": parts})
    total, offset = sum(map(len, bodies)), 0
    for number, body in enumerate(bodies, start=1):
        got = s3.get_object(Bucket=bucket, Key="m", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(body) - 1}/{total}"
        assert (got["PartsCount"], got["ETag"]) == (3, done["ETag"])
        assert got["Body"].read() == body
        head = s3.head_object(Bucket=bucket, Key="m", PartNumber=number)
        assert (head["ContentLength"], head["PartsCount"]) == (len(body), 3)
        offset += len(body)


def test_part_number_with_range_is_refused(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    response = signed("GET", f"{server.url}/{bucket}/k?partNumber=1", headers={"Range": "bytes=0-1"})
    assert (response.status_code, error_code(response)) == (400, "InvalidRequest")


def test_part_of_an_upload_not_yet_completed_is_no_such_key(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload_id, PartNumber=1, Body=b"part")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="pending", PartNumber=1)
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="pending", PartNumber=1)
    assert error_of(exc)[0] == 404
