"""Service and bucket operations with boto3."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, error_code, signed

pytestmark = pytest.mark.both_metadata


def test_create_head_list_delete(s3: Any) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    created = s3.create_bucket(Bucket=name)
    assert created["Location"] == f"/{name}"
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name)
    assert client_error(err.value) == ("404", 404)


def test_location_constraint_round_trips(s3: Any) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "UPPER", "has_underscore", "-start", "end-", "a..b", "192.168.1.1", "xn--abc", "a.-b",
     "bucket-s3alias"],
)
def test_invalid_bucket_names(server: Any, name: str) -> None:
    response = signed("PUT", f"{server.url}/{name}")
    assert response.status_code == 400
    assert error_code(response) == "InvalidBucketName"


def test_bucket_already_owned(s3: Any, bucket: str) -> None:
    """Issue 12: in us-east-1 AWS answers 200 to a second CreateBucket of your own bucket (it was
    409 here); elsewhere 409 BucketAlreadyOwnedByYou (tests/integration/test_aws_edges.py)."""
    s3.create_bucket(Bucket=bucket)


def test_delete_bucket_not_empty_and_missing(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(err.value) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchBucket", 404)


def test_delete_bucket_with_upload_in_progress(s3: Any, bucket: str) -> None:
    # As S3: an upload in progress is not an object; only objects keep the bucket.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(err.value) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="obj")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=upload["UploadId"])
    assert client_error(err.value) == ("NoSuchBucket", 404)


def test_list_buckets_prefix_and_pages(s3: Any) -> None:
    prefix = f"lb-{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i:02d}" for i in range(5)]
    for name in names:
        s3.create_bucket(Bucket=name)
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"Prefix": prefix, "MaxBuckets": 2}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_buckets(**kwargs)
        assert len(page["Buckets"]) <= 2
        seen += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert seen == names


def test_versioning_is_an_empty_configuration(s3: Any, bucket: str) -> None:
    # A bucket that never had versioning (the state machine: test_versioning.py).
    response = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in response


def test_bucket_tagging(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_bucket_tagging(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchTagSet", 404)
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "ci"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert sorted(s3.get_bucket_tagging(Bucket=bucket)["TagSet"], key=lambda t: t["Key"]) == sorted(
        tags, key=lambda t: t["Key"]
    )
    with pytest.raises(ClientError) as err:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "aws:x", "Value": "y"}]})
    assert client_error(err.value) == ("InvalidTag", 400)
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


def test_operations_on_missing_bucket(s3: Any) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    for call in (
        lambda: s3.put_object(Bucket=missing, Key="k", Body=b"x"),
        lambda: s3.list_objects_v2(Bucket=missing),
        lambda: s3.get_object(Bucket=missing, Key="k"),
        lambda: s3.create_multipart_upload(Bucket=missing, Key="k"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert client_error(err.value) == ("NoSuchBucket", 404)


@pytest.mark.parametrize("sub", ["website", "replication", "notification"])
def test_unserved_bucket_subresources_are_not_implemented(server: Any, bucket: str, sub: str) -> None:
    response = signed("GET", f"{server.url}/{bucket}?{sub}")
    assert response.status_code == 501, response.text
    assert error_code(response) == "NotImplemented"
    assert "ListBucketResult" not in response.text
