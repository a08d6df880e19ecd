"""`smarts3 admin migrate-metadata`: move a stopped server's SQLite index into PostgreSQL.

Afterwards every replica is started with `--metadata <the same URL>` on the same data
directory (its body files stay where they are). The SQLite index is renamed, not deleted.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

HELP = """copy the SQLite metadata index of a stopped server's data directory into PostgreSQL.
The target database must be empty (no buckets, objects, versions or uploads) unless --force,
which first empties it. One transaction: a failed copy leaves the target as it was. Body
files stay in the data directory; afterwards start every replica with --metadata URL. The
SQLite index is renamed to meta.db.migrated-to-postgresql, and a server started without
--metadata on this directory refuses to start."""


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    cmd = groups.add_parser("migrate-metadata", parents=[common], help="copy a SQLite index into PostgreSQL",
                            description=HELP)
    cmd.add_argument("--to", required=True, metavar="URL", help="postgresql://user:password@host:port/database")
    cmd.add_argument("--force", action="store_true", help="empty a target database that already holds metadata")
    cmd.set_defaults(admin_run=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from smarts3.admin.errors import AdminError
    from smarts3.admin.target import load_settings
    from smarts3.storage.fs.layout import Layout
    from smarts3.storage.fs.owner import DataDirInUse, DataDirLock

    if not args.to.startswith(("postgresql://", "postgres://")):
        raise AdminError("--to: expected a postgresql:// URL")
    try:
        import psycopg

        from smarts3.storage.fs.migrate import TargetNotEmpty, migrate
    except ImportError:
        raise AdminError("PostgreSQL support is not installed: pip install 'smarts3[postgres]'") from None
    data_dir = load_settings(args).data_dir
    if not Layout(data_dir).db_path.is_file():
        raise AdminError(f"{data_dir} has no SQLite index to migrate ({Layout(data_dir).db_path})")
    os.umask(0o077)
    try:
        lock = DataDirLock.acquire(data_dir)
    except DataDirInUse as exc:
        raise AdminError(f"migrate-metadata needs a stopped server: {exc}") from None
    try:
        copied = migrate(data_dir, args.to, force=args.force)
    except TargetNotEmpty as exc:
        raise AdminError(f"the target database already holds metadata ({exc}); --force empties it first") from None
    except psycopg.Error as exc:
        raise AdminError(f"PostgreSQL: {exc}") from None
    finally:
        lock.release()
    print("copied " + ", ".join(f"{n} {table}" for table, n in copied.rows.items()))
    print(f"now start every replica with --metadata on {data_dir}")
    return 0
