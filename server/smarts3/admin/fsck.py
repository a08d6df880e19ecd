"""`smarts3 admin fsck`: index vs bodies on the data directory of a stopped server.

It reports body files no row references (and temp files of unfinished writes), and
rows whose body file is missing; `--repair` runs the start-up recovery, which removes
the former. A missing body cannot be repaired: it stays reported. Both steps hold the
data directory's lock, so a running server makes fsck refuse instead of racing it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    fsck = groups.add_parser(
        "fsck", parents=[common], help="check index vs bodies in a stopped server's data directory"
    )
    fsck.add_argument("--repair", action="store_true", help="remove orphan body files and leftover temp files")
    fsck.set_defaults(admin_run=run_fsck)


def run_fsck(args: argparse.Namespace) -> int:
    """0: consistent (after --repair, if given); 1: refused, or problems remain."""
    import sqlite3

    from smarts3.admin.errors import AdminError
    from smarts3.admin.target import load_settings
    from smarts3.config.settings import Fsync
    from smarts3.storage.fs import recover
    from smarts3.storage.fs.layout import Layout
    from smarts3.storage.fs.owner import DataDirInUse, DataDirLock
    from smarts3.storage.fs.recovery import MetadataInPostgres, examine

    settings = load_settings(args)
    data_dir = settings.data_dir
    if not Layout(data_dir).db_path.is_file():
        raise AdminError(f"{data_dir} is not a smarts3 data directory (no {Layout(data_dir).db_path})")
    os.umask(0o077)  # what the server creates is the owner's alone; so is what a repair touches
    try:
        lock = DataDirLock.acquire(data_dir)
    except DataDirInUse as exc:
        raise AdminError(f"fsck needs a stopped server: {exc}") from None
    try:
        try:
            found = examine(data_dir)
        except MetadataInPostgres as exc:
            raise AdminError(f"fsck works on SQLite data directories only: {exc}") from None
        except sqlite3.Error as exc:
            raise AdminError(f"cannot read {Layout(data_dir).db_path}: {exc}") from None
        for path in found.orphans:
            print(f"orphan body file: {path}")
        for path in found.temp_files:
            print(f"leftover temp file: {path}")
        for missing in found.missing:
            print(f"missing body: {missing.owner} (body {missing.body_id})")
        leftovers = len(found.orphans) + len(found.temp_files)
        if args.repair and leftovers:
            report = recover(data_dir, fsync=settings.fsync is Fsync.ALWAYS)
            print(f"repaired: removed {report.orphans_removed} orphan(s), {report.temp_removed} temp file(s)")
            leftovers = 0
    finally:
        lock.release()
    print(
        f"{data_dir}: {len(found.orphans)} orphan body file(s), {len(found.temp_files)} temp file(s), "
        f"{len(found.missing)} missing body file(s)" + (" (cannot be repaired)" if found.missing else "")
    )
    return 1 if leftovers or found.missing else 0
