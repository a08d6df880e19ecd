"""Where the server is and which root key to use: flags, then the settings `serve` reads,
then the root-credentials.json a server generated in its data directory."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smarts3.admin.errors import AdminError
from smarts3.config.settings import Settings


@dataclass(frozen=True, slots=True)
class RootKey:
    access_key: str
    secret_key: str
    source: str  # where it came from, for `credentials show-root`


def load_settings(args: argparse.Namespace) -> Settings:
    from pydantic import ValidationError

    from smarts3.config.sections import ConfigFileError

    overrides: dict[str, Any] = {"data_dir": args.data_dir} if args.data_dir else {}
    try:
        return Settings.load(Path(args.config) if args.config else None, **overrides)
    except ConfigFileError as exc:
        raise AdminError(str(exc)) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        raise AdminError(f"invalid setting {where}: {error['msg']} (see `smarts3 config check`)") from None


def endpoint(args: argparse.Namespace, settings: Settings) -> str:
    if args.endpoint:
        return str(args.endpoint).rstrip("/")
    scheme = "https" if settings.tls_cert_file or settings.tls_self_signed else "http"
    return f"{scheme}://{local_host(settings.host)}:{settings.port}"


def local_host(host: str) -> str:
    """The address to reach a server listening on `host` from this machine."""
    if host in ("", "0.0.0.0"):  # noqa: S104 (a listen address we connect to, not bind)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def root_key(args: argparse.Namespace, settings: Settings) -> RootKey:
    """The same precedence as the server's (app.root_credential), without ever creating a key."""
    from smarts3.rootcred import FILE_NAME
    from smarts3.storage.fs import system_dir

    if args.access_key or args.secret_key:
        if not (args.access_key and args.secret_key):
            raise AdminError("--access-key and --secret-key go together")
        return RootKey(args.access_key, args.secret_key, "command-line flags")
    if settings.access_key and settings.secret_key:
        return RootKey(
            settings.access_key,
            settings.secret_key.get_secret_value(),
            "settings (SMARTS3_ACCESS_KEY and SMARTS3_SECRET_KEY, or the --config file)",
        )
    path = system_dir(settings.data_dir) / FILE_NAME
    try:
        data = json.loads(path.read_text())
        return RootKey(data["accessKeyId"], data["secretAccessKey"], str(path.resolve()))
    except FileNotFoundError:
        raise AdminError(
            f"no root key: not in the settings and no {path}; pass --access-key/--secret-key or --data-dir"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdminError(f"cannot read the root key from {path}: {exc}") from None
