"""Lifecycle rules carried out by the sweeper, with a one-second "day" (the lifecycle debug
interval): expiry by days and date, prefix, tag and size filters, delete markers in versioned
buckets, noncurrent versions and NewerNoncurrentVersions, expired delete markers, aborted
uploads, and versions under Object Lock kept. Every wait polls with a deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, server_output, start_subprocess_server

ENV = {"SMARTS3_LIFECYCLE_DAY_SECONDS": "1", "SMARTS3_LIFECYCLE_SWEEP_INTERVAL": "0.3"}
DEADLINE = 20.0


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    proc, url = start_subprocess_server(tmp_path_factory.mktemp("lifecycle") / "data", "--fsync", "never", env=ENV)
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="us-east-1")
    try:
        yield proc, s3
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    output = server_output(proc)
    assert "lifecycle pass failed" not in output, output[-3000:]


@pytest.fixture
def s3(lc_server: tuple[Any, Any]) -> Any:
    return lc_server[1]


def new_bucket(s3: Any, *, versioned: bool = False, **kwargs: Any) -> str:
    name = f"lc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, **kwargs)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False
    return True


def versions(s3: Any, bucket: str, prefix: str = "") -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker), newest first within a key."""
    page = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    rows = [(v["Key"], v["VersionId"], v["IsLatest"], False, v["LastModified"]) for v in page.get("Versions", [])]
    rows += [(m["Key"], m["VersionId"], m["IsLatest"], True, m["LastModified"]) for m in page.get("DeleteMarkers", [])]
    rows.sort(key=lambda r: (r[0], -r[4].timestamp(), not r[2]))
    return [r[:4] for r in rows]


def rules(s3: Any, bucket: str, *items: dict[str, Any]) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(items)})


def test_expiry_by_days_with_prefix_tag_and_size_filters(s3: Any) -> None:
    bucket = new_bucket(s3)
    rules(s3, bucket,
          {"ID": "prefix", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 2}},
          {"ID": "tag", "Filter": {"Tag": {"Key": "tier", "Value": "scratch"}}, "Status": "Enabled",
           "Expiration": {"Days": 2}},
          {"ID": "size", "Filter": {"And": {"Prefix": "big/", "ObjectSizeGreaterThan": 100}}, "Status": "Enabled",
           "Expiration": {"Days": 2}},
          {"ID": "disabled", "Filter": {"Prefix": ""}, "Status": "Disabled", "Expiration": {"Days": 1}})
    doomed = {"tmp/a": b"x", "tagged": b"x", "big/large": b"x" * 200}
    kept = {"keep/a": b"x", "tagged-other": b"x", "big/small": b"x" * 10}
    for key, body in {**doomed, **kept}.items():
        tagging = "tier=scratch" if key == "tagged" else "tier=keep"
        s3.put_object(Bucket=bucket, Key=key, Body=body, Tagging=tagging)
    assert all(exists(s3, bucket, key) for key in doomed)  # two "days" are not over yet
    wait_for(lambda: not any(exists(s3, bucket, key) for key in doomed), "the matching objects to expire")
    assert all(exists(s3, bucket, key) for key in kept)
    assert not s3.list_object_versions(Bucket=bucket).get("DeleteMarkers")  # unversioned: removed, no markers


