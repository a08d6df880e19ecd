"""Several `smarts3 serve` processes on one data directory and one PostgreSQL database.

What one process got from SQLite's single writer must hold across replicas: a conditional
write has exactly one winner, a multipart upload may be spread over replicas, versions of a
key stay in one order, a replica killed mid-write leaves nothing partial, and start-up
recovery of one replica never removes what another is still writing (storage/fs/shared.py).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore
from smarts3.storage.fs.layout import Layout, new_body_id
from smarts3.storage.fs.pgschema import SWEEP_LOCK
from smarts3.storage.fs.shared import recover_shared
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, start_subprocess_server
from tests.integration.test_crash import Load, kill_under_load, stop_server, wait_for
from tests.postgres import PostgresCluster

MiB = 1024 * 1024


def replica(data_dir: Path, dsn: str, *args: str) -> tuple[Any, str]:
    return start_subprocess_server(data_dir, "--fsync", "never", *args, env={"SMARTS3_METADATA": dsn})


@pytest.fixture(scope="module")
def cluster(postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Three replicas of one store; the last runs two worker processes (one temp dir, shared)."""
    dsn = postgres_cluster.new_database()
    data_dir = tmp_path_factory.mktemp("shared")
    procs = []
    try:
        for n in range(3):
            procs.append(replica(data_dir, dsn, *(("--workers", "2") if n == 2 else ())))
        yield [Server(url, data_dir, metadata=dsn) for _, url in procs]
    finally:
        for proc, _ in procs:
            stop_server(proc)


def fresh_bucket(servers: list[Server], versioned: bool = False) -> str:
    name = f"r-{os.urandom(6).hex()}"
    s3 = servers[0].client()
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_if_none_match_race_has_exactly_one_winner(cluster: list[Server]) -> None:
    bucket = fresh_bucket(cluster)
    clients = [s.client(max_pool_connections=20) for s in cluster]
    for round_ in range(5):
        key = f"race-{round_}"
        bodies = [f"writer {i} of round {round_}".encode() for i in range(12)]

        def put(i: int, key: str = key, bodies: list[bytes] = bodies) -> str:
            try:
                clients[i % 3].put_object(Bucket=bucket, Key=key, Body=bodies[i], IfNoneMatch="*")
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])
            return "won"

        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(put, range(12)))
        assert outcomes.count("won") == 1, outcomes
        assert set(outcomes) <= {"won", "PreconditionFailed", "ConditionalRequestConflict"}, outcomes
        winner = bodies[outcomes.index("won")]
        for s3 in clients:  # every replica serves the winner
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == winner


