"""x-amz-checksum-* end to end: single PUTs, the aws-chunked trailer form and UploadPart, for every algorithm."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.integration import chunked
from tests.integration.helpers import error_code, signed

pytestmark = pytest.mark.both_metadata

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def digest(algorithm: str, data: bytes) -> str:
    """The base64 checksum AWS sends, computed here independently of the server's code."""
    if algorithm == "CRC32":
        raw = crt.crc32(data).to_bytes(4, "big")
    elif algorithm == "CRC32C":
        raw = crt.crc32c(data).to_bytes(4, "big")
    elif algorithm == "CRC64NVME":
        raw = crt.crc64nvme(data).to_bytes(8, "big")
    else:
        raw = hashlib.new(algorithm.lower(), data).digest()
    return base64.b64encode(raw).decode()


def missing(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return bool(exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404)
    return False


@pytest.mark.parametrize("mode", ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trailer_checksum_every_algorithm(server: Server, s3: Any, bucket: str, algorithm: str, mode: str) -> None:
    data = bytes(range(256)) * 700  # several 64 KiB chunks and a short one
    header = f"x-amz-checksum-{algorithm.lower()}"
    url = f"{server.url}/{bucket}/good"
    request = chunked.build(url, data, mode, trailer=(header, digest(algorithm, data)))
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 200, response.text
    got = s3.get_object(Bucket=bucket, Key="good", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm}"] == digest(algorithm, data)
    assert got["ChecksumType"] == "FULL_OBJECT"

    url = f"{server.url}/{bucket}/bad"
    request = chunked.build(url, data, mode, trailer=(header, digest(algorithm, data + b"!")))
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 400
    assert error_code(response) == "BadDigest"
    assert missing(s3, bucket, "bad")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_value_header_disagreeing_with_sdk_algorithm_is_bad_digest(server: Server, s3: Any, bucket: str,
                                                                   algorithm: str) -> None:
    # The AWS API reference: a value header for another algorithm than x-amz-sdk-checksum-algorithm → BadDigest.
    other = "SHA1" if algorithm != "SHA1" else "CRC32"
    body = b"the body"
    response = signed("PUT", f"{server.url}/{bucket}/k", body=body,
                      headers={f"x-amz-checksum-{algorithm.lower()}": digest(algorithm, body),
                               "x-amz-sdk-checksum-algorithm": other})
    assert response.status_code == 400
    assert error_code(response) == "BadDigest"
    assert missing(s3, bucket, "k")
    # The same header with an agreeing SDK algorithm is stored.
    response = signed("PUT", f"{server.url}/{bucket}/k", body=body,
                      headers={f"x-amz-checksum-{algorithm.lower()}": digest(algorithm, body),
                               "x-amz-sdk-checksum-algorithm": algorithm})
    assert response.status_code == 200, response.text
    assert response.headers[f"x-amz-checksum-{algorithm.lower()}"] == digest(algorithm, body)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_single_put_every_algorithm_boto3(s3: Any, bucket: str, algorithm: str) -> None:
    body = b"flexible checksums " * 300
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=body, **{f"Checksum{algorithm}": digest(algorithm, b"x")})
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert missing(s3, bucket, "k")
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, **{f"Checksum{algorithm}": digest(algorithm, body)})
    assert put[f"Checksum{algorithm}"] == digest(algorithm, body)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert listed[0]["ChecksumAlgorithm"] == [algorithm]
    assert listed[0]["ChecksumType"] == "FULL_OBJECT"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_upload_part_wrong_checksum_is_bad_digest(server: Server, s3: Any, bucket: str, algorithm: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm=algorithm)["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=b"part",
                       **{f"Checksum{algorithm}": digest(algorithm, b"not the part")})
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    assert s3.list_parts(Bucket=bucket, Key="m", UploadId=upload_id).get("Parts", []) == []
    # A checksum of another algorithm than the upload declared is refused as AWS does.
    other = "SHA256" if algorithm != "SHA256" else "CRC32"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=b"part",
                       **{f"Checksum{other}": digest(other, b"part")})
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    if algorithm != "CRC64NVME":  # the others default to COMPOSITE: a part must carry its checksum
        plain = server.client(request_checksum_calculation="when_required")
        with pytest.raises(ClientError) as exc:
            plain.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=b"part")
        assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    # The trailer form of UploadPart (what boto3 sends) carries and verifies it too.
    ok = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=b"part",
                        ChecksumAlgorithm=algorithm)
    assert ok[f"Checksum{algorithm}"] == digest(algorithm, b"part")


def test_upload_part_trailer_form_wrong_checksum(server: Server, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm="CRC32C")["UploadId"]
    data = b"p" * 100_000
    url = f"{server.url}/{bucket}/m?partNumber=1&uploadId={upload_id}"
    request = chunked.build(url, data, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                            trailer=("x-amz-checksum-crc32c", digest("CRC32C", b"other")))
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 400
    assert error_code(response) == "BadDigest"
    request = chunked.build(url, data, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                            trailer=("x-amz-checksum-crc32c", digest("CRC32C", data)))
    response = httpx.put(url, content=request.body, headers=request.headers)
    assert response.status_code == 200, response.text
    parts = s3.list_parts(Bucket=bucket, Key="m", UploadId=upload_id)["Parts"]
    assert [p["ChecksumCRC32C"] for p in parts] == [digest("CRC32C", data)]


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_part_without_checksum_gets_one_computed(server: Server, bucket: str, algorithm: str) -> None:
    plain = server.client(request_checksum_calculation="when_required")
    upload_id = plain.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm=algorithm,
                                              ChecksumType="FULL_OBJECT")["UploadId"]
    answer = plain.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=b"part")
    assert answer[f"Checksum{algorithm}"] == digest(algorithm, b"part")
    done = plain.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": answer["ETag"]}]})
    assert done[f"Checksum{algorithm}"] == digest(algorithm, b"part")
