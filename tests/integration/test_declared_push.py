"""PUT /_declared and GET /_declared/status on the ops port: the operator's push channel.

A push is validated like the file, numbered by generation (never going back), kept in the
data directory, and outlives a restart even when the mounted file lags behind it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import metrics_url, server_output, start_subprocess_server, stop_server

TOKEN = "push-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config(generation: int, bucket: str, key_id: str, secret: str) -> str:
    return yaml.safe_dump(
        {
            "generation": generation,
            "buckets": [{"name": bucket}],
            "credentials": [
                {
                    "name": "ns/app",
                    "accessKeyId": key_id,
                    "secretAccessKey": secret,
                    "grants": [{"bucket": bucket, "access": "readwrite"}],
                }
            ],
        }
    )


def client(url: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=BotoConfig(retries={"total_max_attempts": 1}),
    )


def start(tmp_path: Path) -> tuple[Any, str, str]:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    env = {
        "SMARTS3_DECLARED": str(tmp_path / "mounted" / "declared.yaml"),
        "SMARTS3_DECLARED_OPTIONAL": "true",
        "SMARTS3_DECLARED_TOKEN_FILE": str(token),
    }
    proc, url = start_subprocess_server(tmp_path / "data", env=env)
    return proc, url, metrics_url(proc)


def wait_generation(ops: str, generation: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = httpx.get(ops + "/_declared/status", headers=AUTH).json()
        if last["generation"] == generation:
            return last
        time.sleep(0.05)
    pytest.fail(f"generation {generation} not applied: {last}")


def test_push_applies_at_once_and_survives_a_restart_ahead_of_a_lagging_file(tmp_path: Path) -> None:
    (tmp_path / "mounted").mkdir()
    proc, url, ops = start(tmp_path)
    try:
        assert httpx.get(ops + "/_declared/status").status_code == 401
        assert httpx.put(ops + "/_declared", content=b"{}", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.get(ops + "/_declared/status", headers=AUTH).json()["generation"] == 0

        started = time.monotonic()
        reply = httpx.put(ops + "/_declared", content=config(5, "pushed-bucket", "PUSHKEY0001", "s1"), headers=AUTH)
        assert reply.status_code == 200, reply.text
        assert reply.json()["generation"] == 5
        assert reply.json()["buckets"] == {"pushed-bucket": "Present"}
        client(url, "PUSHKEY0001", "s1").put_object(Bucket="pushed-bucket", Key="k", Body=b"x")
        print(f"push to first authorized PUT: {time.monotonic() - started:.3f}s")

        # Older than the one in force: refused, with the generation in force.
        stale = httpx.put(ops + "/_declared", content=config(4, "other-bucket", "OLDKEY0001", "s0"), headers=AUTH)
        assert stale.status_code == 409
        assert stale.json()["generation"] == 5
        # Invalid: refused with the reason, the configuration in force stays.
        bad = httpx.put(ops + "/_declared", content=b"buckets: [{name: Bad_Name}]", headers=AUTH)
        assert bad.status_code == 400
        assert "Bad_Name" in bad.json()["error"]
        # The kubelet syncs an older file later: it does not undo the push.
        (tmp_path / "mounted" / "declared.yaml").write_text(config(4, "other-bucket", "OLDKEY0001", "s0"))
        # Until the watcher says it read that file (it polls every second; a loaded host may take
        # longer), and after: the generation in force stays 5.
        deadline = time.monotonic() + 30
        while "generation 4 is older than the one in force" not in server_output(proc):
            assert httpx.get(ops + "/_declared/status", headers=AUTH).json()["generation"] == 5
            assert time.monotonic() < deadline, "the watcher never read the stale file"
            time.sleep(0.25)
        assert httpx.get(ops + "/_declared/status", headers=AUTH).json()["generation"] == 5
        with pytest.raises(ClientError) as refused:
            client(url, "OLDKEY0001", "s0").list_objects_v2(Bucket="pushed-bucket")
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    finally:
        stop_server(proc)

    assert (tmp_path / "data" / ".smarts3" / "declared-pushed.yaml").stat().st_mode & 0o077 == 0
    # Restart: the pushed generation 5 wins over the mounted generation 4.
    proc, url, ops = start(tmp_path)
    try:
        assert httpx.get(ops + "/_declared/status", headers=AUTH).json()["generation"] == 5
        client(url, "PUSHKEY0001", "s1").head_object(Bucket="pushed-bucket", Key="k")
        # A newer mounted file (the operator wrote it while the push could not reach us) wins.
        (tmp_path / "mounted" / "declared.yaml").write_text(config(6, "pushed-bucket", "FILEKEY0001", "s2"))
        wait_generation(ops, 6)
        client(url, "FILEKEY0001", "s2").head_object(Bucket="pushed-bucket", Key="k")
    finally:
        stop_server(proc)


def test_push_endpoint_is_off_without_a_token_file(tmp_path: Path) -> None:
    proc, _url = start_subprocess_server(tmp_path / "data")
    try:
        ops = metrics_url(proc)
        assert httpx.get(ops + "/_declared/status", headers=AUTH).status_code == 404
        assert httpx.put(ops + "/_declared", content=b"{}", headers=AUTH).status_code == 404
    finally:
        stop_server(proc)


def test_deletions_report_their_outcome_and_a_waiting_one_goes_once_emptied(tmp_path: Path) -> None:
    proc, url, ops = start(tmp_path)
    try:
        s3 = client(url, "PUSHKEY0001", "s1")
        for generation, body in enumerate(
            (
                {"buckets": [{"name": "full-one"}, {"name": "full-two"}, {"name": "empty-one"}]},
                {"deletions": [{"name": "full-one"}, {"name": "full-two", "force": True}, {"name": "empty-one"}]},
            ),
            start=1,
        ):
            grants = [{"bucket": "*", "access": "readwrite"}]
            cred = {"name": "ns/app", "accessKeyId": "PUSHKEY0001", "secretAccessKey": "s1", "grants": grants}
            text = yaml.safe_dump({"generation": generation, **body, "credentials": [cred]})
            if generation == 2:
                s3.put_object(Bucket="full-one", Key="k", Body=b"x")
                s3.put_object(Bucket="full-two", Key="k", Body=b"x")
                s3.create_multipart_upload(Bucket="full-two", Key="unfinished")
            reply = httpx.put(ops + "/_declared", content=text, headers=AUTH)
            assert reply.status_code == 200, reply.text
        assert reply.json()["buckets"] == {"empty-one": "Deleted", "full-one": "BucketNotEmpty", "full-two": "Deleted"}
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["full-one"]
        s3.delete_object(Bucket="full-one", Key="k")
        deadline = time.monotonic() + 30  # the retry runs every second
        while httpx.get(ops + "/_declared/status", headers=AUTH).json()["buckets"]["full-one"] != "Deleted":
            assert time.monotonic() < deadline, "the emptied bucket was not deleted"
            time.sleep(0.1)
        assert s3.list_buckets()["Buckets"] == []
    finally:
        stop_server(proc)


def _push(ops: str, generation: int, body: dict[str, Any]) -> dict[str, Any]:
    cred = {
        "name": "ns/admin",
        "accessKeyId": "PUSHKEY0001",
        "secretAccessKey": "s1",
        "grants": [{"bucket": "*", "access": "admin"}],
    }
    text = yaml.safe_dump({"generation": generation, **body, "credentials": [cred]})
    reply = httpx.put(ops + "/_declared", content=text, headers=AUTH)
    assert reply.status_code == 200, reply.text
    outcomes: dict[str, Any] = reply.json()["buckets"]
    return outcomes


def _versions(s3: Any, bucket: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket)
    return sorted(v["Key"] for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []))


def test_force_delete_removes_every_version_and_marker_but_not_what_object_lock_keeps(tmp_path: Path) -> None:
    """forceDelete on versioned buckets: every version, delete marker and upload goes, and
    GOVERNANCE retention too (the operator acts as an administrator); COMPLIANCE retention and
    legal hold keep their versions and the bucket, reported ObjectLocked, until they end."""
    proc, url, ops = start(tmp_path)
    try:
        names = ("versioned", "compliance", "held")
        _push(ops, 1, {"buckets": [{"name": n} for n in names]})
        s3 = client(url, "PUSHKEY0001", "s1")
        lock = {"ObjectLockRetainUntilDate": datetime.now(UTC) + timedelta(days=1)}
        for name in names:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            for key in ("a", "a", "b"):
                s3.put_object(Bucket=name, Key=key, Body=b"x")
            s3.delete_object(Bucket=name, Key="a")  # a delete marker on top of two versions
            s3.delete_object(Bucket=name, Key="gone")  # a marker alone
            s3.create_multipart_upload(Bucket=name, Key="unfinished")
            if name != "versioned":
                enabled = {"ObjectLockEnabled": "Enabled"}
                s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=enabled)
                s3.put_object(Bucket=name, Key="gov", Body=b"x", ObjectLockMode="GOVERNANCE", **lock)
        s3.put_object(Bucket="compliance", Key="kept", Body=b"x", ObjectLockMode="COMPLIANCE", **lock)
        s3.put_object(Bucket="held", Key="kept", Body=b"x", ObjectLockLegalHoldStatus="ON")
        held = {"ObjectLockLegalHoldStatus": "ON", "ObjectLockMode": "GOVERNANCE", **lock}
        s3.put_object(Bucket="held", Key="kept-too", Body=b"x", **held)

        outcomes = _push(ops, 2, {"deletions": [{"name": n, "force": True} for n in names]})
        assert outcomes == {"versioned": "Deleted", "compliance": "ObjectLocked", "held": "ObjectLocked"}
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["compliance", "held"]
        # Only the locked versions stay: the rest, GOVERNANCE-retained included, and the uploads went.
        assert _versions(s3, "compliance") == ["kept"]
        assert _versions(s3, "held") == ["kept", "kept-too"]
        for name in ("compliance", "held"):
            assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []

        # The hold lifted, the server's retry removes the last versions and the bucket.
        for key in ("kept", "kept-too"):
            s3.put_object_legal_hold(Bucket="held", Key=key, LegalHold={"Status": "OFF"})
        deadline = time.monotonic() + 60
        while (status := httpx.get(ops + "/_declared/status", headers=AUTH).json()["buckets"])["held"] != "Deleted":
            assert time.monotonic() < deadline, f"the released bucket was not deleted: {status}"
            time.sleep(0.2)
        assert status["compliance"] == "ObjectLocked"
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["compliance"]
    finally:
        stop_server(proc)
