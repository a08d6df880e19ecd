"""Multipart uploads: upload and part rows, part writers, completion, abort.

A completed upload's object references its part files directly as segments,
so completion is one transaction and copies no bytes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from smarts3.storage.base import (
    BodyCipher,
    InvalidPart,
    NoSuchBucket,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    PartInfo,
    PartPage,
    UploadInfo,
    WriteCondition,
)
from smarts3.storage.fs import completed
from smarts3.storage.fs.bodies import BufferedBodyWriter
from smarts3.storage.fs.db import read_txn
from smarts3.storage.fs.env import Env
from smarts3.storage.fs.locks import hold_key, hold_upload
from smarts3.storage.fs.objects import check_condition, etags_equal, require_bucket
from smarts3.storage.fs.rows import (
    Segment,
    bucket_exists,
    dumps,
    enc_key,
    fetch_object,
    meta_to_json,
    put_object_row,
    upload_from_row,
)
from smarts3.storage.fs.versioning import bucket_state, place_current


def new_upload_id() -> str:
    # A fixed-width time prefix makes id order initiation order, which keeps
    # S3's upload-id-marker consistent with listing by initiation time.
    return f"{time.time_ns():016x}{secrets.token_urlsafe(18)}"


def create_upload_sync(env: Env, bucket: str, key: str, meta: ObjectMeta) -> UploadInfo:
    info = UploadInfo(bucket=bucket, key=key, upload_id=new_upload_id(), initiated=time.time(), meta=meta)
    with env.pool.writer() as c:
        hold_upload(c, bucket, info.upload_id)
        require_bucket(c, bucket)
        c.execute(
            "INSERT INTO uploads (upload_id, bucket, key, initiated, meta) VALUES (?, ?, ?, ?, ?)",
            (info.upload_id, bucket, enc_key(key), info.initiated, meta_to_json(meta)),
        )
    return info


def _upload_row(conn: sqlite3.Connection, bucket: str, key: str, upload_id: str) -> tuple[Any, ...]:
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT upload_id, bucket, key, initiated, meta FROM uploads WHERE upload_id = ?",
        (upload_id,),
    ).fetchone()
    if row is None or row[1] != bucket or row[2] != enc_key(key):
        if not bucket_exists(conn, bucket):
            raise NoSuchBucket(bucket)
        raise NoSuchUpload(upload_id)
    return row


def get_upload_sync(env: Env, bucket: str, key: str, upload_id: str) -> UploadInfo:
    with env.pool.conn() as c:
        return upload_from_row(_upload_row(c, bucket, key, upload_id))


def commit_part_sync(
    env: Env,
    upload: tuple[str, str, str],
    part_number: int,
    *,
    body_id: str,
    size: int,
    etag: str,
    checksums: Mapping[str, str],
) -> PartInfo:
    now = time.time()

    def txn(c: sqlite3.Connection) -> tuple[str] | None:
        hold_upload(c, upload[0], upload[2])
        _upload_row(c, *upload)
        old: tuple[str] | None = c.execute(
            "SELECT body FROM parts WHERE upload_id = ? AND part_number = ?",
            (upload[2], part_number),
        ).fetchone()
        c.execute(
            "INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, checksums,"
            " body, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (upload[2], part_number, size, etag, dumps(dict(checksums)), body_id, now),
        )
        return old

    old = env.commits.run(txn)
    if old is not None:
        env.unlink_bodies([old[0]])
    return PartInfo(part_number=part_number, size=size, etag=etag, last_modified=now, checksums=checksums)


def list_parts_sync(env: Env, upload: tuple[str, str, str], marker: int, max_parts: int) -> PartPage:
    with env.pool.conn() as c, read_txn(c):
        _upload_row(c, *upload)
        rows = c.execute(
            "SELECT part_number, size, etag, last_modified, checksums FROM parts"
            " WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (upload[2], marker, max(max_parts, 0) + 1),
        ).fetchall()
    parts = [
        PartInfo(part_number=r[0], size=r[1], etag=r[2], last_modified=r[3], checksums=json.loads(r[4]))
        for r in rows[: max(max_parts, 0)]
    ]
    return PartPage(
        parts=parts,
        is_truncated=len(rows) > len(parts),
        next_part_number_marker=parts[-1].part_number if parts else None,
    )


def complete_sync(
    env: Env,
    upload: tuple[str, str, str],
    parts: Sequence[tuple[int, str]],
    *,
    etag: str,
    meta: ObjectMeta,
    condition: WriteCondition | None,
) -> ObjectInfo:
    bucket, key, upload_id = upload
    raw_key = enc_key(key)
    with env.pool.writer() as c:
        hold_key(c, bucket, raw_key, upload_id)
        _upload_row(c, *upload)
        stored = {
            r[0]: r
            for r in c.execute(
                "SELECT part_number, size, etag, checksums, body FROM parts WHERE upload_id = ?",
                (upload_id,),
            )
        }
        segments: list[Segment] = []
        checksums: list[Mapping[str, str]] = []
        used: set[int] = set()
        for number, part_etag in parts:
            row = stored.get(number)
            if row is None:
                raise InvalidPart(number, "not uploaded")
            if number in used:
                raise InvalidPart(number, "listed twice")
            if not etags_equal(row[2], part_etag):
                raise InvalidPart(number, "ETag does not match")
            used.add(number)
            segments.append((row[4], row[1]))
            checksums.append(json.loads(row[3]))
        old = fetch_object(c, bucket, raw_key)
        check_condition(old, condition)
        now = time.time()
        state = bucket_state(c, bucket)
        version, replaced = place_current(c, bucket, raw_key, state, old)
        obj = put_object_row(
            c,
            bucket,
            raw_key,
            etag=etag,
            last_modified=now,
            meta=meta,
            segments=segments,
            part_checksums=checksums,
            version=version,
        )
        c.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
        c.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        info = obj.info(meta, versioned=bool(state))
        completed.record(c, upload_id, parts, info, now)
    garbage = [r[4] for n, r in stored.items() if n not in used]
    garbage.extend(replaced)
    env.unlink_bodies(garbage)
    return info


def abort_sync(env: Env, upload: tuple[str, str, str]) -> None:
    with env.pool.writer() as c:
        hold_upload(c, upload[0], upload[2])
        _upload_row(c, *upload)
        bodies = [r[0] for r in c.execute("SELECT body FROM parts WHERE upload_id = ?", (upload[2],))]
        c.execute("DELETE FROM parts WHERE upload_id = ?", (upload[2],))
        c.execute("DELETE FROM uploads WHERE upload_id = ?", (upload[2],))
    env.unlink_bodies(bodies)


class FsPartWriter(BufferedBodyWriter):
    def __init__(
        self, env: Env, upload: tuple[str, str, str], part_number: int, cipher: BodyCipher | None = None
    ) -> None:
        super().__init__(env, cipher, part_number)
        self._upload = upload
        self._part_number = part_number

    def _enter_sync(self) -> None:
        with self._env.pool.conn() as c:
            require_bucket(c, self._upload[0])
            _upload_row(c, *self._upload)

    async def commit(self, checksums: Mapping[str, str]) -> PartInfo:
        size = self._size

        def publish(body_id: str, md5_hex: str) -> PartInfo:
            return commit_part_sync(
                self._env,
                self._upload,
                self._part_number,
                body_id=body_id,
                size=size,
                etag=f'"{md5_hex}"',
                checksums=dict(checksums),
            )

        return await self._commit_in_thread(publish)
