"""PutObject decides small bodies on the bucket configuration its worker last read
(s3/handlers/known_buckets.py); a change made by another process must still be obeyed by
the very next PUT. The change here is written straight into the metadata by this test
process, as another replica or worker would: nothing in the server hears of it.

The PUTs are raw signed requests without `Expect: 100-continue` (boto3 always sends it, and
such a PUT reads its bucket first, as it must refuse a missing one before the body)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from smarts3.s3.handlers.objectlock import LOCK_DEFAULT
from smarts3.storage.fs.store import FilesystemStore
from tests.conftest import Server, _metadata_env, start_subprocess_server, stop_server
from tests.integration.helpers import error_code, signed

BUCKET = "known-bucket"
DAY = 86400.0


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("known") / "data"
    proc, url = start_subprocess_server(data_dir)
    try:
        yield Server(url, data_dir, metadata=_metadata_env(data_dir, (), None).get("SMARTS3_METADATA", ""))
    finally:
        stop_server(proc)


def _change_elsewhere(server: Server, changes: dict[str, str | None]) -> None:
    """Change the bucket's configuration from this process, behind the server's back (on the
    server's SQLite or PostgreSQL metadata, as another worker or replica would)."""

    async def change() -> None:
        store = FilesystemStore(server.data_dir, metadata=server.metadata, replica="test")
        try:
            await store.update_bucket_extra(BUCKET, changes)
        finally:
            await store.close()

    asyncio.run(change())


def _put(server: Server, bucket: str, key: str, body: bytes) -> httpx.Response:
    return signed("PUT", f"{server.url}/{bucket}/{key}", body=body)


def _retention(s3: Any, key: str) -> tuple[str | None, float | None]:
    try:
        retention = s3.get_object_retention(Bucket=BUCKET, Key=key)["Retention"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchObjectLockConfiguration"
        return None, None
    until: datetime = retention["RetainUntilDate"]
    return retention["Mode"], until.astimezone(UTC).timestamp()


def test_next_put_obeys_a_default_changed_by_another_process(own_server: Server) -> None:
    s3 = own_server.client()
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    for n in range(3):  # the server now knows the bucket with its GOVERNANCE default
        assert _put(own_server, BUCKET, f"warm{n}", b"x" * 100).status_code == 200
    mode, until = _retention(s3, "warm2")
    assert mode == "GOVERNANCE"
    assert until is not None and abs(until - (time.time() + DAY)) < 600

    _change_elsewhere(own_server, {LOCK_DEFAULT: "COMPLIANCE 3 Days"})
    put = _put(own_server, BUCKET, "after-change", b"y" * 4096)
    assert put.status_code == 200
    mode, until = _retention(s3, "after-change")
    assert mode == "COMPLIANCE"
    assert until is not None and abs(until - (time.time() + 3 * DAY)) < 600
    assert put.headers["etag"] == s3.head_object(Bucket=BUCKET, Key="after-change")["ETag"]
    assert s3.get_object(Bucket=BUCKET, Key="after-change")["Body"].read() == b"y" * 4096

    _change_elsewhere(own_server, {LOCK_DEFAULT: None})  # no default retention any more
    assert _put(own_server, BUCKET, "no-default", b"z" * 10).status_code == 200
    assert _retention(s3, "no-default") == (None, None)

    # And the worker's own change (the S3 API) the same way.
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}},
        },
    )
    assert _put(own_server, BUCKET, "own-change", b"w" * 10).status_code == 200
    mode, until = _retention(s3, "own-change")
    assert mode == "GOVERNANCE"
    assert until is not None and abs(until - (time.time() + 2 * DAY)) < 600


def test_a_bucket_deleted_elsewhere_answers_no_such_bucket(own_server: Server) -> None:
    s3 = own_server.client()
    s3.create_bucket(Bucket="gone-bucket")
    assert _put(own_server, "gone-bucket", "k", b"1").status_code == 200  # known to the server now
    s3.delete_object(Bucket="gone-bucket", Key="k")
    s3.delete_bucket(Bucket="gone-bucket")
    refused = _put(own_server, "gone-bucket", "k", b"2")
    assert (refused.status_code, error_code(refused)) == (404, "NoSuchBucket")
    # A bad body to a missing bucket: the missing bucket is what a fresh read answers first.
    wrong_md5 = {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}
    bad = signed("PUT", f"{own_server.url}/gone-bucket/k", body=b"3", headers=wrong_md5)
    assert (bad.status_code, error_code(bad)) == (404, "NoSuchBucket")
