"""A data directory of metadata schema 2 (before versioning) opens with every object intact.

The schema 2 database is made by writing objects, then taking the schema back to exactly what
schema 2 was (no `versions` table, no version columns, user_version 2), so the test does not
depend on old code being at hand. (Checked once by hand as well: a directory written by the
server at main before this change opens the same way.)
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, metrics_url, start_subprocess_server, stop_server

pytestmark = pytest.mark.sqlite_metadata  # SQLite schema migrations

V2_COLUMNS = {
    "buckets": ["name", "created", "region", "tags", "extra"],
    "objects": ["bucket", "key", "size", "etag", "last_modified", "meta", "checksum_algos", "checksum_type",
                "part_checksums", "segments"],
}


def _downgrade_to_schema_2(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("DROP TABLE versions")
        for column in ("version_id", "seq", "body"):  # body: schema 4 (inline bodies)
            conn.execute(f"ALTER TABLE objects DROP COLUMN {column}")
        conn.execute("ALTER TABLE buckets DROP COLUMN versioning")
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
        for table, columns in V2_COLUMNS.items():
            assert [row[1] for row in conn.execute(f"PRAGMA table_info({table})")] == columns
    finally:
        conn.close()


def test_schema_2_directory_opens_with_every_object(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bodies = {f"dir/k{i}": hashlib.sha256(str(i).encode()).digest() * (i + 1) for i in range(30)}
    # A schema 2 server kept every body in a file (no inline bodies before schema 4).
    proc, url = start_subprocess_server(data_dir, env={"SMARTS3_INLINE_MAX_BYTES": "0"})
    try:
        s3 = Server(url, data_dir).client()
        s3.create_bucket(Bucket="old")
        for key, body in bodies.items():
            s3.put_object(Bucket="old", Key=key, Body=body, Metadata={"m": "1"})
        upload = s3.create_multipart_upload(Bucket="old", Key="mp")["UploadId"]
        part = s3.upload_part(Bucket="old", Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 1000)
        s3.complete_multipart_upload(
            Bucket="old", Key="mp", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        bodies["mp"] = b"p" * 1000
        pending = s3.create_multipart_upload(Bucket="old", Key="pending")["UploadId"]
        s3.upload_part(Bucket="old", Key="pending", UploadId=pending, PartNumber=1, Body=b"q")
    finally:
        stop_server(proc)
    db = data_dir / ".smarts3" / "meta.db"
    _downgrade_to_schema_2(db)

    proc, url = start_subprocess_server(data_dir)
    try:
        s3 = Server(url, data_dir).client()
        for key, body in bodies.items():
            got = s3.get_object(Bucket="old", Key=key)
            assert got["Body"].read() == body, key
            assert "VersionId" not in got  # still an unversioned bucket
        assert s3.head_object(Bucket="old", Key="dir/k3")["Metadata"] == {"m": "1"}
        assert s3.list_parts(Bucket="old", Key="pending", UploadId=pending)["Parts"][0]["Size"] == 1
        assert "Status" not in s3.get_bucket_versioning(Bucket="old")
        metrics = httpx.get(f"{metrics_url(proc)}/_metrics").text
        assert 'smarts3_bucket_objects{bucket="old"} 31.0' in metrics
        # Old objects are the "null" versions once versioning is on.
        s3.put_bucket_versioning(Bucket="old", VersioningConfiguration={"Status": "Enabled"})
        assert s3.head_object(Bucket="old", Key="dir/k0")["VersionId"] == "null"
        new = s3.put_object(Bucket="old", Key="dir/k0", Body=b"new")["VersionId"]
        versions = s3.list_object_versions(Bucket="old", Prefix="dir/k0")["Versions"]
        assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(new, True), ("null", False)]
        assert s3.get_object(Bucket="old", Key="dir/k0", VersionId="null")["Body"].read() == bodies["dir/k0"]
    finally:
        stop_server(proc)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4  # 2 → 3 (versions) → 4 (inline bodies)
    finally:
        conn.close()
