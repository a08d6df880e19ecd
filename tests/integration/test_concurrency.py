"""Racing writers on one key: exactly one intact object, and conditional writes let one win."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, start_subprocess_server, stop_server

# Core S3 behaviour: run on SQLite and on PostgreSQL metadata in every CI run (tests/conftest.py).
pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024
WRITERS = 20
BODIES = [os.urandom(MiB) for _ in range(WRITERS)]
DIGESTS = {hashlib.md5(b).hexdigest(): i for i, b in enumerate(BODIES)}


def race(fn: Callable[[int], Any], n: int = WRITERS) -> list[Any]:
    """Run fn(0..n-1) on n threads released together; exceptions are returned, not raised."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except ClientError as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def status_of(result: Any) -> int:
    if isinstance(result, ClientError):
        return int(result.response["ResponseMetadata"]["HTTPStatusCode"])
    return int(result["ResponseMetadata"]["HTTPStatusCode"])


def assert_intact(s3: Any, bucket: str, key: str) -> int:
    """The object is exactly one of BODIES, with its own ETag; returns which."""
    got = s3.get_object(Bucket=bucket, Key=key)
    body = got["Body"].read()
    digest = hashlib.md5(body).hexdigest()
    assert digest in DIGESTS, f"body of {len(body)} bytes is none of the bodies written"
    assert got["ETag"] == f'"{digest}"'
    assert got["ContentLength"] == MiB
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"] == got["ETag"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    assert [(c["Key"], c["ETag"], c["Size"]) for c in listed] == [(key, got["ETag"], MiB)]
    return DIGESTS[digest]


def twenty_writers(s3: Any, bucket: str) -> None:
    results = race(lambda i: s3.put_object(Bucket=bucket, Key="hot", Body=BODIES[i]))
    assert [status_of(r) for r in results] == [200] * WRITERS
    winner = assert_intact(s3, bucket, "hot")
    # The winner's own response carried the ETag now stored.
    assert results[winner]["ETag"] == f'"{hashlib.md5(BODIES[winner]).hexdigest()}"'


def if_none_match_race(s3: Any, bucket: str) -> None:
    results = race(lambda i: s3.put_object(Bucket=bucket, Key="once", Body=BODIES[i],
                                           IfNoneMatch="*"))
    statuses = [status_of(r) for r in results]
    assert statuses.count(200) == 1, statuses
    assert all(s in (412, 409) for s in statuses if s != 200), statuses
    for r in results:
        if isinstance(r, ClientError):
            code = r.response["Error"]["Code"]
            assert code in ("PreconditionFailed", "ConditionalRequestConflict")
    winner = statuses.index(200)
    assert assert_intact(s3, bucket, "once") == winner


def if_match_race(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="swap", Body=b"v0")
    results = race(lambda i: s3.put_object(Bucket=bucket, Key="swap", Body=BODIES[i],
                                           IfMatch=first["ETag"]))
    statuses = [status_of(r) for r in results]
    assert statuses.count(200) == 1, statuses
    assert all(s in (412, 409) for s in statuses if s != 200), statuses
    assert assert_intact(s3, bucket, "swap") == statuses.index(200)


@pytest.fixture
def client(server: Server) -> Any:
    return server.client(max_pool_connections=WRITERS + 4)


def test_twenty_writers_one_key(client: Any, bucket: str) -> None:
    twenty_writers(client, bucket)


def test_if_none_match_lets_exactly_one_create(client: Any, bucket: str) -> None:
    if_none_match_race(client, bucket)


def test_if_match_lets_exactly_one_replace(client: Any, bucket: str) -> None:
    if_match_race(client, bucket)


def test_reads_during_overwrites_are_intact(client: Any, bucket: str) -> None:
    client.put_object(Bucket=bucket, Key="k", Body=BODIES[0])
    stop = threading.Event()
    failures: list[str] = []
    reads = [0]

    def writer() -> None:
        try:
            for i in range(40):
                client.put_object(Bucket=bucket, Key="k", Body=BODIES[i % 4])
        finally:
            stop.set()

    def reader() -> None:
        while not stop.is_set():
            got = client.get_object(Bucket=bucket, Key="k")
            body = got["Body"].read()
            digest = hashlib.md5(body).hexdigest()
            reads[0] += 1
            if DIGESTS.get(digest) not in range(4) or got["ETag"] != f'"{digest}"':
                failures.append(f"torn read: {len(body)} bytes, ETag {got['ETag']}")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures[:3]
    assert reads[0] >= 4
    assert_intact(client, bucket, "k")


def test_racing_multipart_completes_on_one_key(client: Any, bucket: str) -> None:
    uploads = []
    for i in range(6):
        upload_id = client.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        part = client.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1,
                                  Body=BODIES[i])
        uploads.append((upload_id, part["ETag"]))
    results = race(lambda i: client.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uploads[i][0],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": uploads[i][1]}]}), n=6)
    assert [status_of(r) for r in results] == [200] * 6
    body = client.get_object(Bucket=bucket, Key="mp")["Body"].read()
    winner = DIGESTS[hashlib.md5(body).hexdigest()]
    assert winner < 6
    assert client.head_object(Bucket=bucket, Key="mp")["ETag"] == results[winner]["ETag"]
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("workers") / "data"
    proc, url = start_subprocess_server(data_dir, "--workers", "2")
    try:
        yield Server(url, data_dir)
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_two_worker_processes_share_one_data_dir(two_workers: Server) -> None:
    s3 = two_workers.client(max_pool_connections=WRITERS + 4)
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    twenty_writers(s3, bucket)
    if_none_match_race(s3, bucket)
    if_match_race(s3, bucket)
