"""`smarts3 admin fsck`: index vs bodies on the data directory of a stopped server.

It reports body files no row references (and temp files of unfinished writes), and
rows whose body file is missing; `--repair` runs the start-up recovery, which removes
the former. A missing body cannot be repaired: it stays reported. Both steps hold the
data directory's lock, so a running server makes fsck refuse instead of racing it.

With PostgreSQL metadata (SMARTS3_METADATA, as for serve) replicas may keep running: fsck
judges only files older than the orphan grace period (shared.py), and `--repair` is the
sweep a starting replica does, under the same advisory lock.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smarts3.config.settings import Settings


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    fsck = groups.add_parser(
        "fsck", parents=[common], help="check index vs bodies (SQLite: a stopped server's data directory; "
        "PostgreSQL: beside the replicas)"
    )
    fsck.add_argument("--repair", action="store_true", help="remove orphan body files and leftover temp files")
    fsck.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                      help="PostgreSQL metadata: judge only files older than this (default 3600; 0 when every "
                      "replica is stopped)")
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
    if settings.metadata:
        return _fsck_shared(args, settings)
    if (Layout(data_dir).root / "metadata-in-postgresql").exists():
        raise AdminError(f"the metadata of {data_dir} is in PostgreSQL: give fsck its URL as the server gets it "
                         "(SMARTS3_METADATA or storage.metadata in --config)")
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


def _fsck_shared(args: argparse.Namespace, settings: Settings) -> int:
    import socket

    import psycopg

    from smarts3.admin.errors import AdminError
    from smarts3.storage.fs.layout import Layout
    from smarts3.storage.fs.shared import ORPHAN_GRACE, examine_shared, recover_shared

    data_dir = settings.data_dir
    layout = Layout(data_dir)
    if layout.db_path.exists():
        raise AdminError(f"{data_dir} has a SQLite index ({layout.db_path}): its metadata is not in PostgreSQL")
    if not (layout.root / "metadata-in-postgresql").exists():
        raise AdminError(f"{data_dir} is not a smarts3 data directory on PostgreSQL (no {layout.root}/"
                         "metadata-in-postgresql: no replica has started on it)")
    os.umask(0o077)
    try:
        grace = ORPHAN_GRACE if args.grace is None else max(0.0, args.grace)
        found = examine_shared(layout, settings.metadata, grace=grace)
        for path in found.orphans:
            print(f"orphan body file: {path}")
        for path in found.temp_files:
            print(f"leftover temp file: {path}")
        for body_id, owner in found.missing:
            print(f"missing body: {owner} (body {body_id})")
        leftovers = len(found.orphans) + len(found.temp_files)
        if args.repair and leftovers:
            own = Layout(data_dir, f"fsck-{socket.gethostname()}-{os.getpid()}")
            try:
                done = recover_shared(own, settings.metadata, fsync=True, grace=grace)
            finally:
                with contextlib.suppress(OSError):
                    os.rmdir(own.tmp_dir)
            if not done.swept:
                raise AdminError("another replica is sweeping right now (it holds the sweep lock): retry later")
            print(f"repaired: removed {done.orphans_removed} orphan(s), {done.temp_removed} temp file(s)")
            leftovers = 0
    except psycopg.Error as exc:
        raise AdminError(f"PostgreSQL metadata: {' '.join(str(exc).split())}") from None
    print(
        f"{data_dir}: {len(found.orphans)} orphan body file(s), {len(found.temp_files)} temp file(s), "
        f"{len(found.missing)} missing body file(s)" + (" (cannot be repaired)" if found.missing else "")
        + f"; files younger than {grace:g} s not judged (replicas may be writing them)"
    )
    return 1 if leftovers or found.missing else 0
