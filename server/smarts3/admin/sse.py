"""`smarts3 admin sse rewrap`: re-wrap data keys under the newest master key (stopped server).

Like fsck it works on the data directory under its lock, so a running server makes it refuse.
It reads the same key settings as `serve` (encryption.masterKeysFile, SMARTS3_SSE_MASTER_KEY).
With PostgreSQL metadata (SMARTS3_METADATA) it runs beside the replicas (sse/rewrap.py: rewrap_shared).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smarts3.config.settings import Settings
    from smarts3.sse.keys import Keyring


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    sse = groups.add_parser("sse", help="encryption at rest: key rotation")
    commands = sse.add_subparsers(dest="sse_command", required=True)
    rewrap = commands.add_parser(
        "rewrap", parents=[common],
        help="re-wrap data keys under the newest master key (SQLite: stopped server; PostgreSQL: online)",
    )
    rewrap.set_defaults(admin_run=run_rewrap)


def run_rewrap(args: argparse.Namespace) -> int:
    import sqlite3

    from smarts3.admin.errors import AdminError
    from smarts3.admin.target import load_settings
    from smarts3.sse.record import MissingKey
    from smarts3.sse.rewrap import rewrap_all
    from smarts3.storage.fs.layout import Layout
    from smarts3.storage.fs.owner import DataDirInUse, DataDirLock

    settings = load_settings(args)
    layout = Layout(settings.data_dir)
    if settings.metadata:
        return _rewrap_shared(settings)
    if (layout.root / "metadata-in-postgresql").exists():
        raise AdminError(f"the metadata of {settings.data_dir} is in PostgreSQL: give rewrap its URL as the server "
                         "gets it (SMARTS3_METADATA or storage.metadata in --config)")
    if not layout.db_path.is_file():
        raise AdminError(f"{settings.data_dir} is not a smarts3 data directory (no {layout.db_path})")
    keyring = _keyring(settings)
    try:
        lock = DataDirLock.acquire(settings.data_dir)
    except DataDirInUse as exc:
        raise AdminError(f"rewrap needs a stopped server: {exc}") from None
    try:
        conn = sqlite3.connect(layout.db_path)
        try:
            report = rewrap_all(conn, keyring)
        except MissingKey as exc:
            raise AdminError(f"master key {exc} is not in the keyring: add it (older keys first) and retry") from None
        finally:
            conn.close()
    finally:
        lock.release()
    _print(report.rewrapped, report.current, keyring.newest)
    return 0


def _print(rewrapped: int, current: int, newest: str) -> None:
    print(f"re-wrapped {rewrapped} data key(s) under master key {newest!r}; {current} already current")


def _keyring(settings: Settings) -> Keyring:
    from smarts3.admin.errors import AdminError
    from smarts3.sse import keys
    from smarts3.storage.fs.layout import system_dir

    master = settings.sse_master_key.get_secret_value() if settings.sse_master_key else None
    try:
        return keys.load(settings.sse_master_keys_file, master, system_dir(settings.data_dir))
    except keys.KeyringError as exc:
        raise AdminError(str(exc)) from None


def _rewrap_shared(settings: Settings) -> int:
    """PostgreSQL metadata: online, each record under the lock its writers take (rewrap_shared)."""
    import psycopg

    from smarts3.admin.errors import AdminError
    from smarts3.sse.record import MissingKey
    from smarts3.sse.rewrap import rewrap_shared
    from smarts3.storage.base import MetadataUnavailable
    from smarts3.storage.fs import pg
    from smarts3.storage.fs.layout import Layout

    layout = Layout(settings.data_dir)
    if not (layout.root / "metadata-in-postgresql").exists():
        raise AdminError(f"{settings.data_dir} is not a smarts3 data directory on PostgreSQL (no "
                         f"{layout.root}/metadata-in-postgresql: no replica has started on it)")
    keyring = _keyring(settings)
    pool = pg.PgPool(settings.metadata, init=lambda: None, max_size=2)  # the replicas made the schema
    try:
        report = rewrap_shared(pool, pg.PgCommitter(pool), keyring)
    except MissingKey as exc:
        raise AdminError(f"master key {exc} is not in the keyring: add it (older keys first) and retry") from None
    except (psycopg.Error, MetadataUnavailable) as exc:
        raise AdminError(f"PostgreSQL metadata: {' '.join(str(exc).split())}") from None
    finally:
        pool.close()
    _print(report.rewrapped, report.current, keyring.newest)
    return 0