def test_expiry_by_date(s3: Any) -> None:
    bucket = new_bucket(s3)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rules(s3, bucket, {"ID": "dated", "Filter": {"Prefix": "dated/"}, "Status": "Enabled",
                       "Expiration": {"Date": midnight}})
    s3.put_object(Bucket=bucket, Key="dated/a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    wait_for(lambda: not exists(s3, bucket, "dated/a"), "the dated object to expire")
    assert exists(s3, bucket, "other")


def test_versioned_current_expiry_adds_a_delete_marker(s3: Any) -> None:
    bucket = new_bucket(s3, versioned=True)
    rules(s3, bucket, {"ID": "cur", "Filter": {"Prefix": "cur/"}, "Status": "Enabled", "Expiration": {"Days": 1}})
    version = s3.put_object(Bucket=bucket, Key="cur/a", Body=b"x")["VersionId"]
    wait_for(lambda: not exists(s3, bucket, "cur/a"), "a delete marker over the expired object")
    rows = versions(s3, bucket)
    assert [(r[2], r[3]) for r in rows] == [(True, True), (False, False)]
    assert rows[1][1] == version  # the data is kept as a noncurrent version
    assert s3.get_object(Bucket=bucket, Key="cur/a", VersionId=version)["Body"].read() == b"x"


def test_noncurrent_versions_and_newer_noncurrent_versions(s3: Any) -> None:
    bucket = new_bucket(s3, versioned=True)
    rules(s3, bucket,
          {"ID": "keep2", "Filter": {"Prefix": "two/"}, "Status": "Enabled",
           "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}},
          {"ID": "all", "Filter": {"Prefix": "none/"}, "Status": "Enabled",
           "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    ids = {p: [s3.put_object(Bucket=bucket, Key=f"{p}k", Body=str(i).encode())["VersionId"] for i in range(5)]
           for p in ("two/", "none/")}
    wait_for(lambda: len(versions(s3, bucket, "none/")) == 1, "the noncurrent versions to expire")
    wait_for(lambda: len(versions(s3, bucket, "two/")) == 3, "all but two noncurrent versions to expire")
    assert [r[1] for r in versions(s3, bucket, "two/")] == ids["two/"][::-1][:3]
    assert [r[1] for r in versions(s3, bucket, "none/")] == [ids["none/"][-1]]
    assert s3.get_object(Bucket=bucket, Key="none/k")["Body"].read() == b"4"


def test_expired_delete_markers_are_removed(s3: Any) -> None:
    bucket = new_bucket(s3, versioned=True)
    rules(s3, bucket, {"ID": "dm", "Filter": {"Prefix": "dm/"}, "Status": "Enabled",
                       "Expiration": {"ExpiredObjectDeleteMarker": True},
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    s3.put_object(Bucket=bucket, Key="dm/a", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="dm/a")
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="other")  # no rule: marker and version stay
    wait_for(lambda: versions(s3, bucket, "dm/") == [], "the version, then the lone delete marker, to go")
    assert [(r[2], r[3]) for r in versions(s3, bucket, "other")] == [(True, True), (False, False)]


def test_incomplete_uploads_are_aborted_by_rule(s3: Any) -> None:
    bucket = new_bucket(s3)
    rules(s3, bucket, {"ID": "mpu", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
                       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})
    doomed = s3.create_multipart_upload(Bucket=bucket, Key="up/x")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="up/x", UploadId=doomed, PartNumber=1, Body=b"part")
    kept = s3.create_multipart_upload(Bucket=bucket, Key="other/x")["UploadId"]

    def open_uploads() -> set[str]:
        return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}

    wait_for(lambda: doomed not in open_uploads(), "the upload under up/ to be aborted")
    assert open_uploads() == {kept}


def test_locked_versions_are_kept(s3: Any) -> None:
    bucket = new_bucket(s3, ObjectLockEnabledForBucket=True)
    rules(s3, bucket, {"ID": "nc", "Filter": {}, "Status": "Enabled",
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    held = s3.put_object(Bucket=bucket, Key="held", Body=b"1", ObjectLockLegalHoldStatus="ON")["VersionId"]
    until = datetime.fromtimestamp(time.time() + 3600, UTC)
    retained = s3.put_object(Bucket=bucket, Key="retained", Body=b"1", ObjectLockMode="GOVERNANCE",
                             ObjectLockRetainUntilDate=until)["VersionId"]
    free = s3.put_object(Bucket=bucket, Key="free", Body=b"1")["VersionId"]
    for key in ("held", "retained", "free"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"2")
    wait_for(lambda: free not in [r[1] for r in versions(s3, bucket, "free")], "the unlocked version to expire")
    # The pass that removed `free`'s old version saw the locked ones too, and every later pass keeps them.
    assert held in [r[1] for r in versions(s3, bucket, "held")]
    assert retained in [r[1] for r in versions(s3, bucket, "retained")]
    s3.put_object_legal_hold(Bucket=bucket, Key="held", VersionId=held, LegalHold={"Status": "OFF"})
    wait_for(lambda: held not in [r[1] for r in versions(s3, bucket, "held")], "the released version to expire")
    assert retained in [r[1] for r in versions(s3, bucket, "retained")]
