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
from dataclasses import dataclass
from pathlib import Path

from smarts3.storage.fs.db import connect, ensure_schema
from smarts3.storage.fs.layout import Layout, is_body_id


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


def recover(data_dir: Path, *, fsync: bool = True) -> RecoveryReport:
    layout = Layout(Path(data_dir))
    layout.ensure(fsync=fsync)
    conn = connect(layout.db_path, fsync=fsync)
    try:
        ensure_schema(conn)
        referenced: set[str] = set()
        for (segments,) in conn.execute("SELECT segments FROM objects"):
            referenced.update(body_id for body_id, _ in json.loads(segments))
        referenced.update(body_id for (body_id,) in conn.execute("SELECT body FROM parts"))
        # Fold the WAL into the database while nobody else has it open.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    layout.restrict_permissions()

    temp_removed = 0
    with os.scandir(layout.tmp_dir) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            temp_removed += 1

    orphans = kept = 0
    with os.scandir(layout.bodies_dir) as subdirs:
        for sub in subdirs:
            if not sub.is_dir(follow_symlinks=False):
                continue
            with os.scandir(sub.path) as files:
                for f in files:
                    if is_body_id(f.name) and f.name in referenced and f.name[:2] == sub.name:
                        kept += 1
                    elif f.is_file(follow_symlinks=False) or f.is_symlink():
                        os.unlink(f.path)
                        orphans += 1
    return RecoveryReport(
        temp_removed=temp_removed,
        orphans_removed=orphans,
        bodies_kept=kept,
        bodies_missing=len(referenced) - kept,
    )
