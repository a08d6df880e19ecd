"""`smarts3 admin credentials show-root`: which root key a client should use, and from where."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    commands = groups.add_parser("credentials", help="the root credential").add_subparsers(
        dest="credentials_command", required=True
    )
    show = commands.add_parser(
        "show-root", parents=[common], help="print the root access key id and where it comes from"
    )
    show.add_argument("--show-secret", action="store_true", help="print the secret key too")
    show.set_defaults(admin_run=show_root)


def show_root(args: argparse.Namespace) -> int:
    from smarts3.admin.target import load_settings, root_key

    key = root_key(args, load_settings(args))
    print(f"access key id: {key.access_key}")
    print(f"source:        {key.source}")
    if args.show_secret:
        print(f"secret key:    {key.secret_key}")
    return 0
