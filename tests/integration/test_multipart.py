"""Multipart uploads over HTTP: boto3 and the AWS CLI against the real server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

# Core S3 behaviour: run on SQLite and on PostgreSQL metadata in every CI run (tests/conftest.py).
pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024
PART = 5 * MiB

# Random bodies made once: the server sees distinct, incompressible bytes.
BODY_A = os.urandom(PART)
BODY_B = os.urandom(PART)


def md5_of_md5s(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def quoted_md5(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def raw_digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return crt.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crt.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(algorithm.lower(), data).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def upload_parts(s3: Any, bucket: str, key: str, upload_id: str, bodies: list[bytes],
                 **extra: Any) -> list[dict[str, Any]]:
    """Upload bodies as parts 1..n; returns the Parts list CompleteMultipartUpload wants."""
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                Body=body, **extra)
        assert answer["ETag"] == quoted_md5(body)
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        part.update({k: v for k, v in answer.items() if k.startswith("Checksum")
                     and k != "ChecksumType"})
        parts.append(part)
    return parts


def create(s3: Any, bucket: str, key: str, **extra: Any) -> str:
    return str(s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"])


def complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]],
             **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **extra)
    return answer


def aws_cli(server: Any, *args: str) -> str:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert exe, "the AWS CLI is not installed next to the interpreter"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    done = subprocess.run([exe, "--endpoint-url", server.url, "--output", "json", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


# ---------------------------------------------------------------- the happy path


def test_create_upload_complete(s3: Any, bucket: str) -> None:
    tail = b"the last part may be small"
    upload_id = create(s3, bucket, "obj", ContentType="application/x-test",
                       Metadata={"colour": "blue"})
    parts = upload_parts(s3, bucket, "obj", upload_id, [BODY_A, tail])
    done = complete(s3, bucket, "obj", upload_id, parts)
    assert done["ETag"] == md5_of_md5s([BODY_A, tail])
    assert done["Bucket"] == bucket
    assert done["Key"] == "obj"

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == BODY_A + tail
    assert got["ETag"] == done["ETag"]
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["ContentLength"] == PART + len(tail)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(c["Key"], c["ETag"], c["Size"]) for c in listed] == [
        ("obj", done["ETag"], PART + len(tail))]
    # The upload is gone once completed.
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="obj", UploadId=upload_id)
    assert error_of(exc) == (404, "NoSuchUpload")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_single_small_part_and_subset_of_parts(s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "one")
    parts = upload_parts(s3, bucket, "one", upload_id, [b"x", b"y", b"z"])
    # Any subset of the uploaded parts may be completed; the others are dropped.
    done = complete(s3, bucket, "one", upload_id, [parts[2]])
    assert done["ETag"] == md5_of_md5s([b"z"])
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"z"


# ---------------------------------------------------------------- complete errors


def test_invalid_part_wrong_etag_and_missing_part(s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "k")
    parts = upload_parts(s3, bucket, "k", upload_id, [BODY_A, b"tail"])
    wrong = [parts[0], {"PartNumber": 2, "ETag": quoted_md5(b"something else")}]
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, wrong)
    assert error_of(exc) == (400, "InvalidPart")
    missing = [*parts, {"PartNumber": 3, "ETag": quoted_md5(b"never uploaded")}]
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, missing)
    assert error_of(exc) == (400, "InvalidPart")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    # A failed complete leaves the upload usable.
    done = complete(s3, bucket, "k", upload_id, parts)
    assert done["ETag"] == md5_of_md5s([BODY_A, b"tail"])


def test_invalid_part_order(s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "k")
    parts = upload_parts(s3, bucket, "k", upload_id, [BODY_A, b"tail"])
    for order in ([parts[1], parts[0]], [parts[0], parts[0]]):
        with pytest.raises(ClientError) as exc:
            complete(s3, bucket, "k", upload_id, order)
        assert error_of(exc) == (400, "InvalidPartOrder")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_entity_too_small_unless_last(s3: Any, bucket: str) -> None:
    small = os.urandom(MiB)
    upload_id = create(s3, bucket, "k")
    parts = upload_parts(s3, bucket, "k", upload_id, [small, small])
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, parts)
    assert error_of(exc) == (400, "EntityTooSmall")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    # The same small part is fine as the last one.
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=BODY_A)
    done = complete(s3, bucket, "k", upload_id,
                    [{"PartNumber": 1, "ETag": quoted_md5(BODY_A)}, parts[1]])
    assert done["ETag"] == md5_of_md5s([BODY_A, small])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY_A + small


def test_reuploading_a_part_replaces_it(s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "k")
    first = upload_parts(s3, bucket, "k", upload_id, [b"first version"])
    second = upload_parts(s3, bucket, "k", upload_id, [b"second"])
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, quoted_md5(b"second"), 6)]
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, first)
    assert error_of(exc) == (400, "InvalidPart")
    complete(s3, bucket, "k", upload_id, second)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_upload_part_copy_with_and_without_range(s3: Any, bucket: str) -> None:
    source = BODY_B + BODY_A[:1000]
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = create(s3, bucket, "dst")
    ranged = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "src"},
                                 CopySourceRange=f"bytes=100-{PART + 99}")
    expected_first = source[100:PART + 100]
    assert ranged["CopyPartResult"]["ETag"] == quoted_md5(expected_first)
    whole = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                                CopySource=f"{bucket}/src")
    assert whole["CopyPartResult"]["ETag"] == quoted_md5(source)
    small = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=3,
                                CopySource={"Bucket": bucket, "Key": "src"},
                                CopySourceRange="bytes=0-9")
    assert small["CopyPartResult"]["ETag"] == quoted_md5(source[:10])
    parts = [{"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]}
             for n, r in ((1, ranged), (2, whole), (3, small))]
    done = complete(s3, bucket, "dst", upload_id, parts)
    assert done["ETag"] == md5_of_md5s([expected_first, source, source[:10]])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == (
        expected_first + source + source[:10])


def test_upload_part_copy_bad_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    upload_id = create(s3, bucket, "dst")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource=f"{bucket}/src", CopySourceRange="bytes=5-100")
    assert error_of(exc) == (416, "InvalidRange")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource=f"{bucket}/missing")
    assert error_of(exc) == (404, "NoSuchKey")


def test_abort_then_no_such_upload(s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "k")
    parts = upload_parts(s3, bucket, "k", upload_id, [b"data"])
    assert s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"x")
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, parts)
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert error_of(exc) == (404, "NoSuchUpload")
    # An upload id is bound to its key.
    other = create(s3, bucket, "other")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=other)
    assert error_of(exc) == (404, "NoSuchUpload")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


# ---------------------------------------------------------------- listing parts and uploads


def test_list_parts_pagination(s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "k")
    bodies = [f"part {n}".encode() for n in range(1, 6)]
    upload_parts(s3, bucket, "k", upload_id, bodies)
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["MaxParts"] == 2
    assert first["Parts"][0]["ETag"] == quoted_md5(bodies[0])
    assert first["Parts"][0]["Size"] == len(bodies[0])
    rest = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 4, 5]
    assert rest["IsTruncated"] is False
    assert rest["PartNumberMarker"] == 2
    walked = s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="k", UploadId=upload_id, PaginationConfig={"PageSize": 2})
    assert [p["PartNumber"] for page in walked for p in page["Parts"]] == [1, 2, 3, 4, 5]


def test_list_multipart_uploads(s3: Any, bucket: str) -> None:
    made = [(key, create(s3, bucket, key)) for key in ("a/1", "a/2", "b/1", "c", "c", "d")]
    everything = s3.list_multipart_uploads(Bucket=bucket)
    listed = [(u["Key"], u["UploadId"]) for u in everything["Uploads"]]
    assert sorted(listed) == sorted(made)
    assert [k for k, _ in listed] == ["a/1", "a/2", "b/1", "c", "c", "d"]
    assert everything["IsTruncated"] is False
    assert all(u["Initiated"] for u in everything["Uploads"])

    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")["Uploads"]] == [
        "a/1", "a/2"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in grouped["Uploads"]] == ["c", "c", "d"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "b/"]

    after_c = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="c")
    assert [u["Key"] for u in after_c["Uploads"]] == ["d"]

    # Page by hand with max-uploads and both markers: every upload exactly once.
    seen: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxUploads": 2}
    for _ in range(10):
        page = s3.list_multipart_uploads(**kwargs)
        seen.extend((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
        assert len(page.get("Uploads", [])) <= 2
        if not page["IsTruncated"]:
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])
    assert seen == listed
    # The upload-id marker splits the two uploads of "c".
    c_ids = [i for k, i in listed if k == "c"]
    tail = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="c", UploadIdMarker=c_ids[0])
    assert [(u["Key"], u["UploadId"]) for u in tail["Uploads"]] == [
        ("c", c_ids[1]), *[(k, i) for k, i in listed if k == "d"]]

    walked = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 4})
    assert [(u["Key"], u["UploadId"]) for p in walked for u in p.get("Uploads", [])] == listed


# ---------------------------------------------------------------- part reads and buckets


def test_part_number_reads(s3: Any, bucket: str) -> None:
    tail = b"0123456789"
    upload_id = create(s3, bucket, "k")
    complete(s3, bucket, "k", upload_id, upload_parts(s3, bucket, "k", upload_id, [BODY_A, tail]))
    total = PART + len(tail)
    first = s3.get_object(Bucket=bucket, Key="k", PartNumber=1)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert first["PartsCount"] == 2
    assert first["ContentLength"] == PART
    assert first["ContentRange"] == f"bytes 0-{PART - 1}/{total}"
    assert first["Body"].read() == BODY_A
    second = s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert second["ContentRange"] == f"bytes {PART}-{total - 1}/{total}"
    assert second["Body"].read() == tail
    head = s3.head_object(Bucket=bucket, Key="k", PartNumber=2)
    assert head["ContentLength"] == len(tail)
    assert head["PartsCount"] == 2
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=3)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    # A plain object has exactly one part: the whole body, as a 206 (S3), and no part 2.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"abc")
    whole = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert whole["Body"].read() == b"abc"
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert whole["ContentRange"] == "bytes 0-2/3"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)
    assert error_of(exc) == (400, "InvalidPart")


def test_delete_bucket_with_upload_in_progress(s3: Any, bucket: str) -> None:
    # As S3: uploads in progress are not objects; deleting the bucket aborts them.
    upload_id = create(s3, bucket, "pending")
    upload_parts(s3, bucket, "pending", upload_id, [b"a part"])
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=bucket)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.create_bucket(Bucket=bucket)  # the same name again starts empty
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="pending", UploadId=upload_id)
    assert error_of(exc) == (404, "NoSuchUpload")


# ---------------------------------------------------------------- checksums


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("CRC32", "COMPOSITE"), ("CRC32", "FULL_OBJECT"), ("SHA256", "COMPOSITE"),
     ("CRC64NVME", "FULL_OBJECT")],
)
def test_multipart_checksums(s3: Any, bucket: str, algorithm: str, kind: str) -> None:
    bodies = [BODY_A, b"tail of the object"]
    whole = b"".join(bodies)
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm,
                                         ChecksumType=kind)
    assert created["ChecksumAlgorithm"] == algorithm
    assert created["ChecksumType"] == kind
    upload_id = created["UploadId"]
    parts = upload_parts(s3, bucket, "k", upload_id, bodies, ChecksumAlgorithm=algorithm)
    field = "Checksum" + algorithm
    assert [p[field] for p in parts] == [b64(raw_digest(algorithm, b)) for b in bodies]

    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert listed["ChecksumAlgorithm"] == algorithm
    assert [p[field] for p in listed["Parts"]] == [p[field] for p in parts]

    if kind == "COMPOSITE":
        joined = b"".join(raw_digest(algorithm, b) for b in bodies)
        expected = f"{b64(raw_digest(algorithm, joined))}-{len(bodies)}"
    else:
        expected = b64(raw_digest(algorithm, whole))
        with pytest.raises(ClientError) as exc:  # a wrong whole-object value is refused
            complete(s3, bucket, "k", upload_id, parts, ChecksumType=kind,
                     **{field: b64(raw_digest(algorithm, b"not the body"))})
        assert error_of(exc) == (400, "BadDigest")
    done = complete(s3, bucket, "k", upload_id, parts)
    assert done[field] == expected
    assert done["ChecksumType"] == kind
    assert done["ETag"] == md5_of_md5s(bodies)

    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[field] == expected
    assert head["ChecksumType"] == kind
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[field] == expected
    assert got["Body"].read() == whole
    without = s3.head_object(Bucket=bucket, Key="k")
    assert field not in without


def test_full_object_checksum_sent_on_complete(s3: Any, bucket: str) -> None:
    bodies = [BODY_B, b"end"]
    upload_id = create(s3, bucket, "k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    parts = upload_parts(s3, bucket, "k", upload_id, bodies, ChecksumAlgorithm="CRC32")
    expected = b64(raw_digest("CRC32", b"".join(bodies)))
    done = complete(s3, bucket, "k", upload_id, parts, ChecksumCRC32=expected,
                    ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC32"] == expected


def test_checksum_type_without_algorithm_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumType="FULL_OBJECT")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256",
                                   ChecksumType="FULL_OBJECT")
    assert error_of(exc) == (400, "InvalidRequest")


# ---------------------------------------------------------------- conditional complete


def test_conditional_complete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="exists", Body=b"original")
    upload_id = create(s3, bucket, "exists")
    parts = upload_parts(s3, bucket, "exists", upload_id, [b"replacement"])
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "exists", upload_id, parts, IfNoneMatch="*")
    assert error_of(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"original"
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "exists", upload_id, parts, IfMatch=quoted_md5(b"other"))
    assert error_of(exc) == (412, "PreconditionFailed")
    done = complete(s3, bucket, "exists", upload_id, parts, IfMatch=quoted_md5(b"original"))
    assert done["ETag"] == md5_of_md5s([b"replacement"])
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"replacement"

    fresh = create(s3, bucket, "fresh")
    fresh_parts = upload_parts(s3, bucket, "fresh", fresh, [b"new"])
    complete(s3, bucket, "fresh", fresh, fresh_parts, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"new"


# ---------------------------------------------------------------- the AWS CLI


def test_cli_cp_20_mib_is_multipart(server: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    aws_cli(server, "s3", "cp", str(source), f"s3://{bucket}/big.bin")
    chunk = 8 * MiB  # the CLI's default multipart_chunksize
    expected = md5_of_md5s([data[i:i + chunk] for i in range(0, len(data), chunk)])
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"] == expected
    assert head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


def test_cli_list_parts_and_uploads(server: Any, s3: Any, bucket: str) -> None:
    upload_id = create(s3, bucket, "dir/k")
    upload_parts(s3, bucket, "dir/k", upload_id, [b"one", b"two"])
    parts = json.loads(aws_cli(server, "s3api", "list-parts", "--bucket", bucket, "--key", "dir/k",
                               "--upload-id", upload_id))
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts["Parts"]] == [
        (1, quoted_md5(b"one"), 3), (2, quoted_md5(b"two"), 3)]
    uploads = json.loads(aws_cli(server, "s3api", "list-multipart-uploads", "--bucket", bucket))
    assert [(u["Key"], u["UploadId"]) for u in uploads["Uploads"]] == [("dir/k", upload_id)]