def test_multipart_parts_on_different_replicas(cluster: list[Server]) -> None:
    bucket = fresh_bucket(cluster)
    clients = [s.client() for s in cluster]
    rng = random.Random(5)
    bodies = [rng.randbytes(5 * MiB), rng.randbytes(5 * MiB), rng.randbytes(123_457)]
    upload_id = clients[0].create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = clients[number % 3].upload_part(Bucket=bucket, Key="mp", UploadId=upload_id,
                                                 PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    listed = clients[2].list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    clients[1].complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    for s3 in clients:
        got = s3.get_object(Bucket=bucket, Key="mp")["Body"].read()
        assert hashlib.md5(got).digest() == hashlib.md5(b"".join(bodies)).digest()
    assert clients[0].list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_versions_from_all_replicas_stay_in_one_order(cluster: list[Server]) -> None:
    bucket = fresh_bucket(cluster, versioned=True)
    clients = [s.client(max_pool_connections=20) for s in cluster]

    def put(i: int) -> str:
        if i % 4 == 3:
            return str(clients[i % 3].delete_object(Bucket=bucket, Key="k")["VersionId"])
        return str(clients[i % 3].put_object(Bucket=bucket, Key="k", Body=b"v%d" % i)["VersionId"])

    with ThreadPoolExecutor(12) as pool:
        ids = list(pool.map(put, range(24)))
    listed = clients[1].list_object_versions(Bucket=bucket)
    entries = listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    assert sorted(e["VersionId"] for e in entries) == sorted(ids)  # none lost, none twice
    newest = max(entries, key=lambda e: e["VersionId"])  # ids start with the key's seq (versioning.py)
    assert [e["VersionId"] for e in entries if e["IsLatest"]] == [newest["VersionId"]]
    for s3 in clients:  # every replica agrees on the current version
        if "Size" in newest:
            assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == newest["VersionId"]
        else:
            with pytest.raises(ClientError) as exc:
                s3.head_object(Bucket=bucket, Key="k")
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.slow
def test_sigkill_of_one_replica_loses_nothing_acknowledged(postgres_cluster: PostgresCluster,
                                                            tmp_path: Path) -> None:
    dsn = postgres_cluster.new_database()
    data_dir = tmp_path / "data"
    victim, victim_url = replica(data_dir, dsn)
    survivor, survivor_url = replica(data_dir, dsn)
    try:
        s3 = Server(victim_url, data_dir).client(connect_timeout=2, read_timeout=20)
        s3.create_bucket(Bucket="crash-test")
        load = Load(s3)
        threads = load.threads()
        for t in threads:
            t.start()
        wait_for(lambda: len(load.acked) >= 40 and any(k.startswith("mp/") for k in load.acked), 90,
                 "writes to be acknowledged")
        kill_under_load(victim, load, threads)
        with load.lock:
            acked = dict(load.acked)
        other = Server(survivor_url, data_dir).client()
        for key, etag in acked.items():  # every acknowledged object, whole, from the other replica
            digest, _ = load.attempted[key]
            got = other.get_object(Bucket="crash-test", Key=key)
            assert hashlib.md5(got["Body"].read()).hexdigest() == digest, key
            assert got["ETag"] == etag
        listed = [c for p in other.get_paginator("list_objects_v2").paginate(Bucket="crash-test")
                  for c in p.get("Contents", [])]
        for entry in listed:  # nothing visible is partial, and every row's bodies are there
            got = other.get_object(Bucket="crash-test", Key=entry["Key"])
            digest = hashlib.md5(got["Body"].read()).hexdigest()
            if entry["Key"] == "hot":
                assert digest in load.hot_attempts[max(load.hot_acked, 0):]
            else:
                assert (digest, got["ETag"]) == load.attempted[entry["Key"]], entry["Key"]
        assert len(acked) >= 40
    finally:
        stop_server(victim)
        stop_server(survivor)


def _signed_put(url: str, body: bytes) -> tuple[dict[str, str], str]:
    request = AWSRequest(method="PUT", url=url, data=body, headers={"Content-Length": str(len(body))})
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return dict(prepared.headers), prepared.url


def test_start_up_recovery_spares_what_live_replicas_write(cluster: list[Server]) -> None:
    bucket = fresh_bucket(cluster)
    data_dir = cluster[0].data_dir
    tmp_root = data_dir / ".smarts3" / "tmp"
    before = {p for p in tmp_root.rglob("*") if p.is_file()}
    body = random.Random(3).randbytes(6 * MiB)
    go = threading.Event()

    def slow_body() -> Iterator[bytes]:
        for n in range(6):
            if n == 3:
                assert go.wait(60), "the test never let the upload finish"
            yield body[n * MiB : (n + 1) * MiB]

    headers, url = _signed_put(f"{cluster[0].url}/{bucket}/live", body)
    result: list[httpx.Response] = []
    writer = threading.Thread(target=lambda: result.append(
        httpx.put(url, content=slow_body(), headers=headers, timeout=120)))
    writer.start()
    extra = None
    try:
        wait_for(lambda: {p for p in tmp_root.rglob("*") if p.is_file()} - before, 60, "a temp file")
        temp_files = {p for p in tmp_root.rglob("*") if p.is_file()} - before
        # A body sealed by a live replica, not yet committed: unreferenced, and fresh.
        sealed = Layout(data_dir).body_path(new_body_id())
        Path(sealed).write_bytes(b"about to be committed")
        extra, _ = replica(data_dir, cluster[0].metadata)  # its start-up recovery runs now
        assert all(p.exists() for p in temp_files)
        assert Path(sealed).exists()
    finally:
        go.set()
        writer.join(timeout=120)
        if extra is not None:
            stop_server(extra)
    assert result and result[0].status_code == 200, result
    assert cluster[1].client().get_object(Bucket=bucket, Key="live")["Body"].read() == body
    os.unlink(sealed)


def test_orphan_sweep_after_grace_and_by_one_replica_at_a_time(postgres_dsn: str, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data", "me")
    layout.ensure(fsync=False)
    orphan = Path(layout.body_path(new_body_id()))
    orphan.write_bytes(b"nobody references me")
    stale_temp = layout.tmp_root / "dead-replica" / new_body_id()
    stale_temp.parent.mkdir()
    stale_temp.write_bytes(b"half")
    assert recover_shared(layout, postgres_dsn, fsync=False).orphans_removed == 0  # within the grace period
    assert orphan.exists() and stale_temp.exists()
    with psycopg.connect(postgres_dsn, autocommit=True) as other:  # another replica sweeping
        other.execute("SELECT pg_advisory_lock(%s)", (SWEEP_LOCK,))
        done = recover_shared(layout, postgres_dsn, fsync=False, grace=0)
        assert not done.swept and orphan.exists()
    wait_for(lambda: time.time() > max(orphan.stat().st_ctime, stale_temp.stat().st_ctime), 10,
             "the clock to pass the files' ctime")  # "older than now - 0"
    done = recover_shared(layout, postgres_dsn, fsync=False, grace=0)
    assert done.swept and done.orphans_removed == 1 and done.temp_removed >= 1
    assert not orphan.exists() and not stale_temp.exists() and not stale_temp.parent.exists()


def test_a_replica_whose_idle_temp_dir_was_swept_makes_it_again(postgres_dsn: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    body = random.Random(8).randbytes(200_000)  # above the inline limit: written through a temp file

    async def put(store: FilesystemStore, key: str) -> None:
        async with store.object_writer("b", key) as writer:
            await writer.write(body)
            await writer.commit(ObjectMeta(), None)

    async def main() -> None:
        store = FilesystemStore(data_dir, fsync=False, metadata=postgres_dsn, replica="idle")
        try:
            await store.create_bucket("b", "us-east-1")
            await put(store, "first")
            idle = Layout(data_dir, "idle").tmp_dir
            wait_for(lambda: time.time() > idle.stat().st_ctime, 10, "the clock to pass the dir's ctime")
            swept = recover_shared(Layout(data_dir, "sweeper"), postgres_dsn, fsync=False, grace=0)
            assert swept.swept and not idle.exists()  # empty and idle: removed
            await put(store, "second")
            async with await store.open_object("b", "second") as reader:
                assert b"".join([c async for c in reader.iter_range(0, len(body))]) == body
        finally:
            await store.close()

    anyio.run(main)


def test_usage_counters_match_a_recount_after_writes_from_every_replica(cluster: list[Server]) -> None:
    bucket = fresh_bucket(cluster, versioned=True)
    clients = [s.client(max_pool_connections=20) for s in cluster]

    def write(i: int) -> None:
        s3 = clients[i % 3]
        s3.put_object(Bucket=bucket, Key=f"k{i % 5}", Body=b"x" * (i * 1000))
        if i % 3 == 0:
            s3.delete_object(Bucket=bucket, Key=f"k{(i + 1) % 5}")
        if i % 4 == 0:
            s3.create_multipart_upload(Bucket=bucket, Key=f"u{i}")

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(write, range(30)))
    with psycopg.connect(cluster[0].metadata) as conn:
        kept = conn.execute("SELECT bucket, sum(objects), sum(bytes), sum(uploads) FROM bucket_usage"
                            " GROUP BY bucket ORDER BY bucket").fetchall()
        counted = conn.execute(
            "SELECT b.name, (SELECT count(*) FROM objects o WHERE o.bucket = b.name),"
            " (SELECT coalesce(sum(o.size), 0) FROM objects o WHERE o.bucket = b.name)"
            " + (SELECT coalesce(sum(v.size), 0) FROM versions v WHERE v.bucket = b.name),"
            " (SELECT count(*) FROM uploads u WHERE u.bucket = b.name) FROM buckets b ORDER BY b.name").fetchall()
    assert [tuple(int(x) if not isinstance(x, str) else x for x in row) for row in kept] == counted
    assert any(row[0] == bucket and row[3] == 8 for row in counted)
