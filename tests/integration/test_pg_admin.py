"""`smarts3 admin fsck` and `smarts3 admin sse rewrap` on a data directory whose metadata is in
PostgreSQL, beside a running replica (SMARTS3_METADATA names the database, as for serve)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from smarts3.storage.fs.layout import Layout, new_body_id
from tests.conftest import Server, start_subprocess_server, stop_server
from tests.integration.test_pg_outage import wait_for

K1 = "k1:" + base64.b64encode(os.urandom(32)).decode()
K2 = "k2:" + base64.b64encode(os.urandom(32)).decode()


def admin(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    return subprocess.run([sys.executable, "-m", "smarts3", "admin", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def replica(data_dir: Path, dsn: str, keys: str = K1) -> tuple[Any, Any]:
    proc, url = start_subprocess_server(data_dir, "--fsync", "never",
                                        env={"SMARTS3_METADATA": dsn, "SMARTS3_SSE_MASTER_KEY": keys})
    return proc, Server(url, data_dir).client()


def master_key_ids(dsn: str) -> list[str]:
    """The master key id of every SSE record (objects, versions, uploads)."""
    with psycopg.connect(dsn) as conn:
        metas = [m for t in ("objects", "versions", "uploads")
                 for (m,) in conn.execute(f"SELECT meta FROM {t}".encode()).fetchall()]
    records = [json.loads(m).get("extra", {}).get("sse") for m in metas]
    return sorted(json.loads(r)["k"] for r in records if r is not None)


def test_rewrap_beside_a_running_replica(postgres_dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, s3 = replica(data, postgres_dsn, K1)
    try:
        s3.create_bucket(Bucket="rot")
        s3.put_bucket_versioning(Bucket="rot", VersioningConfiguration={"Status": "Enabled"})
        for body in (b"old v1", b"old v2"):  # a noncurrent version and a current object
            s3.put_object(Bucket="rot", Key="old", Body=body, ServerSideEncryption="AES256")
        s3.create_multipart_upload(Bucket="rot", Key="up", ServerSideEncryption="AES256")
    finally:
        stop_server(proc)
    old = master_key_ids(postgres_dsn)
    assert old and set(old) == {"k1"}
    proc, s3 = replica(data, postgres_dsn, f"{K1},{K2}")  # the replicas learn k2 first
    try:
        s3.put_object(Bucket="rot", Key="new", Body=b"new", ServerSideEncryption="AES256")
        missing = admin("sse", "rewrap", "--data-dir", str(data), SMARTS3_METADATA=postgres_dsn,
                        SMARTS3_SSE_MASTER_KEY=K2)
        assert missing.returncode == 1 and "master key k1 is not in the keyring" in missing.stderr, missing
        assert sorted(master_key_ids(postgres_dsn)) == sorted([*old, "k2"])  # nothing changed
        done = admin("sse", "rewrap", "--data-dir", str(data), SMARTS3_METADATA=postgres_dsn,
                     SMARTS3_SSE_MASTER_KEY=f"{K1},{K2}")
        assert done.returncode == 0, done.stderr
        assert f"re-wrapped {len(old)} data key(s) under master key 'k2'; 1 already current" in done.stdout
        assert set(master_key_ids(postgres_dsn)) == {"k2"}
        assert s3.get_object(Bucket="rot", Key="old")["Body"].read() == b"old v2"
    finally:
        stop_server(proc)
    proc, s3 = replica(data, postgres_dsn, K2)  # k1 retired: everything still readable
    try:
        versions = s3.list_object_versions(Bucket="rot")["Versions"]
        bodies = {s3.get_object(Bucket="rot", Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                  for v in versions}
        assert bodies == {b"old v1", b"old v2", b"new"}
    finally:
        stop_server(proc)


def test_fsck_beside_a_running_replica(postgres_dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, s3 = replica(data, postgres_dsn)
    try:
        s3.create_bucket(Bucket="chk")
        body = os.urandom(100_000)  # above the inline limit: a body file
        s3.put_object(Bucket="chk", Key="kept", Body=body)
        s3.put_object(Bucket="chk", Key="lost", Body=body)
        with psycopg.connect(postgres_dsn) as conn:
            row = conn.execute("SELECT segments FROM objects WHERE key = %s", (b"lost",)).fetchone()
        assert row is not None
        lost_body = json.loads(row[0])[0][0]
        os.unlink(Layout(data).body_path(lost_body))
        orphan = Path(Layout(data).body_path(new_body_id()))
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_bytes(b"nobody references me")
        wait_for(lambda: time.time() > orphan.stat().st_ctime + 0.01, 10, "the clock to pass the orphan's ctime")

        refused = admin("fsck", "--data-dir", str(data))  # no SMARTS3_METADATA
        assert refused.returncode == 1 and "is in PostgreSQL" in refused.stderr, refused

        young = admin("fsck", "--data-dir", str(data), SMARTS3_METADATA=postgres_dsn)  # default grace: 1 h
        assert young.returncode == 1, young
        assert str(orphan) not in young.stdout  # too young to judge: a live replica may be writing it
        assert f"missing body: object chk/lost (body {lost_body})" in young.stdout

        found = admin("fsck", "--data-dir", str(data), "--grace", "0", SMARTS3_METADATA=postgres_dsn)
        assert found.returncode == 1, found
        assert f"orphan body file: {orphan}" in found.stdout
        assert f"missing body: object chk/lost (body {lost_body})" in found.stdout
        assert orphan.exists()  # reporting changes nothing

        repaired = admin("fsck", "--data-dir", str(data), "--grace", "0", "--repair", SMARTS3_METADATA=postgres_dsn)
        assert "repaired: removed 1 orphan(s)" in repaired.stdout, repaired
        assert repaired.returncode == 1  # the missing body cannot be repaired
        assert not orphan.exists()
        assert s3.get_object(Bucket="chk", Key="kept")["Body"].read() == body
        assert not [p for p in (data / ".smarts3" / "tmp").iterdir() if p.name.startswith("fsck-")]  # cleaned up
    finally:
        stop_server(proc)
