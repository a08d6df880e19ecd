"""`smarts3 admin sse rewrap`: re-wrap data keys under the newest master key (stopped server).

Like fsck it works on the data directory under its lock, so a running server makes it refuse.
It reads the same key settings as `serve` (encryption.masterKeysFile, SMARTS3_SSE_MASTER_KEY).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    sse = groups.add_parser("sse", help="encryption at rest: key rotation")
    commands = sse.add_subparsers(dest="sse_command", required=True)
    rewrap = commands.add_parser(
        "rewrap", parents=[common], help="re-wrap data keys under the newest master key (stopped server)"
    )
    rewrap.set_defaults(admin_run=run_rewrap)


def run_rewrap(args: argparse.Namespace) -> int:
    import sqlite3

    from smarts3.admin.errors import AdminError
    from smarts3.admin.target import load_settings
    from smarts3.sse import keys
    from smarts3.sse.record import MissingKey
    from smarts3.sse.rewrap import rewrap_all
    from smarts3.storage.fs.layout import Layout, system_dir
    from smarts3.storage.fs.owner import DataDirInUse, DataDirLock

    settings = load_settings(args)
    layout = Layout(settings.data_dir)
    if not layout.db_path.is_file():
        raise AdminError(f"{settings.data_dir} is not a smarts3 data directory (no {layout.db_path})")
    master = settings.sse_master_key.get_secret_value() if settings.sse_master_key else None
    try:
        keyring = keys.load(settings.sse_master_keys_file, master, system_dir(settings.data_dir))
    except keys.KeyringError as exc:
        raise AdminError(str(exc)) from None
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
    print(
        f"re-wrapped {report.rewrapped} data key(s) under master key {keyring.newest!r}; "
        f"{report.current} already current"
    )
    return 0
