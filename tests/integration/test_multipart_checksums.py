"""Multipart uploads with ChecksumAlgorithm: every algorithm, COMPOSITE and FULL_OBJECT, over HTTP with boto3."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_checksums import digest

pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024
# Two full parts of different sizes and a short last one: the CRC combination must honour each length.
BODIES = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), os.urandom(17)]
WHOLE = b"".join(BODIES)

CASES = [
    ("CRC32", "COMPOSITE"),
    ("CRC32C", "COMPOSITE"),
    ("SHA1", "COMPOSITE"),
    ("SHA256", "COMPOSITE"),
    ("CRC32", "FULL_OBJECT"),
    ("CRC32C", "FULL_OBJECT"),
    ("CRC64NVME", "FULL_OBJECT"),
]


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def composite(algorithm: str, bodies: list[bytes]) -> str:
    joined = b"".join(base64.b64decode(digest(algorithm, b)) for b in bodies)
    return f"{digest(algorithm, joined)}-{len(bodies)}"


def upload(s3: Any, bucket: str, key: str, algorithm: str, kind: str) -> tuple[str, list[dict[str, Any]]]:
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, ChecksumType=kind)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, kind)
    parts = []
    for number, body in enumerate(BODIES, start=1):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=created["UploadId"], PartNumber=number,
                                Body=body, ChecksumAlgorithm=algorithm)
        assert answer[f"Checksum{algorithm}"] == digest(algorithm, body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"],
                      f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]})
    return created["UploadId"], parts


@pytest.mark.parametrize(("algorithm", "kind"), CASES)
def test_multipart_checksum_end_to_end(s3: Any, bucket: str, algorithm: str, kind: str) -> None:
    field = f"Checksum{algorithm}"
    upload_id, parts = upload(s3, bucket, "k", algorithm, kind)

    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, kind)
    assert [p[field] for p in listed["Parts"]] == [digest(algorithm, b) for b in BODIES]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert (uploads[0]["ChecksumAlgorithm"], uploads[0]["ChecksumType"]) == (algorithm, kind)

    # A wrong per-part checksum is InvalidPart, whatever the type.
    wrong = [dict(p) for p in parts]
    wrong[1][field] = digest(algorithm, b"not part two")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": wrong})
    assert error_of(exc) == (400, "InvalidPart")

    expected = composite(algorithm, BODIES) if kind == "COMPOSITE" else digest(algorithm, WHOLE)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done[field] == expected
    assert done["ChecksumType"] == kind

    for answer in (s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED"),
                   s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")):
        assert answer[field] == expected
        assert answer["ChecksumType"] == kind
    assert field not in s3.head_object(Bucket=bucket, Key="k")
    # A part read returns that part's checksum.
    for number, body in enumerate(BODIES, start=1):
        part = s3.get_object(Bucket=bucket, Key="k", PartNumber=number, ChecksumMode="ENABLED")
        assert part[field] == digest(algorithm, body)
        assert part["Body"].read() == body
    entry = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert (entry["ChecksumAlgorithm"], entry["ChecksumType"]) == ([algorithm], kind)


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_composite_complete_without_part_checksum_is_invalid_part(s3: Any, bucket: str, algorithm: str) -> None:
    upload_id, parts = upload(s3, bucket, "k", algorithm, "COMPOSITE")
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": bare})
    assert error_of(exc) == (400, "InvalidPart")
    assert "missing for part 1" in exc.value.response["Error"]["Message"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done[f"Checksum{algorithm}"] == composite(algorithm, BODIES)


def test_full_object_complete_checks_the_whole_and_the_mode(s3: Any, bucket: str) -> None:
    upload_id, parts = upload(s3, bucket, "k", "CRC32C", "FULL_OBJECT")
    with pytest.raises(ClientError) as exc:  # the mode on Complete must be the upload's
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts},
                                     ChecksumType="COMPOSITE")
    assert error_of(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:  # a whole-object value that is not the body's
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts},
                                     ChecksumCRC32C=digest("CRC32C", b"other"), ChecksumType="FULL_OBJECT")
    assert error_of(exc) == (400, "BadDigest")
    # Part checksums are optional for a full-object CRC: the whole is verified instead.
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": bare},
                                        ChecksumCRC32C=digest("CRC32C", WHOLE), ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC32C"] == digest("CRC32C", WHOLE)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == WHOLE


@pytest.mark.parametrize(("algorithm", "kind"), [("SHA1", "FULL_OBJECT"), ("SHA256", "FULL_OBJECT"),
                                                 ("CRC64NVME", "COMPOSITE")])
def test_unsupported_algorithm_and_type_pairs(s3: Any, bucket: str, algorithm: str, kind: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=kind)
    assert error_of(exc) == (400, "InvalidRequest")


def test_default_types(s3: Any, bucket: str) -> None:
    # Without ChecksumType S3 picks COMPOSITE, except for CRC64NVME which only exists as FULL_OBJECT.
    crc32 = s3.create_multipart_upload(Bucket=bucket, Key="a", ChecksumAlgorithm="CRC32")
    assert crc32["ChecksumType"] == "COMPOSITE"
    crc64 = s3.create_multipart_upload(Bucket=bucket, Key="b", ChecksumAlgorithm="CRC64NVME")
    assert crc64["ChecksumType"] == "FULL_OBJECT"


def test_cli_multipart_with_checksum(server: Any, bucket: str, s3: Any, tmp_path: Any) -> None:
    import json

    from tests.integration.test_multipart import aws_cli

    created = json.loads(aws_cli(server, "s3api", "create-multipart-upload", "--bucket", bucket, "--key", "cli",
                                 "--checksum-algorithm", "SHA256"))
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(BODIES[1:], start=1):
        path = tmp_path / f"part{number}"
        path.write_bytes(body)
        answer = json.loads(aws_cli(server, "s3api", "upload-part", "--bucket", bucket, "--key", "cli",
                                    "--upload-id", upload_id, "--part-number", str(number), "--body", str(path),
                                    "--checksum-algorithm", "SHA256"))
        assert answer["ChecksumSHA256"] == digest("SHA256", body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": answer["ChecksumSHA256"]})
    done = json.loads(aws_cli(server, "s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "cli",
                              "--upload-id", upload_id, "--multipart-upload", json.dumps({"Parts": parts})))
    assert done["ChecksumSHA256"] == composite("SHA256", BODIES[1:])
    head = json.loads(aws_cli(server, "s3api", "head-object", "--bucket", bucket, "--key", "cli",
                              "--checksum-mode", "ENABLED"))
    assert head["ChecksumSHA256"] == composite("SHA256", BODIES[1:])
    assert hashlib.md5(s3.get_object(Bucket=bucket, Key="cli")["Body"].read()).digest() == \
        hashlib.md5(b"".join(BODIES[1:])).digest()


def test_checksum_type_on_complete_of_an_upload_without_algorithm_is_ignored(server: Any, bucket: str) -> None:
    plain = server.client(request_checksum_calculation="when_required")
    upload_id = plain.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = plain.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")["ETag"]
    done = plain.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, ChecksumType="FULL_OBJECT",
                                           MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert "ChecksumType" not in done
    assert plain.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
