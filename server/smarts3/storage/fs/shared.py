"""Start-up recovery when replicas share the data directory and PostgreSQL holds the metadata.

recovery.py may remove every temp file and every unreferenced body because it runs while
nobody else writes. With replicas, others are writing while one starts: a temp file of a
live replica, or a body it has sealed and is about to commit, looks just like debris. So:

- this replica's own temp directory (tmp/<replica>/) is emptied: nobody else writes there;
- other temp files and unreferenced bodies are removed only once older than a grace period,
  measured by ctime (a hard link made by a copy refreshes it, a body's mtime would not), and
  checked again right before the unlink; an upload writes its temp file continuously, and a
  sealed body is committed within moments;
- one replica at a time does that sweep (pg_try_advisory_lock): a second one skips it.

The referenced set is read after the files are listed, so a body committed meanwhile is seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass

import psycopg

from smarts3.storage.fs import pgschema
from smarts3.storage.fs.layout import Layout, is_body_id
from smarts3.storage.fs.recovery import MetadataInSqlite, empty_dir

# Far above the time from seal to commit, and from one write of an upload's temp file to the next.
ORPHAN_GRACE = 3600.0


@dataclass(frozen=True, slots=True)
class SharedRecovery:
    temp_removed: int
    orphans_removed: int
    swept: bool  # false: another replica held the sweep lock, only our own temp dir was emptied


def recover_shared(layout: Layout, dsn: str, *, fsync: bool = True, grace: float = ORPHAN_GRACE) -> SharedRecovery:
    if layout.db_path.exists():  # its bodies would all be orphans here, swept after the grace period
        raise MetadataInSqlite(
            f"{layout.data_dir} has a SQLite index ({layout.db_path}): move it to PostgreSQL with "
            "smarts3 admin migrate-metadata, or start without --metadata"
        )
    layout.ensure(fsync=fsync)
    pgschema.ensure_schema(dsn)
    marker = layout.root / "metadata-in-postgresql"  # a SQLite server then refuses the directory
    if not marker.exists():
        marker.write_text("the metadata of this data directory is in PostgreSQL (--metadata)\n")
    temp_removed = empty_dir(str(layout.tmp_dir))
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (pgschema.SWEEP_LOCK,)).fetchone()
        if row is None or not row[0]:
            return SharedRecovery(temp_removed, 0, swept=False)
        try:
            cutoff = time.time() - grace
            temp_removed += _stale_temps(layout, cutoff)
            old = _old_bodies(layout, cutoff)
            referenced = _referenced(conn)
            orphans = sum(_unlink_if_old(path, cutoff) for name, path in old if name not in referenced)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (pgschema.SWEEP_LOCK,))
    return SharedRecovery(temp_removed, orphans, swept=True)


def _stale_temps(layout: Layout, cutoff: float) -> int:
    """Old temp files of other (or former) replicas, and their directories once empty and old."""
    removed = 0
    own = str(layout.tmp_dir)
    with os.scandir(layout.tmp_root) as entries:
        for entry in entries:
            if entry.path == own:
                continue
            if entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as files:
                    removed += sum(_unlink_if_old(f.path, cutoff) for f in files)
                if entry.stat(follow_symlinks=False).st_ctime < cutoff:
                    # Empty and idle: gone, or a live replica that makes it again at its next write.
                    with contextlib.suppress(OSError):  # not empty: that replica still writes
                        os.rmdir(entry.path)
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(layout.root / "replicas" / f"{entry.name}.lock")
            else:
                removed += _unlink_if_old(entry.path, cutoff)
    return removed


def _old_bodies(layout: Layout, cutoff: float) -> list[tuple[str, str]]:
    old = []
    with os.scandir(layout.bodies_dir) as subdirs:
        for sub in subdirs:
            if not sub.is_dir(follow_symlinks=False):
                continue
            with os.scandir(sub.path) as files:
                for f in files:
                    if f.stat(follow_symlinks=False).st_ctime < cutoff:
                        old.append((f.name if is_body_id(f.name) and f.name[:2] == sub.name else "", f.path))
    return old


def _referenced(conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
    ids: set[str] = set()
    with conn.transaction():
        cur = conn.cursor(name="smarts3_references")
        cur.execute(
            "SELECT segments FROM objects WHERE segments <> '[]'"
            " UNION ALL SELECT segments FROM versions WHERE segments <> '[]'"
        )
        for (segments,) in cur:
            ids.update(body_id for body_id, _ in json.loads(str(segments)))
        cur.close()
    ids.update(str(body_id) for (body_id,) in conn.execute("SELECT body FROM parts"))
    return ids


def _unlink_if_old(path: str, cutoff: float) -> int:
    try:
        if os.lstat(path).st_ctime >= cutoff:
            return 0
        os.unlink(path)
    except FileNotFoundError:
        return 0
    return 1


@dataclass(frozen=True, slots=True)
class SharedInspection:
    """examine_shared(): what a sweep would remove, and rows whose body file is absent."""

    temp_files: tuple[str, ...]  # other replicas' temp files older than the grace period
    orphans: tuple[str, ...]  # unreferenced body files older than the grace period
    missing: tuple[tuple[str, str], ...]  # (body id, the row referencing it), still referenced when rechecked


def examine_shared(layout: Layout, dsn: str, *, grace: float = ORPHAN_GRACE) -> SharedInspection:
    """Read-only counterpart of recover_shared() (`smarts3 admin fsck`), safe beside running
    replicas: files younger than the grace period may be a live write and are not judged, and a
    body found missing is reported only if a second read still references it (an overwrite
    commits, then unlinks the old body)."""
    cutoff = time.time() - grace
    temps = []
    with os.scandir(layout.tmp_root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as files:
                    temps += [f.path for f in files if f.stat(follow_symlinks=False).st_ctime < cutoff]
            elif entry.stat(follow_symlinks=False).st_ctime < cutoff:
                temps.append(entry.path)
    old = _old_bodies(layout, cutoff)
    with psycopg.connect(dsn, autocommit=True) as conn:
        owners = _owners(conn)
        orphans = [path for name, path in old if name not in owners]
        absent = {body_id for body_id in owners if not _present(layout, body_id)}
        still = _owners(conn) if absent else {}
    missing = sorted((body_id, still[body_id]) for body_id in absent
                     if body_id in still and not _present(layout, body_id))
    return SharedInspection(tuple(sorted(temps)), tuple(sorted(orphans)), tuple(missing))


def _present(layout: Layout, body_id: str) -> bool:
    return is_body_id(body_id) and os.path.isfile(layout.body_path(body_id))


def _owners(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, str]:
    """Every referenced body id and a description of the row that references it."""
    owners: dict[str, str] = {}
    with conn.transaction():
        cur = conn.cursor(name="smarts3_owners")
        cur.execute(
            "SELECT bucket, key, segments FROM objects WHERE segments <> '[]'"
            " UNION ALL SELECT bucket, key, segments FROM versions WHERE segments <> '[]'"
        )
        for bucket, key, segments in cur:
            name = bytes(key).decode("utf-8", "backslashreplace")  # type: ignore[call-overload]
            for body_id, _ in json.loads(str(segments)):
                owners[body_id] = f"object {bucket}/{name}"
        cur.close()
        for upload_id, part_number, body_id in conn.execute("SELECT upload_id, part_number, body FROM parts"):
            owners[str(body_id)] = f"upload {upload_id} part {part_number}"
    return owners
