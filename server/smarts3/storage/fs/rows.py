"""Conversions between database rows and the storage value types."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smarts3.storage.base import BucketInfo, ObjectInfo, ObjectMeta, UploadInfo

# Surrogate-escaped strings cannot be valid UTF-8; rather than crash on one,
# store its bytes as-is (they still sort below 0xFF, which bounds prefixes).
_ERRORS = "surrogatepass"


def enc_key(key: str) -> bytes:
    return key.encode("utf-8", _ERRORS)


def dec_key(raw: bytes) -> str:
    return raw.decode("utf-8", _ERRORS)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def meta_to_json(meta: ObjectMeta) -> str:
    return dumps(
        {
            "headers": dict(meta.headers),
            "user": dict(meta.user),
            "tags": dict(meta.tags),
            "checksums": dict(meta.checksums),
            "checksum_type": meta.checksum_type,
            "extra": dict(meta.extra),
        }
    )


def meta_from_json(text: str) -> ObjectMeta:
    d = json.loads(text)
    return ObjectMeta(
        headers=d.get("headers", {}),
        user=d.get("user", {}),
        tags=d.get("tags", {}),
        checksums=d.get("checksums", {}),
        checksum_type=d.get("checksum_type"),
        extra=d.get("extra", {}),
    )


def apply_changes(current: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """`current` with each changed key set, or removed where the change is None."""
    out = dict(current)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def checksum_algos(meta: ObjectMeta) -> str:
    # Denormalized so listings need not parse the meta JSON of every entry.
    return ",".join(sorted(meta.checksums))


Segment = tuple[str, int]  # (body id, size)

# length(body) is NULL for a body in files; SQLite answers it from the record header, without
# reading an inline body's bytes, so HEAD and write checks never load them.
OBJECT_COLUMNS = "key, size, etag, last_modified, meta, part_checksums, segments, version_id, seq, length(body)"


@dataclass(frozen=True, slots=True)
class ObjectRow:
    bucket: str
    key: bytes
    size: int
    etag: str
    last_modified: float
    meta_json: str
    part_checksums_json: str
    segments: tuple[Segment, ...]
    version_id: str = "null"
    seq: int = 0  # orders the versions of a key (versioning.py); 0: written before any
    marker: bool = False  # a delete marker (only ever a row of `versions`)
    inline: bool = False  # the body is in the row (db.py), not in files: no segments


    def info(self, meta: ObjectMeta | None = None, *, versioned: bool = True) -> ObjectInfo:
        return ObjectInfo(
            bucket=self.bucket,
            key=dec_key(self.key),
            size=self.size,
            etag=self.etag,
            last_modified=self.last_modified,
            meta=meta if meta is not None else meta_from_json(self.meta_json),
            part_sizes=(self.size,) if self.inline else tuple(size for _, size in self.segments),
            part_checksums=() if self.part_checksums_json == "[]" else tuple(json.loads(self.part_checksums_json)),
            version_id=self.version_id if versioned else None,
        )

    @property
    def body_ids(self) -> list[str]:
        return [body_id for body_id, _ in self.segments]


# The first reads of a write transaction. locks.hold_keys sends these very statements with the
# locks on PostgreSQL (one round trip), and PgConnection answers them from what came back.
CURRENT_ROW_SQL = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"  # noqa: S608
BUCKET_STATE_SQL = "SELECT versioning, extra FROM buckets WHERE name = ?"


def fetch_object(conn: sqlite3.Connection, bucket: str, key: bytes) -> ObjectRow | None:
    row = conn.execute(CURRENT_ROW_SQL, (bucket, key)).fetchone()
    if row is None:
        return None
    return object_row(bucket, row)


def object_row(bucket: str, row: tuple[Any, ...], marker: bool = False) -> ObjectRow:
    """From a row of OBJECT_COLUMNS."""
    return ObjectRow(
        bucket=bucket,
        key=row[0],
        size=row[1],
        etag=row[2],
        last_modified=row[3],
        meta_json=row[4],
        part_checksums_json=row[5],
        segments=tuple((s[0], s[1]) for s in json.loads(row[6])),
        version_id=row[7],
        seq=row[8],
        marker=marker,
        inline=row[9] is not None,
    )


def put_object_row(
    conn: sqlite3.Connection,
    bucket: str,
    key: bytes,
    *,
    etag: str,
    last_modified: float,
    meta: ObjectMeta,
    segments: Sequence[Segment],
    part_checksums: Sequence[Mapping[str, str]] = (),
    version: tuple[str, int] = ("null", 0),
    body: bytes | None = None,
) -> ObjectRow:
    """Write the current version of a key; `version` is (version id, seq), see versioning.py.

    `body`: the bytes of an inline body (then `segments` is empty)."""
    size = len(body) if body is not None else sum(s for _, s in segments)
    meta_json = meta_to_json(meta)
    pc_json = dumps([dict(c) for c in part_checksums])
    # An UPSERT, not INSERT OR REPLACE: a replace is then an UPDATE, which the usage triggers see.
    conn.execute(
        "INSERT INTO objects (bucket, key, size, etag, last_modified, meta,"
        " checksum_algos, checksum_type, part_checksums, segments, version_id, seq, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (bucket, key) DO UPDATE SET size = excluded.size, etag = excluded.etag,"
        " last_modified = excluded.last_modified, meta = excluded.meta, checksum_algos = excluded.checksum_algos,"
        " checksum_type = excluded.checksum_type, part_checksums = excluded.part_checksums,"
        " segments = excluded.segments, version_id = excluded.version_id, seq = excluded.seq, body = excluded.body",
        (
            bucket,
            key,
            size,
            etag,
            last_modified,
            meta_json,
            checksum_algos(meta),
            meta.checksum_type,
            pc_json,
            dumps([list(s) for s in segments]),
            version[0],
            version[1],
            body,
        ),
    )
    return ObjectRow(
        bucket, key, size, etag, last_modified, meta_json, pc_json, tuple(segments), *version, inline=body is not None
    )


def fetch_body(conn: sqlite3.Connection, row: ObjectRow) -> bytes:
    """The bytes of an inline row, current or noncurrent (seq is unique among a key's versions).

    Call it in the transaction (or read snapshot) the row was read in."""
    found = conn.execute(
        "SELECT body FROM objects WHERE bucket = ?1 AND key = ?2 AND seq = ?3 AND body IS NOT NULL"
        " UNION ALL SELECT body FROM versions WHERE bucket = ?1 AND key = ?2 AND seq = ?3 AND body IS NOT NULL",
        (row.bucket, row.key, row.seq),
    ).fetchone()
    if found is None:
        raise LookupError(f"inline body of {row.bucket}/{row.key!r} (seq {row.seq}) is gone")
    body: bytes = found[0]
    return body


def bucket_exists(conn: sqlite3.Connection, bucket: str) -> bool:
    return conn.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone() is not None


def bucket_from_row(row: tuple[Any, ...]) -> BucketInfo:
    return BucketInfo(
        name=row[0],
        created=row[1],
        region=row[2],
        tags=json.loads(row[3]),
        extra=json.loads(row[4]),
        versioning=row[5] if len(row) > 5 else "",
    )


def upload_from_row(row: tuple[Any, ...]) -> UploadInfo:
    """Row of (upload_id, bucket, key, initiated, meta)."""
    return UploadInfo(
        bucket=row[1],
        key=dec_key(row[2]),
        upload_id=row[0],
        initiated=row[3],
        meta=meta_from_json(row[4]),
    )
