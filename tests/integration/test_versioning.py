"""S3 versioning over HTTP with boto3: the bucket state machine, version ids on every write,
delete markers, every versionId operation, and conditional writes against the current version."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error

# Core S3 behaviour: run on SQLite and on PostgreSQL metadata in every CI run (tests/conftest.py).
pytestmark = pytest.mark.both_metadata


def _enable(s3: Any, bucket: str, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def _fails(call: Any) -> tuple[tuple[str, int], dict[str, str]]:
    with pytest.raises(ClientError) as err:
        call()
    return client_error(err.value), err.value.response["ResponseMetadata"]["HTTPHeaders"]


def test_state_machine(s3: Any, bucket: str) -> None:
    # Never versioned: an empty configuration (no Status at all).
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    _enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    _enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    _enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # No way back to unversioned, and MFA delete is not built.
    code, _ = _fails(lambda: _enable(s3, bucket, "Disabled"))
    assert code == ("MalformedXML", 400)
    code, _ = _fails(
        lambda: s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}
        )
    )
    assert code == ("NotImplemented", 501)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    code, _ = _fails(lambda: s3.get_bucket_versioning(Bucket=bucket + "-missing"))
    assert code == ("NoSuchBucket", 404)


def test_unversioned_bucket_sends_no_version_headers(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert "VersionId" not in put
    assert "VersionId" not in s3.head_object(Bucket=bucket, Key="k")
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert "DeleteMarker" not in deleted and "VersionId" not in deleted
    listing = s3.list_object_versions(Bucket=bucket)
    assert "Versions" not in listing and "DeleteMarkers" not in listing


def test_versions_and_delete_markers(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the "null" version
    _enable(s3, bucket)
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert len({v1, v2, "null"}) == 3
    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["Body"].read(), got["VersionId"]) == (b"two", v2)
    for vid, body in (("null", b"before"), (v1, b"one"), (v2, b"two")):
        assert s3.get_object(Bucket=bucket, Key="k", VersionId=vid)["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key="k", VersionId=vid)["ContentLength"] == len(body)

    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True
    marker_id = marker["VersionId"]
    # Current version is a marker: 404 NoSuchKey with x-amz-delete-marker.
    code, headers = _fails(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert code == ("NoSuchKey", 404)
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker_id
    code, headers = _fails(lambda: s3.head_object(Bucket=bucket, Key="k"))
    assert code[1] == 404 and headers["x-amz-delete-marker"] == "true"
    # The marker by id: 405 with an Allow header.
    code, headers = _fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=marker_id))
    assert code == ("MethodNotAllowed", 405)
    assert headers["x-amz-delete-marker"] == "true" and headers["allow"] == "DELETE"
    code, headers = _fails(lambda: s3.head_object(Bucket=bucket, Key="k", VersionId=marker_id))
    assert code[1] == 405 and headers["x-amz-delete-marker"] == "true"
    # Listings skip the deleted key; the versions are all still there.
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert "Contents" not in s3.list_objects(Bucket=bucket)
    listing = s3.list_object_versions(Bucket=bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [(marker_id, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listing["Versions"]] == [(v2, False), (v1, False), ("null", False)]

    # Removing the marker by id brings v2 back as the current version.
    undone = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker_id)
    assert undone["DeleteMarker"] is True and undone["VersionId"] == marker_id
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v2
    # Deleting the current version for good: v1 becomes current.
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert gone["VersionId"] == v2 and "DeleteMarker" not in gone
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    code, _ = _fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=v2))
    assert code == ("NoSuchVersion", 404)
    # Deleting a version that is not there is no error (as S3).
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)["VersionId"] == v2


def test_invalid_version_ids(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for call in (
        lambda: s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version"),
        lambda: s3.head_object(Bucket=bucket, Key="k", VersionId="not-a-version"),
        lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId="not-a-version"),
        lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="not-a-version"),
        lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k", "VersionId": "x"}),
    ):
        code, _ = _fails(call)
        assert code[1] == 400 and code[0] in ("InvalidArgument", "400")  # HEAD: no body, no code
    code, _ = _fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 32))
    assert code == ("NoSuchVersion", 404)
    code, _ = _fails(lambda: s3.list_object_versions(Bucket=bucket, VersionIdMarker="null"))
    assert code == ("InvalidArgument", 400)


def test_suspended_writes_replace_the_null_version(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    _enable(s3, bucket, "Suspended")
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"n1")["VersionId"] == "null"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"n2")["VersionId"] == "null"
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [("null", True, 2), (kept, False, 4)]
    # A delete while suspended: a "null" marker that replaces the null version.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing["Versions"]] == [kept]
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [("null", True)]


def test_copy_tagging_and_multipart_by_version(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"first" * 1000)["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"second")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"first" * 1000
    # A copy onto itself in a versioned bucket makes a new version.
    again = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"}, MetadataDirective="REPLACE"
    )
    assert again["VersionId"] != copied["VersionId"]
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="dst")["Versions"]) == 2

    tag_set = {"TagSet": [{"Key": "a", "Value": "1"}]}
    tagged = s3.put_object_tagging(Bucket=bucket, Key="src", VersionId=v1, Tagging=tag_set)
    assert tagged["VersionId"] == v1
    assert s3.get_object_tagging(Bucket=bucket, Key="src", VersionId=v1)["TagSet"] == [{"Key": "a", "Value": "1"}]
    assert s3.get_object_tagging(Bucket=bucket, Key="src")["TagSet"] == []
    s3.delete_object_tagging(Bucket=bucket, Key="src", VersionId=v1)
    assert s3.get_object_tagging(Bucket=bucket, Key="src", VersionId=v1)["TagSet"] == []

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1},
    )
    assert part["CopySourceVersionId"] == v1
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert done["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="mp", VersionId=done["VersionId"])["Body"].read() == b"first" * 1000


def test_delete_objects_with_versions(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"2")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "VersionId": v1}, {"Key": "b"}, {"Key": "c", "VersionId": "bogus"}]},
    )
    deleted = {d["Key"]: d for d in result["Deleted"]}
    assert deleted["a"]["VersionId"] == v1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True and deleted["b"]["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("c", "NoSuchVersion")]
    marker = deleted["b"]["DeleteMarkerVersionId"]
    again = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b", "VersionId": marker}]})
    assert again["Deleted"][0]["DeleteMarker"] is True and again["Deleted"][0]["DeleteMarkerVersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"2"


def test_delete_bucket_refused_while_versions_remain(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    vid = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    assert _fails(lambda: s3.delete_bucket(Bucket=bucket))[0] == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=vid)
    assert _fails(lambda: s3.delete_bucket(Bucket=bucket))[0] == ("BucketNotEmpty", 409)  # the marker
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=bucket)


def test_conditional_writes_against_current_version(s3: Any, bucket: str) -> None:
    _enable(s3, bucket)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["ETag"]
    assert _fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*"))[0][1] == 412
    s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch="*")
    assert _fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=etag))[0][1] == 412
    s3.delete_object(Bucket=bucket, Key="k")  # current: a delete marker, so the key "does not exist"
    assert _fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch="*"))[0] == ("NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfNoneMatch="*")
    # If-None-Match with an ETag: refused only when the current object has it.
    current = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    code, _ = _fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"4", IfNoneMatch=current))
    assert code[1] == 412
    s3.put_object(Bucket=bucket, Key="k", Body=b"4", IfNoneMatch=etag)
    # Reads: preconditions apply to the current version (or the one named).
    newest = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    assert _fails(lambda: s3.get_object(Bucket=bucket, Key="k", IfMatch=etag))[0][1] == 412
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=newest)["Body"].read() == b"4"
