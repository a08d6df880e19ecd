"""Startup recovery: run once, in the launcher, holding the data directory's lock
(storage/fs/owner.py), before any worker starts.

A crash (even SIGKILL) can leave two kinds of debris, never a partial object:
temp files of unfinished writes, and sealed body files whose commit never
happened or whose row was replaced/deleted before the unlink ran. Committed
objects need nothing: SQLite's WAL makes the last committed state durable.
Removing unreferenced bodies is only safe while no worker is writing, which
is why this is not part of opening a store, and why a second server on the same
directory must stop at the lock instead of getting here.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from smarts3.storage.fs.db import connect, ensure_schema
from smarts3.storage.fs.layout import Layout, is_body_id


class MetadataError(Exception):
    """Start-up cannot use the metadata the settings name (serve prints it and exits)."""


class MetadataMismatch(MetadataError):
    """The data directory's metadata is not where the settings say: starting would make every
    body an orphan of an empty index, so recovery refuses."""


class MetadataUnreachable(MetadataError):
    """PostgreSQL refused or could not be reached."""


class MetadataInPostgres(MetadataMismatch):
    """The directory's index moved to PostgreSQL (migrate.py); SQLite recovery refuses it."""


class MetadataInSqlite(MetadataMismatch):
    """A PostgreSQL replica on a directory that still has its SQLite index (never migrated)."""


def _refuse_if_in_postgres(layout: Layout) -> None:
    if (layout.root / "metadata-in-postgresql").exists():
        raise MetadataInPostgres(
            f"the metadata of {layout.data_dir} is in PostgreSQL (smarts3 admin migrate-metadata): "
            "start with --metadata postgresql://…"
        )


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    temp_removed: int
    orphans_removed: int
    bodies_kept: int
    # Referenced by a row but absent on disk: data loss that recovery cannot
    # repair; reads of those objects fail.
    bodies_missing: int

    @property
    def removed(self) -> int:
        return self.temp_removed + self.orphans_removed


def recover(data_dir: Path, *, fsync: bool = True, metadata: str = "", replica: str = "") -> RecoveryReport:
    """`metadata`: a postgresql:// URL when replicas share the directory; then only what is
    safe with others writing is removed (shared.py), and `replica` names our temp directory."""
    if metadata:
        return _recover_shared(Layout(Path(data_dir), replica), metadata, fsync)
    layout = Layout(Path(data_dir))
    _refuse_if_in_postgres(layout)
    layout.ensure(fsync=fsync)
    conn = connect(layout.db_path, fsync=fsync)
    try:
        ensure_schema(conn)
        referenced = {body_id for body_id, _ in _references(conn)}
        # Fold the WAL into the database while nobody else has it open.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    layout.restrict_permissions()

    temp_removed = empty_dir(layout.tmp_dir)

    orphans = kept = 0
    for path in _body_files(layout, referenced):
        if path is None:
            kept += 1
        else:
            os.unlink(path)
            orphans += 1
    return RecoveryReport(
        temp_removed=temp_removed,
        orphans_removed=orphans,
        bodies_kept=kept,
        bodies_missing=len(referenced) - kept,
    )


def _recover_shared(layout: Layout, dsn: str, fsync: bool) -> RecoveryReport:
    import psycopg  # an optional dependency: only with PostgreSQL metadata

    from smarts3.storage.fs.shared import recover_shared

    try:
        done = recover_shared(layout, dsn, fsync=fsync)
    except psycopg.Error as exc:
        raise MetadataUnreachable(f"PostgreSQL metadata: {exc}".strip()) from exc
    layout.restrict_permissions()
    return RecoveryReport(temp_removed=done.temp_removed, orphans_removed=done.orphans_removed, bodies_kept=0,
                          bodies_missing=0)


@dataclass(frozen=True, slots=True)
class MissingBody:
    """A row whose body file is absent: `owner` names the object or the upload part."""

    body_id: str
    owner: str


@dataclass(frozen=True, slots=True)
class Inspection:
    """What recover() would remove, and what it cannot repair; found without changing anything."""

    temp_files: tuple[str, ...]
    orphans: tuple[str, ...]  # files in the bodies tree that no row references
    missing: tuple[MissingBody, ...]


def examine(data_dir: Path) -> Inspection:
    """Read-only counterpart of recover() (`smarts3 admin fsck`); the caller holds the lock.

    The database is opened read-only, so a directory that is not a smarts3 data
    directory raises sqlite3.OperationalError instead of becoming one.
    """
    layout = Layout(Path(data_dir))
    _refuse_if_in_postgres(layout)
    conn = sqlite3.connect(f"{layout.db_path.as_uri()}?mode=ro", uri=True)
    try:
        owners = dict(_references(conn))
    finally:
        conn.close()
    with os.scandir(layout.tmp_dir) as entries:
        temp_files = tuple(sorted(entry.path for entry in entries))
    orphans = tuple(sorted(path for path in _body_files(layout, owners.keys()) if path is not None))
    missing = tuple(
        sorted(
            (
                MissingBody(body_id, _describe(row))
                for body_id, row in owners.items()
                if not (is_body_id(body_id) and os.path.isfile(layout.body_path(body_id)))
            ),
            key=lambda m: m.owner,
        )
    )
    return Inspection(temp_files, orphans, missing)


def _references(conn: sqlite3.Connection) -> Iterator[tuple[str, tuple[str, str, bytes | int]]]:
    """(body id, the row that references it) for every object segment and upload part; the row
    stays raw (kind, bucket or upload id, key or part number) because start-up only needs the ids."""
    tables = ["objects"]
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'versions'").fetchone():  # fsck of a schema 2 dir
        tables.append("versions")  # noncurrent versions (delete markers have no segments)
    for table in tables:
        for bucket, key, segments in conn.execute(f"SELECT bucket, key, segments FROM {table}"):  # noqa: S608
            for body_id, _ in json.loads(segments):
                yield body_id, ("object", bucket, key)
    for upload_id, part_number, body_id in conn.execute("SELECT upload_id, part_number, body FROM parts"):
        yield body_id, ("part", upload_id, part_number)


def _describe(row: tuple[str, str, bytes | int]) -> str:
    kind, first, second = row
    if isinstance(second, bytes):
        return f"{kind} {first}/{second.decode('utf-8', 'backslashreplace')}"
    return f"upload {first} part {second}"


def _body_files(layout: Layout, referenced: Collection[str]) -> Iterator[str | None]:
    """None for each referenced body file, the path of every other file in the bodies tree."""
    with os.scandir(layout.bodies_dir) as subdirs:
        for sub in subdirs:
            if not sub.is_dir(follow_symlinks=False):
                continue
            with os.scandir(sub.path) as files:
                for f in files:
                    if is_body_id(f.name) and f.name in referenced and f.name[:2] == sub.name:
                        yield None
                    elif f.is_file(follow_symlinks=False) or f.is_symlink():
                        yield f.path


def empty_dir(directory: str | Path) -> int:
    """Remove everything in a directory (a temp directory nobody writes to); how many entries went."""
    removed = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
    return removed
