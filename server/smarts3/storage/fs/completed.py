"""Records of completed multipart uploads, so a retried CompleteMultipartUpload is answered again.

An SDK that lost the response to a Complete sends it once more; S3 answers 200 with the
same result rather than NoSuchUpload. The record is written in the completing transaction
and dropped by the sweeper after a grace period (or with its bucket).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from smarts3.storage.base import CompletedUpload, ObjectInfo
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.rows import dumps, enc_key


def record(conn: sqlite3.Connection, upload_id: str, parts: Sequence[tuple[int, str]], info: ObjectInfo,
           completed: float) -> None:
    result = {"etag": info.etag, "checksums": dict(info.meta.checksums), "checksum_type": info.meta.checksum_type,
              "version_id": info.version_id}
    conn.execute(
        "INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, completed, parts, result)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (upload_id, info.bucket, enc_key(info.key), completed, dumps([list(p) for p in parts]), dumps(result)),
    )


def get_sync(env: Env, bucket: str, key: str, upload_id: str) -> CompletedUpload | None:
    with env.pool.conn() as c:
        row = c.execute(
            "SELECT completed, parts, result FROM completed_uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, enc_key(key)),
        ).fetchone()
    if row is None:
        return None
    result = json.loads(row[2])
    return CompletedUpload(
        bucket=bucket,
        key=key,
        upload_id=upload_id,
        parts=tuple((int(n), str(etag)) for n, etag in json.loads(row[1])),
        etag=result["etag"],
        checksums=result["checksums"],
        checksum_type=result["checksum_type"],
        completed=row[0],
        version_id=result.get("version_id"),
    )


def forget_sync(env: Env, before: float) -> int:
    with env.pool.writer() as c:
        return c.execute("DELETE FROM completed_uploads WHERE completed < ?", (before,)).rowcount


def forget_bucket(conn: sqlite3.Connection, bucket: str) -> None:
    conn.execute("DELETE FROM completed_uploads WHERE bucket = ?", (bucket,))
