"""`smarts3 admin migrate-metadata`: a SQLite data directory moves to PostgreSQL and serves on.

Objects (inline and in files), versions and a delete marker, a completed multipart object and
an upload still in progress are written on SQLite, copied, and read back from a server on
PostgreSQL on the same data directory; the upload in progress completes there.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, server_output, start_subprocess_server, stop_server
from tests.postgres import PostgresCluster

MiB = 1024 * 1024
pytestmark = pytest.mark.sqlite_metadata  # its SQLite servers are the migration's source


def admin(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY}
    return subprocess.run([sys.executable, "-m", "smarts3", "admin", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_sqlite_index_moves_to_postgres_and_serves(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(11)
    small, large = b"inline body", rng.randbytes(300_000)
    parts = [rng.randbytes(5 * MiB), b"tail"]
    proc, url = start_subprocess_server(data_dir, "--fsync", "never")
    try:
        s3 = Server(url, data_dir).client()
        s3.create_bucket(Bucket="plain")
        s3.put_object(Bucket="plain", Key="small", Body=small)
        s3.put_object(Bucket="plain", Key="dir/large", Body=large, Tagging="a=1")
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket="versioned", Key="k", Body=b"one")["VersionId"]
        v2 = s3.put_object(Bucket="versioned", Key="k", Body=b"two")["VersionId"]
        marker = s3.delete_object(Bucket="versioned", Key="k")["VersionId"]
        done = s3.create_multipart_upload(Bucket="plain", Key="mp")["UploadId"]
        etags = [s3.upload_part(Bucket="plain", Key="mp", UploadId=done, PartNumber=n, Body=b)["ETag"]
                 for n, b in enumerate(parts, start=1)]
        s3.complete_multipart_upload(Bucket="plain", Key="mp", UploadId=done, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
        open_upload = s3.create_multipart_upload(Bucket="plain", Key="later")["UploadId"]
        open_etag = s3.upload_part(Bucket="plain", Key="later", UploadId=open_upload, PartNumber=1,
                                   Body=b"part one")["ETag"]
    finally:
        stop_server(proc)

    dsn = postgres_cluster.new_database()
    moved = admin("migrate-metadata", "--data-dir", str(data_dir), "--to", dsn)
    assert moved.returncode == 0, moved.stderr
    assert "2 buckets" in moved.stdout and "3 objects" in moved.stdout

    # A second SQLite directory cannot be poured into a database that already holds metadata.
    other = tmp_path / "other"
    proc, url = start_subprocess_server(other, "--fsync", "never")
    try:
        Server(url, other).client().create_bucket(Bucket="other")
    finally:
        stop_server(proc)
    refused = admin("migrate-metadata", "--data-dir", str(other), "--to", dsn)
    assert refused.returncode == 1 and "already holds metadata" in refused.stderr
    # Nor can a replica serve that (unmigrated) directory from PostgreSQL: its bodies would be orphans there.
    unmigrated = subprocess.run([sys.executable, "-m", "smarts3", "serve", "--data-dir", str(other), "--port", "0",
                                 "--metrics-port", "off", "--metadata", dsn], capture_output=True, text=True,
                                timeout=60, check=False,
                                env={**os.environ, "SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY})
    assert unmigrated.returncode == 2 and "migrate-metadata" in unmigrated.stderr

    # Without --metadata the directory is refused, not served from a fresh (empty) index.
    stale = subprocess.run([sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data_dir), "--port", "0",
                            "--metrics-port", "off"], capture_output=True, text=True, timeout=60, check=False,
                           env={**os.environ, "SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY})
    assert stale.returncode == 2 and "PostgreSQL" in stale.stderr

    proc, url = start_subprocess_server(data_dir, "--fsync", "never", env={"SMARTS3_METADATA": dsn})
    try:
        s3 = Server(url, data_dir).client()
        assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["plain", "versioned"]
        assert s3.get_object(Bucket="plain", Key="small")["Body"].read() == small
        assert s3.get_object(Bucket="plain", Key="dir/large")["Body"].read() == large
        assert s3.get_object_tagging(Bucket="plain", Key="dir/large")["TagSet"] == [{"Key": "a", "Value": "1"}]
        assert s3.get_object(Bucket="plain", Key="mp")["Body"].read() == b"".join(parts)
        listed = s3.list_objects_v2(Bucket="plain", Delimiter="/")
        assert [c["Key"] for c in listed["Contents"]] == ["mp", "small"]
        assert listed["CommonPrefixes"] == [{"Prefix": "dir/"}]
        versions = s3.list_object_versions(Bucket="versioned")
        assert [v["VersionId"] for v in versions["Versions"]] == [v2, v1]
        assert [(m["VersionId"], m["IsLatest"]) for m in versions["DeleteMarkers"]] == [(marker, True)]
        assert s3.get_object(Bucket="versioned", Key="k", VersionId=v1)["Body"].read() == b"one"
        with pytest.raises(ClientError):
            s3.get_object(Bucket="versioned", Key="k")
        uploads = s3.list_multipart_uploads(Bucket="plain")["Uploads"]
        assert [u["UploadId"] for u in uploads] == [open_upload]
        s3.complete_multipart_upload(Bucket="plain", Key="later", UploadId=open_upload,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": open_etag}]})
        assert s3.get_object(Bucket="plain", Key="later")["Body"].read() == b"part one"
    except Exception:
        print(server_output(proc))
        raise
    finally:
        stop_server(proc)
