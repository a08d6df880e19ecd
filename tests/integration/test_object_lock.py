"""Object Lock over HTTP with boto3: lock-enabled buckets, default retention, lock headers on
PUT/COPY/multipart, the refusal matrix for removing locked versions, GOVERNANCE bypass (admin
only), and retention dates that survive a restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.conftest import Server, start_subprocess_server, stop_server
from tests.integration.helpers import client_error

pytestmark = pytest.mark.both_metadata

WRITER = ("LOCKWRITERKEY000001", "lock-writer-secret-0000000000000000001")


def _fails(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return client_error(err.value)


def _soon(days: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


@pytest.fixture
def locked(s3: Any) -> str:
    name = f"lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def test_lock_enabled_bucket_is_versioned_for_good(s3: Any, locked: str, bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    code = _fails(lambda: s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"}))
    assert code == ("InvalidBucketState", 409)
    # An ordinary bucket: no configuration, and lock requests are refused.
    assert _fails(lambda: s3.get_object_lock_configuration(Bucket=bucket)) == (
        "ObjectLockConfigurationNotFoundError", 404)
    code = _fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                        ObjectLockRetainUntilDate=_soon()))
    assert code == ("InvalidRequest", 400)
    lock = {"ObjectLockEnabled": "Enabled"}
    assert _fails(lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=lock)) == (
        "InvalidBucketState", 409)  # versioning must be Enabled first
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=lock)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == lock


def test_default_retention_and_lock_headers(s3: Any, locked: str) -> None:
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}
    s3.put_object(Bucket=locked, Key="default", Body=b"x")
    retention = s3.get_object_retention(Bucket=locked, Key="default")["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert abs((retention["RetainUntilDate"] - _soon(2)).total_seconds()) < 120
    assert _fails(lambda: s3.get_object_legal_hold(Bucket=locked, Key="default")) == (
        "NoSuchObjectLockConfiguration", 404)

    until = _soon(3).replace(microsecond=0)
    s3.put_object(Bucket=locked, Key="explicit", Body=b"x", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    retention = s3.get_object_retention(Bucket=locked, Key="explicit")["Retention"]
    assert (retention["Mode"], retention["RetainUntilDate"]) == ("COMPLIANCE", until)
    assert s3.get_object_legal_hold(Bucket=locked, Key="explicit")["LegalHold"]["Status"] == "ON"
    # A copy starts from its own headers (or the default), never the source's lock.
    s3.copy_object(Bucket=locked, Key="copy", CopySource={"Bucket": locked, "Key": "explicit"})
    assert s3.get_object_retention(Bucket=locked, Key="copy")["Retention"]["Mode"] == "GOVERNANCE"
    upload = s3.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="COMPLIANCE",
                                        ObjectLockRetainUntilDate=until)["UploadId"]
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(Bucket=locked, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.get_object_retention(Bucket=locked, Key="mp")["Retention"]["Mode"] == "COMPLIANCE"
    # Bad lock headers.
    assert _fails(lambda: s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                        ObjectLockRetainUntilDate=_soon(-1)))[1] == 400
    assert _fails(lambda: s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="FOREVER",
                                        ObjectLockRetainUntilDate=_soon()))[1] == 400


def test_refusal_matrix(s3: Any, locked: str) -> None:
    def version(key: str, **lock: Any) -> str:
        return str(s3.put_object(Bucket=locked, Key=key, Body=b"x", **lock)["VersionId"])

    compliance = version("c", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=_soon())
    governance = version("g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=_soon())
    held = version("h", ObjectLockLegalHoldStatus="ON")
    free = version("f")
    denied = ("AccessDenied", 403)
    for key, vid in (("c", compliance), ("g", governance), ("h", held)):
        assert _fails(lambda key=key, vid=vid: s3.delete_object(Bucket=locked, Key=key, VersionId=vid)) == denied
    # Only GOVERNANCE gives way to the bypass (root has admin access).
    assert _fails(lambda: s3.delete_object(Bucket=locked, Key="c", VersionId=compliance,
                                           BypassGovernanceRetention=True)) == denied
    assert _fails(lambda: s3.delete_object(Bucket=locked, Key="h", VersionId=held,
                                           BypassGovernanceRetention=True)) == denied
    s3.delete_object(Bucket=locked, Key="g", VersionId=governance, BypassGovernanceRetention=True)
    # A delete without a version id only adds a marker: always allowed, the version stays.
    assert s3.delete_object(Bucket=locked, Key="c")["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked, Key="c", VersionId=compliance)["Body"].read() == b"x"
    # DeleteObjects: the locked version is an AccessDenied entry, the others go.
    result = s3.delete_objects(Bucket=locked, Delete={"Objects": [
        {"Key": "c", "VersionId": compliance}, {"Key": "f", "VersionId": free}]})
    assert [d["Key"] for d in result["Deleted"]] == ["f"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("c", "AccessDenied")]
    # Retention: extending is always allowed, shortening COMPLIANCE never.
    s3.put_object_retention(Bucket=locked, Key="c", VersionId=compliance,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _soon(5)})
    assert _fails(lambda: s3.put_object_retention(
        Bucket=locked, Key="c", VersionId=compliance, BypassGovernanceRetention=True,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _soon(1)})) == denied
    # GOVERNANCE: shortened or lifted only with the bypass.
    gov = version("g2", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=_soon(5))
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": _soon(1)}
    assert _fails(lambda: s3.put_object_retention(Bucket=locked, Key="g2", VersionId=gov,
                                                  Retention=shorter)) == denied
    s3.put_object_retention(Bucket=locked, Key="g2", VersionId=gov, Retention=shorter,
                            BypassGovernanceRetention=True)
    # A legal hold lifted: the version can go.
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=held, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h", VersionId=held)["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=locked, Key="h", VersionId=held)


@pytest.fixture(scope="module")
def declared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("lock")
    config = base / "declared.yaml"
    config.write_text(yaml.safe_dump({
        "buckets": [{"name": "lock-granted"}],
        "credentials": [{"name": "writer", "accessKeyId": WRITER[0], "secretAccessKey": WRITER[1],
                         "grants": [{"bucket": "lock-granted", "access": "readwrite"}]}],
    }))
    proc, url = start_subprocess_server(base / "data", "--declared", str(config))
    yield url, base / "data"
    stop_server(proc)


def test_governance_bypass_needs_admin_access(declared_server: tuple[str, Path]) -> None:
    url, data_dir = declared_server
    root = Server(url, data_dir).client()
    writer = Server(url, data_dir, access_key=WRITER[0], secret_key=WRITER[1]).client()
    root.put_bucket_versioning(Bucket="lock-granted", VersioningConfiguration={"Status": "Enabled"})
    root.put_object_lock_configuration(Bucket="lock-granted",
                                       ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    vid = writer.put_object(Bucket="lock-granted", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=_soon())["VersionId"]
    assert _fails(lambda: writer.delete_object(Bucket="lock-granted", Key="k", VersionId=vid,
                                               BypassGovernanceRetention=True)) == ("AccessDenied", 403)
    root.delete_object(Bucket="lock-granted", Key="k", VersionId=vid, BypassGovernanceRetention=True)


def test_retention_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    until = _soon(1).replace(microsecond=0)
    proc, url = start_subprocess_server(data_dir)
    try:
        s3 = Server(url, data_dir).client()
        s3.create_bucket(Bucket="kept", ObjectLockEnabledForBucket=True)
        vid = s3.put_object(Bucket="kept", Key="k", Body=b"x", ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    finally:
        stop_server(proc)
    proc, url = start_subprocess_server(data_dir)
    try:
        s3 = Server(url, data_dir).client()
        assert s3.get_object_retention(Bucket="kept", Key="k", VersionId=vid)["Retention"]["RetainUntilDate"] == until
        assert _fails(lambda: s3.delete_object(Bucket="kept", Key="k", VersionId=vid)) == ("AccessDenied", 403)
        assert _fails(lambda: s3.delete_bucket(Bucket="kept")) == ("BucketNotEmpty", 409)
    finally:
        stop_server(proc)

