"""The `smarts3` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from smarts3 import __version__
from smarts3.app import root_credential
from smarts3.config.sections import FIELD_PATH, SECRET_FIELDS, ConfigFileError, to_sections
from smarts3.config.settings import AuthMode, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smarts3", description="S3-compatible object store")
    parser.add_argument("--version", action="version", version=f"smarts3 {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the S3 API on a data directory")
    serve.add_argument("--data-dir", help="data directory (SMARTS3_DATA_DIR, ./smarts3-data)")
    serve.add_argument("--host", help="address to listen on (SMARTS3_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (SMARTS3_PORT, 9000)")
    serve.add_argument(
        "--metrics-port",
        help="ops port for /_metrics, /_health, /_ready; 'off' disables it (SMARTS3_METRICS_PORT, 9090)",
    )
    serve.add_argument("--workers", type=int, help="worker processes (SMARTS3_WORKERS, 1)")
    serve.add_argument("--base-domain", help="virtual-host base domain (SMARTS3_BASE_DOMAIN)")
    serve.add_argument("--fsync", choices=["always", "never"], help="durability (SMARTS3_FSYNC)")
    serve.add_argument("--declared", help="declared buckets/credentials YAML, reloaded live (SMARTS3_DECLARED)")
    serve.add_argument("--tls-cert-file", help="PEM certificate chain: serve HTTPS (SMARTS3_TLS_CERT_FILE)")
    serve.add_argument("--tls-key-file", help="PEM private key (SMARTS3_TLS_KEY_FILE)")
    serve.add_argument(
        "--tls-self-signed",
        action="store_true",
        default=None,
        help="development: serve HTTPS with a generated self-signed certificate",
    )
    serve.add_argument("--tls-redirect-port", type=int, help="plain-HTTP port that redirects to HTTPS")
    serve.add_argument("--auth", choices=["sigv4", "none"], help="'none' serves unsigned requests as root")
    serve.add_argument("--config", type=Path, help="YAML/JSON configuration file (sections, see examples/)")
    config = commands.add_parser("config", help="validate or show configuration").add_subparsers(
        dest="config_command", required=True
    )
    check = config.add_parser("check", help="validate a configuration file")
    check.add_argument("file", type=Path)
    show = config.add_parser("show", help="print the effective configuration, secrets masked")
    show.add_argument("--config", type=Path, help="configuration file to merge under the environment")
    return parser


def _load(config_file: Path | None, overrides: dict[str, Any]) -> Settings | None:
    """The settings, or None after printing what is wrong (key, value, what is allowed)."""
    try:
        return Settings.load(config_file, **overrides)
    except ConfigFileError as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            where = FIELD_PATH.get(str(error["loc"][0]), field) if error["loc"] else "settings"
            value = "********" if field in SECRET_FIELDS else repr(error.get("input"))
            print(f"smarts3: invalid setting {where} = {value}: {error['msg']}", file=sys.stderr)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config":
        settings = _load(getattr(args, "file", None) or args.config, {})
        if settings is None:
            return 2
        if args.config_command == "check":
            print(f"{args.file}: OK")
        else:
            print(yaml.safe_dump(to_sections(settings.model_dump(mode="json")), sort_keys=False), end="")
        return 0
    overrides: dict[str, Any] = {
        name: value for name, value in vars(args).items() if name not in ("command", "config") and value is not None
    }
    loaded = _load(args.config, overrides)
    if loaded is None:
        return 2
    return _serve(loaded)


def _serve(settings: Settings) -> int:
    """Bind → lock the data directory → recovery → banner → serve; nothing is written before the lock."""
    from smarts3.listen import ListenError, bind_all, bound_port
    from smarts3.serve import serve
    from smarts3.storage.fs import recover, system_dir
    from smarts3.storage.fs.owner import DataDirInUse, DataDirLock

    # Everything this process and its workers create (meta.db and its WAL, bodies, keys) is
    # the owner's alone; SQLite, for one, creates its files 0644 otherwise.
    os.umask(0o077)
    try:
        sockets = bind_all(settings)
    except ListenError as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
        return 1
    try:
        lock = DataDirLock.acquire(settings.data_dir)
    except DataDirInUse as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"smarts3: cannot use data directory {settings.data_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    settings = settings.model_copy(update={"port": bound_port(sockets)})
    report = recover(settings.data_dir)
    if settings.tls_self_signed and settings.tls_cert_file is None:
        from smarts3.tls import self_signed

        cert, key = self_signed(system_dir(settings.data_dir) / "tls")
        settings = settings.model_copy(update={"tls_cert_file": cert, "tls_key_file": key})
        print(f"  TLS:        self-signed development certificate {cert}", flush=True)
    cred = root_credential(settings)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"smarts3 {__version__} serving {settings.data_dir.resolve()}", flush=True)
    scheme = "https" if settings.tls_cert_file else "http"
    print(f"  endpoint:   {scheme}://{host}:{settings.port}", flush=True)
    if settings.metrics_port is not None:
        print(f"  ops:        http://{host}:{settings.metrics_port} (/_metrics, /_health, /_ready)", flush=True)
    print(f"  access key: {cred.access_key}", flush=True)
    if cred.generated:
        print(f"  secret key: {cred.secret_key}", flush=True)
        print(f"  (generated once, kept in {system_dir(settings.data_dir)}, mode 0600)", flush=True)
    if settings.auth is AuthMode.NONE:
        print(
            "  WARNING: --auth none: every unsigned request acts as root. Never expose this server.",
            file=sys.stderr,
            flush=True,
        )
    if report.removed:
        print(f"  recovery:   removed {report.removed} leftover file(s)", flush=True)
    return serve(settings, sockets, lock)


if __name__ == "__main__":
    sys.exit(main())
