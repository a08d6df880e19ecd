"""SIGKILL the server in the middle of PUTs and multipart completes, restart, audit the data.

Every acknowledged object must be intact, nothing partial may be visible, and recovery
must leave no temp file and no body file that no object or upload refers to. The
layout (storage/fs/layout.py): `.smarts3/tmp/<id>` for bodies being written and
`.smarts3/bodies/<xx>/<id>` for sealed bodies; a single PUT object owns one body, a
completed multipart object one body per part, an upload in progress one per part. A single
PUT of at most SMARTS3_INLINE_MAX_BYTES keeps its body in its row and owns no file
(storage/fs/inline.py): the random sizes below write both kinds.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, server_output, start_subprocess_server

pytestmark = pytest.mark.sqlite_metadata  # recovery empties tmp/ at once on SQLite; with PostgreSQL test_replicas.py

MiB = 1024 * 1024
PART = 5 * MiB
BUCKET = "crash-test"
INLINE_MAX = 32 * 1024  # the server's default SMARTS3_INLINE_MAX_BYTES


def md5_of_md5s(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


class Load:
    """Writers that record what they attempted and what the server acknowledged."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.stop = threading.Event()
        self.killed = threading.Event()
        self.lock = threading.Lock()
        self.attempted: dict[str, tuple[str, str]] = {}  # key -> (body md5, expected ETag)
        self.acked: dict[str, str] = {}  # key -> ETag the server answered
        self.hot_attempts: list[str] = []  # body md5s written to "hot", in order
        self.hot_acked = -1  # index into hot_attempts of the last acknowledged write
        self.errors: list[BaseException] = []

    def _guard(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # the kill breaks requests in flight: expected
            if not self.killed.is_set():
                self.errors.append(exc)

    def puts(self, tid: int) -> None:
        rng = random.Random(tid)
        i = 0
        while not self.stop.is_set():
            key = f"put/{tid}/{i:05d}"
            body = rng.randbytes(rng.randint(1, 256 * 1024))
            digest = hashlib.md5(body).hexdigest()
            with self.lock:
                self.attempted[key] = (digest, f'"{digest}"')
            answer = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            with self.lock:
                self.acked[key] = answer["ETag"]
            i += 1

    def overwrites(self) -> None:
        rng = random.Random(99)
        while not self.stop.is_set():
            body = rng.randbytes(rng.randint(1, 128 * 1024))
            with self.lock:
                self.hot_attempts.append(hashlib.md5(body).hexdigest())
                index = len(self.hot_attempts) - 1
            self.s3.put_object(Bucket=BUCKET, Key="hot", Body=body)
            with self.lock:
                self.hot_acked = index

    def multiparts(self) -> None:
        rng = random.Random(7)
        i = 0
        while not self.stop.is_set():
            key = f"mp/{i:04d}"
            bodies = [rng.randbytes(PART), rng.randbytes(rng.randint(1, 64 * 1024))]
            upload_id = self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
            parts = []
            for number, body in enumerate(bodies, start=1):
                answer = self.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                             PartNumber=number, Body=body)
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            whole = hashlib.md5(b"".join(bodies)).hexdigest()
            with self.lock:
                self.attempted[key] = (whole, md5_of_md5s(bodies))
            answer = self.s3.complete_multipart_upload(
                Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
            with self.lock:
                self.acked[key] = answer["ETag"]
            i += 1

    def threads(self) -> list[threading.Thread]:
        targets: list[tuple[Any, tuple[Any, ...]]] = [(self.puts, (t,)) for t in range(3)]
        targets += [(self.overwrites, ()), (self.multiparts, ())]
        return [threading.Thread(target=self._guard, args=(fn, *args)) for fn, args in targets]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def body_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / ".smarts3" / "bodies").rglob("*") if p.is_file()]


