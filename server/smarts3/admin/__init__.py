"""`smarts3 admin`: operate a smarts3 with its root key, one module per command group.

Every group but fsck talks to a running server over S3 (or its ops port); fsck works on
the data directory of a stopped one. Only argparse is imported here: `smarts3 serve`
imports this module too, and each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from smarts3.admin import buckets, credentials, fsck, migrate, sse, usage
from smarts3.admin.errors import AdminError


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register `admin` and its command groups under the `smarts3` subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where the server is (default: the settings `serve` would use)")
    where.add_argument("--endpoint", help="S3 endpoint URL (default: from --host/--port settings)")
    where.add_argument("--access-key", help="root access key id (SMARTS3_ACCESS_KEY, or the data dir's)")
    where.add_argument("--secret-key", help="root secret key (SMARTS3_SECRET_KEY, or the data dir's)")
    where.add_argument("--data-dir", help="the server's data directory (SMARTS3_DATA_DIR, ./smarts3-data)")
    where.add_argument("--config", help="the server's configuration file")
    where.add_argument("--ca-file", help="PEM CA bundle to verify an HTTPS endpoint")
    admin = commands.add_parser("admin", help="operate a server: root key, buckets, usage, fsck, sse, migrate-metadata")
    groups = admin.add_subparsers(dest="admin_command", required=True)
    for module in (credentials, buckets, usage, fsck, sse, migrate):
        module.add_parser(groups, common)


def run(args: argparse.Namespace) -> int:
    """Run the chosen admin command; failures are one line on stderr and exit status 1."""
    try:
        status: int = args.admin_run(args)
    except AdminError as exc:
        print(f"smarts3 admin: {exc}", file=sys.stderr)
        return 1
    return status
