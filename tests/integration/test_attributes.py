"""GetObjectAttributes over HTTP: every attribute, part pagination, preconditions and the raw XML."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

import defusedxml.ElementTree as ET
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.integration.helpers import error_code, signed
from tests.integration.test_checksums import digest
from tests.integration.test_multipart_checksums import composite

pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def multipart(s3: Any, bucket: str, key: str, bodies: list[bytes], **create: Any) -> dict[str, Any]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        extra = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if "ChecksumAlgorithm" in create else {}
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra)
        parts.append({"PartNumber": number, "ETag": answer["ETag"],
                      **{k: v for k, v in answer.items() if k.startswith("Checksum") and k != "ChecksumType"}})
    done: dict[str, Any] = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                        MultipartUpload={"Parts": parts})
    return done


def test_single_put_every_attribute(s3: Any, bucket: str) -> None:
    body = b"attributes of a plain object"
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256", StorageClass="STANDARD_IA")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert got["ETag"] == put["ETag"].strip('"')
    assert got["Checksum"] == {"ChecksumSHA256": digest("SHA256", body), "ChecksumType": "FULL_OBJECT"}
    assert "ObjectParts" not in got  # a single PUT has no parts
    assert got["StorageClass"] == "STANDARD_IA"
    assert got["ObjectSize"] == len(body)
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    only_size = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert only_size["ObjectSize"] == len(body)
    assert not {"ETag", "Checksum", "StorageClass"} & set(only_size)


def test_object_without_checksum(server: Server, s3: Any, bucket: str) -> None:
    plain = server.client(request_checksum_calculation="when_required")  # boto3 adds a CRC32 otherwise
    plain.put_object(Bucket=bucket, Key="k", Body=b"x")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert "Checksum" not in got
    assert got["StorageClass"] == "STANDARD"


def test_raw_xml_shape(server: Server, s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"raw", ChecksumAlgorithm="CRC32")
    response = signed("GET", f"{server.url}/{bucket}/k?attributes",
                      headers={"x-amz-object-attributes": "ETag,Checksum,StorageClass,ObjectSize"})
    assert response.status_code == 200, response.text
    assert "last-modified" in response.headers
    root = ET.fromstring(response.content)
    assert root.tag == NS + "GetObjectAttributesResponse"
    assert [child.tag.removeprefix(NS) for child in root] == ["ETag", "Checksum", "StorageClass", "ObjectSize"]
    assert root.findtext(NS + "ETag") == put["ETag"].strip('"')  # no quotes in this answer
    assert root.findtext(f"{NS}Checksum/{NS}ChecksumCRC32") == digest("CRC32", b"raw")


def test_multipart_parts_and_pagination(s3: Any, bucket: str) -> None:
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    done = multipart(s3, bucket, "m", bodies, ChecksumAlgorithm="CRC32C")
    got = s3.get_object_attributes(Bucket=bucket, Key="m", ObjectAttributes=ALL)
    assert got["ETag"] == done["ETag"].strip('"')
    assert got["Checksum"] == {"ChecksumCRC32C": composite("CRC32C", bodies), "ChecksumType": "COMPOSITE"}
    assert got["ObjectSize"] == sum(map(len, bodies))
    parts = got["ObjectParts"]
    assert parts["TotalPartsCount"] == 4
    assert parts["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32C"]) for p in parts["Parts"]] == [
        (n, len(b), digest("CRC32C", b)) for n, b in enumerate(bodies, start=1)]

    seen: list[int] = []
    marker = 0
    while True:
        page = s3.get_object_attributes(Bucket=bucket, Key="m", ObjectAttributes=["ObjectParts"], MaxParts=3,
                                        PartNumberMarker=marker)["ObjectParts"]
        assert page["MaxParts"] == 3
        assert int(page["PartNumberMarker"]) == marker
        seen += [p["PartNumber"] for p in page["Parts"]]
        if not page["IsTruncated"]:
            break
        marker = int(page["NextPartNumberMarker"])
        assert marker == seen[-1]
    assert seen == [1, 2, 3, 4]


def test_multipart_without_checksums_lists_only_the_count(server: Server, s3: Any, bucket: str) -> None:
    plain = server.client(request_checksum_calculation="when_required")
    multipart(plain, bucket, "m", [os.urandom(5 * MiB), b"end"])
    parts = s3.get_object_attributes(Bucket=bucket, Key="m", ObjectAttributes=["ObjectParts"])["ObjectParts"]
    assert parts == {"TotalPartsCount": 2}


def test_full_object_multipart_checksum(s3: Any, bucket: str) -> None:
    bodies = [os.urandom(5 * MiB), b"the end"]
    multipart(s3, bucket, "m", bodies, ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT")
    got = s3.get_object_attributes(Bucket=bucket, Key="m", ObjectAttributes=["Checksum", "ObjectParts"])
    assert got["Checksum"] == {"ChecksumCRC64NVME": digest("CRC64NVME", b"".join(bodies)),
                               "ChecksumType": "FULL_OBJECT"}
    assert [p["ChecksumCRC64NVME"] for p in got["ObjectParts"]["Parts"]] == [digest("CRC64NVME", b) for b in bodies]


def test_errors(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket + "-gone", Key="k", ObjectAttributes=["ETag"])
    assert error_of(exc) == (404, "NoSuchBucket")
    url = f"{server.url}/{bucket}/k?attributes"
    for headers, code in [({}, "InvalidRequest"), ({"x-amz-object-attributes": ""}, "InvalidRequest"),
                          ({"x-amz-object-attributes": "ETag,Colour"}, "InvalidArgument"),
                          ({"x-amz-object-attributes": "ETag", "x-amz-max-parts": "many"}, "InvalidArgument")]:
        response = signed("GET", url, headers=headers)
        assert (response.status_code, error_code(response)) == (400, code), headers
    response = signed("GET", url + "&versionId=null", headers={"x-amz-object-attributes": "ObjectSize"})
    assert response.status_code == 200
    response = signed("GET", url + "&versionId=v1", headers={"x-amz-object-attributes": "ObjectSize"})
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")


def test_preconditions(server: Server, s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    url = f"{server.url}/{bucket}/k?attributes"
    base = {"x-amz-object-attributes": "ETag"}
    assert signed("GET", url, headers={**base, "If-Match": etag}).status_code == 200
    assert signed("GET", url, headers={**base, "If-Match": '"other"'}).status_code == 412
    assert signed("GET", url, headers={**base, "If-None-Match": etag}).status_code == 304
    later = (modified + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert signed("GET", url, headers={**base, "If-Modified-Since": later}).status_code == 304


def test_public_object_readable_anonymously(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="pub", Body=b"open", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="priv", Body=b"closed")
    headers = {"x-amz-object-attributes": "ObjectSize,ETag"}
    response = httpx.get(f"{server.url}/{bucket}/pub?attributes", headers=headers)
    assert response.status_code == 200, response.text
    assert ET.fromstring(response.content).findtext(NS + "ETag") == hashlib.md5(b"open").hexdigest()
    response = httpx.get(f"{server.url}/{bucket}/priv?attributes", headers=headers)
    assert response.status_code == 403