def audit(s3: Any, load: Load, data_dir: Path) -> None:
    for key, etag in load.acked.items():
        digest, expected_etag = load.attempted[key]
        got = s3.get_object(Bucket=BUCKET, Key=key)
        assert hashlib.md5(got["Body"].read()).hexdigest() == digest, key
        assert got["ETag"] == etag == expected_etag, key

    listed = [c for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
              for c in p.get("Contents", [])]
    expected_bodies = 0
    kinds = set()  # "inline", "file": both must have been written and audited
    for entry in listed:
        key = entry["Key"]
        got = s3.get_object(Bucket=BUCKET, Key=key)
        digest = hashlib.md5(got["Body"].read()).hexdigest()
        assert got["ETag"] == entry["ETag"], key
        if key == "hot":
            # The last acknowledged overwrite, or one that was in flight after it.
            assert digest in load.hot_attempts[max(load.hot_acked, 0):], "hot rolled back or torn"
        else:
            assert key in load.attempted, f"{key} was never written"
            assert (digest, got["ETag"]) == load.attempted[key], f"{key} is partial"
        etag = entry["ETag"].strip('"')
        if "-" in etag:
            expected_bodies += int(etag.split("-")[1])
        elif entry["Size"] > INLINE_MAX:
            expected_bodies += 1
            kinds.add("file")
        else:
            kinds.add("inline")
    assert kinds == {"inline", "file"}

    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    for upload in uploads:
        parts = s3.list_parts(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
        expected_bodies += len(parts.get("Parts", []))

    assert os.listdir(data_dir / ".smarts3" / "tmp") == []
    assert len(body_files(data_dir)) == expected_bodies


def stop_server(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def kill_under_load(proc: Any, load: Load | VersionLoad, threads: list[threading.Thread]) -> None:
    """SIGKILL the server while the writers run, then stop them: none may have seen a wrong answer."""
    load.killed.set()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    load.stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not load.errors, load.errors[:3]


def test_sigkill_mid_flight_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc, url = start_subprocess_server(data_dir)  # fsync: always, the default
    try:
        s3 = Server(url, data_dir).client(connect_timeout=2, read_timeout=20)
        s3.create_bucket(Bucket=BUCKET)
        load = Load(s3)
        threads = load.threads()
        for t in threads:
            t.start()
        wait_for(lambda: len(load.acked) >= 60 and any(k.startswith("mp/") for k in load.acked)
                 and load.hot_acked >= 3, 90, "writes to be acknowledged")
        # Wait for a multipart complete to be in flight, then kill without warning.
        wait_for(lambda: len([k for k in load.attempted if k.startswith("mp/")])
                 > len([k for k in load.acked if k.startswith("mp/")]), 30, "a complete in flight")
        kill_under_load(proc, load, threads)
    finally:
        stop_server(proc)

    with load.lock:
        acked_before = dict(load.acked)
    proc, url = start_subprocess_server(data_dir)
    try:
        s3 = Server(url, data_dir).client()
        load.acked = acked_before
        audit(s3, load, data_dir)
        assert len(acked_before) >= 60
    finally:
        stop_server(proc)

    # A second, clean restart finds nothing more to repair.
    proc, url = start_subprocess_server(data_dir)
    try:
        audit(Server(url, data_dir).client(), load, data_dir)
    finally:
        stop_server(proc)


VERSIONED = "crash-versions"


class VersionLoad:
    """One writer per key on a versioned bucket: puts and deletes (delete markers) in an order
    only that thread decides, so the acknowledged history of each key is exact."""

    def __init__(self, s3: Any, keys: int) -> None:
        self.s3 = s3
        self.keys = [f"v/{i}" for i in range(keys)]
        self.stop = threading.Event()
        self.killed = threading.Event()
        self.lock = threading.Lock()
        # key -> acknowledged (version id, body md5 or None for a delete marker), oldest first
        self.acked: dict[str, list[tuple[str, str | None]]] = {k: [] for k in self.keys}
        self.in_flight: dict[str, str | None] = {}  # key -> body md5 (None: a delete) not yet answered
        self.errors: list[BaseException] = []

    def write(self, index: int) -> None:
        key, rng = self.keys[index], random.Random(index)
        try:
            while not self.stop.is_set():
                if rng.random() < 0.3:
                    with self.lock:
                        self.in_flight[key] = None
                    answer = self.s3.delete_object(Bucket=VERSIONED, Key=key)
                    assert answer["DeleteMarker"] is True
                    entry: tuple[str, str | None] = (answer["VersionId"], None)
                else:
                    body = rng.randbytes(rng.randint(1, 64 * 1024))
                    with self.lock:
                        self.in_flight[key] = hashlib.md5(body).hexdigest()
                    answer = self.s3.put_object(Bucket=VERSIONED, Key=key, Body=body)
                    entry = (answer["VersionId"], hashlib.md5(body).hexdigest())
                with self.lock:
                    self.acked[key].append(entry)
                    self.in_flight.pop(key, None)
        except Exception as exc:  # the kill breaks requests in flight: expected
            if not self.killed.is_set():
                self.errors.append(exc)


VERSIONS_INLINE_MAX = 32 * 1024  # bodies of 1 B..64 KiB: about half of them inline


def audit_versions(s3: Any, load: VersionLoad, data_dir: Path) -> None:
    bodies = 0
    inline = 0
    for key in load.keys:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=VERSIONED, Prefix=key)
        listed: list[tuple[str, bool, bool]] = []  # (version id, is marker, is latest)
        for page in pages:
            listed += [(v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
            files = sum(1 for v in page.get("Versions", []) if v["Size"] > VERSIONS_INLINE_MAX)
            bodies += files
            inline += len(page.get("Versions", [])) - files
            listed += [(m["VersionId"], True, m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        ids = {vid for vid, _, _ in listed}
        acked = load.acked[key]
        # Every acknowledged version survived, each readable with its bytes.
        for vid, digest in acked:
            assert vid in ids, (key, vid)
            if digest is not None:
                got = s3.get_object(Bucket=VERSIONED, Key=key, VersionId=vid)
                assert hashlib.md5(got["Body"].read()).hexdigest() == digest, (key, vid)
        # At most one more: the write in flight at the kill, which may or may not have committed.
        extra = ids - {vid for vid, _ in acked}
        assert len(extra) <= (1 if key in load.in_flight else 0), (key, extra)
        ((latest, latest_is_marker),) = [(vid, marker) for vid, marker, is_latest in listed if is_latest]
        if extra:  # the write in flight committed: it must be what that thread was writing
            assert latest == extra.pop(), key
            assert latest_is_marker == (load.in_flight[key] is None), key
        else:  # the current version is the last acknowledged one
            assert (latest, latest_is_marker) == (acked[-1][0], acked[-1][1] is None), key
        if latest_is_marker:
            with pytest.raises(ClientError) as err:
                s3.get_object(Bucket=VERSIONED, Key=key)
            headers = err.value.response["ResponseMetadata"]["HTTPHeaders"]
            assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", latest), key
        else:
            got = s3.get_object(Bucket=VERSIONED, Key=key)
            assert got["VersionId"] == latest, key
            digest = hashlib.md5(got["Body"].read()).hexdigest()
            assert digest in {d for vid, d in acked if vid == latest} | {load.in_flight.get(key)}, key
    assert bodies > 0 and inline > 0  # both kinds were written
    assert os.listdir(data_dir / ".smarts3" / "tmp") == []
    assert len(body_files(data_dir)) == bodies


@pytest.mark.slow
def test_sigkill_while_writing_versions_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    inline_env = {"SMARTS3_INLINE_MAX_BYTES": str(VERSIONS_INLINE_MAX)}
    proc, url = start_subprocess_server(data_dir, env=inline_env)
    try:
        s3 = Server(url, data_dir).client(connect_timeout=2, read_timeout=20)
        s3.create_bucket(Bucket=VERSIONED)
        s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        load = VersionLoad(s3, keys=4)
        threads = [threading.Thread(target=load.write, args=(i,)) for i in range(len(load.keys))]
        for t in threads:
            t.start()
        wait_for(lambda: all(len(a) >= 15 for a in load.acked.values())
                 and any(d is None for a in load.acked.values() for _, d in a), 90, "versions to be acknowledged")
        kill_under_load(proc, load, threads)
    finally:
        stop_server(proc)

    proc, url = start_subprocess_server(data_dir, env=inline_env)
    try:
        audit_versions(Server(url, data_dir).client(), load, data_dir)
    finally:
        stop_server(proc)


LIFECYCLE = "crash-lifecycle"
LIFECYCLE_V = "crash-lifecycle-v"
# Bodies as files (inline off): the orphan check below counts body files against what survived.
LC_ENV = {
    "SMARTS3_LIFECYCLE_DAY_SECONDS": "1",
    "SMARTS3_LIFECYCLE_SWEEP_INTERVAL": "0.2",
    "SMARTS3_INLINE_MAX_BYTES": "0",
}


def _expired_lines(proc: Any) -> int:
    return server_output(proc).count("expired")


@pytest.mark.slow
def test_sigkill_mid_lifecycle_sweep_then_restart(tmp_path: Path) -> None:
    """The sweeper killed while it expires objects and noncurrent versions: after a restart
    nothing is half-deleted (every listed version reads back whole, no body file is orphaned)
    and the next pass finishes the work."""
    from concurrent.futures import ThreadPoolExecutor

    data_dir = tmp_path / "data"
    doomed, kept, versioned_keys = 1500, 20, 60
    proc, url = start_subprocess_server(data_dir, "--fsync", "never", env=LC_ENV)
    try:
        s3 = Server(url, data_dir).client(connect_timeout=2, read_timeout=20)
        s3.create_bucket(Bucket=LIFECYCLE)
        s3.create_bucket(Bucket=LIFECYCLE_V)
        s3.put_bucket_versioning(Bucket=LIFECYCLE_V, VersioningConfiguration={"Status": "Enabled"})
        writes = [(LIFECYCLE, f"exp/{i:05d}") for i in range(doomed)] + [(LIFECYCLE, f"keep/{i}") for i in range(kept)]
        writes += [(LIFECYCLE_V, f"nc/{i:03d}") for i in range(versioned_keys) for _ in range(3)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda w: s3.put_object(Bucket=w[0], Key=w[1], Body=w[1].encode()), writes))
        s3.put_bucket_lifecycle_configuration(Bucket=LIFECYCLE_V, LifecycleConfiguration={"Rules": [
            {"ID": "nc", "Filter": {"Prefix": "nc/"}, "Status": "Enabled",
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        s3.put_bucket_lifecycle_configuration(Bucket=LIFECYCLE, LifecycleConfiguration={"Rules": [
            {"ID": "exp", "Filter": {"Prefix": "exp/"}, "Status": "Enabled", "Expiration": {"Days": 1}}]})
        wait_for(lambda: _expired_lines(proc) >= 20, 60, "the lifecycle pass to start expiring")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        done_before_kill = _expired_lines(proc)
    finally:
        stop_server(proc)
    assert done_before_kill < doomed + 2 * versioned_keys, "the pass finished before the kill: nothing tested"

    proc, url = start_subprocess_server(data_dir, "--fsync", "never", env=LC_ENV)
    try:
        s3 = Server(url, data_dir).client()

        def listed(bucket: str, prefix: str) -> list[str]:
            return [c["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                    for c in p.get("Contents", [])]

        wait_for(lambda: not listed(LIFECYCLE, "exp/"), 60, "the restarted sweep to expire the rest")

        def version_count() -> int:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=LIFECYCLE_V)
            return sum(len(p.get("Versions", [])) + len(p.get("DeleteMarkers", [])) for p in pages)

        wait_for(lambda: version_count() == versioned_keys, 60, "the noncurrent versions to expire")
        assert listed(LIFECYCLE, "keep/") == sorted(f"keep/{i}" for i in range(kept))
        for key in listed(LIFECYCLE, "keep/") + listed(LIFECYCLE_V, "nc/"):
            bucket = LIFECYCLE_V if key.startswith("nc/") else LIFECYCLE
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
        assert os.listdir(data_dir / ".smarts3" / "tmp") == []
        assert len(body_files(data_dir)) == kept + versioned_keys  # no orphan left by the kill
    finally:
        stop_server(proc)
