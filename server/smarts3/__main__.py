"""The `smarts3` command."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from smarts3 import __version__
from smarts3.admin import add_parser as add_admin
from smarts3.admin import run as run_admin
from smarts3.app import root_credential
from smarts3.config import checks
from smarts3.config.sections import ConfigFileError, env_names, to_sections
from smarts3.config.settings import AuthMode, Settings
from smarts3.rootcred import RootCredential
from smarts3.sse import keys as sse_keys


def _workers(text: str) -> int | str:
    """--workers: a count, or "auto" (Settings resolves it with the CPU budget it was given)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers or 'auto'") from None


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    """The settings flags: `serve` and `config show` take the same ones."""
    parser.add_argument("--data-dir", help="data directory (SMARTS3_DATA_DIR, ./smarts3-data)")
    parser.add_argument("--host", help="address to listen on (SMARTS3_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (SMARTS3_PORT, 9000)")
    parser.add_argument(
        "--metrics-port",
        help="ops port for /_metrics, /_health, /_ready; 'off' disables it (SMARTS3_METRICS_PORT, 9090)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        help="worker processes, or 'auto': one per CPU the cgroup allows (SMARTS3_WORKERS, 1)",
    )
    parser.add_argument("--base-domain", help="virtual-host base domain (SMARTS3_BASE_DOMAIN)")
    parser.add_argument("--fsync", choices=["always", "never"], help="durability (SMARTS3_FSYNC)")
    parser.add_argument(
        "--metadata",
        help="metadata index: empty for SQLite in the data directory, or a postgresql:// URL "
        "so replicas can share the data directory (SMARTS3_METADATA)",
    )
    parser.add_argument("--declared", help="declared buckets/credentials YAML, reloaded live (SMARTS3_DECLARED)")
    parser.add_argument("--tls-cert-file", help="PEM certificate chain: serve HTTPS (SMARTS3_TLS_CERT_FILE)")
    parser.add_argument("--tls-key-file", help="PEM private key (SMARTS3_TLS_KEY_FILE)")
    parser.add_argument(
        "--tls-self-signed",
        action="store_true",
        default=None,
        help="development: serve HTTPS with a generated self-signed certificate",
    )
    parser.add_argument("--tls-redirect-port", type=int, help="plain-HTTP port that redirects to HTTPS")
    parser.add_argument(
        "--auth", choices=["sigv4", "none"], help="'none': any request, unsigned or signed with any key, acts as root"
    )
    parser.add_argument("--config", type=Path, help="YAML/JSON configuration file (sections, see examples/)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smarts3", description="S3-compatible object store")
    parser.add_argument("--version", action="version", version=f"smarts3 {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_flags(commands.add_parser("serve", help="serve the S3 API on a data directory"))
    config = commands.add_parser("config", help="validate or show configuration").add_subparsers(
        dest="config_command", required=True
    )
    check = config.add_parser("check", help="validate a configuration file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--syntax-only",
        action="store_true",
        help="skip the files it references (TLS, declared): for a file checked away from where it runs",
    )
    _serve_flags(config.add_parser("show", help="print what serve would use with these flags, secrets masked"))
    declared = commands.add_parser("declared", help="validate a declared buckets/credentials file").add_subparsers(
        dest="declared_command", required=True
    )
    declared.add_parser("check", help="validate a declared file and the secret files it names").add_argument(
        "file", type=Path
    )
    add_admin(commands)
    return parser


def _load(config_file: Path | None, overrides: dict[str, Any]) -> Settings | None:
    """The settings, or None after printing what is wrong (key, value, what is allowed)."""
    try:
        return Settings.load(config_file, **overrides)
    except ConfigFileError as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
    except ValidationError as exc:
        for line in checks.setting_errors(exc):
            print(f"smarts3: {line}", file=sys.stderr)
    return None


def _file_problems(settings: Settings) -> list[str]:
    """What the settings reference and every worker will open: TLS files, the declared file."""
    problems = checks.tls_problems(settings.tls_cert_file, settings.tls_key_file)
    if settings.declared is not None and not (settings.declared_optional and not settings.declared.exists()):
        problems += checks.declared_problems(settings.declared)
    master_key = settings.sse_master_key.get_secret_value() if settings.sse_master_key else None
    problems += sse_keys.problems(settings.sse_master_keys_file, master_key)
    return problems


def _report(problems: list[str]) -> int:
    for problem in problems:
        print(f"smarts3: {problem}", file=sys.stderr)
    return 2 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "admin":
        return run_admin(args)
    if args.command == "declared":
        if _report(checks.declared_problems(args.file, setting=None)):
            return 2
        print(f"{args.file}: OK")
        return 0
    if args.command == "config":
        overrides = _flag_overrides(args) if args.config_command == "show" else {}
        settings = _load(getattr(args, "file", None) or args.config, overrides)
        if settings is None:
            return 2
        if args.config_command == "check":
            if not args.syntax_only and _report(_file_problems(settings)):
                return 2
            print(f"{args.file}: OK")
        else:
            _show(settings, args.config)
        return 0
    loaded = _load(args.config, _flag_overrides(args))
    if loaded is None:
        return 2
    return _serve(loaded)


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (_serve_flags), by field name."""
    skip = ("command", "config", "config_command")
    return {name: value for name, value in vars(args).items() if name not in skip and value is not None}


def _show(settings: Settings, config_file: Path | None) -> None:
    """The effective settings as a config file, plus where the root key comes from (never the secret)."""
    shown = to_sections(settings.model_dump(mode="json"))
    access_key, source = _root_key_source(settings, config_file)
    if access_key is not None:
        shown["auth"]["accessKey"] = access_key
        shown["auth"]["secretKey"] = "********"
    print(f"# root key: {source}")
    print(yaml.safe_dump(shown, sort_keys=False), end="")


def _root_key_source(settings: Settings, config_file: Path | None) -> tuple[str | None, str]:
    """The root access key (None: not made yet) and where it comes from; reads, never creates."""
    from smarts3.rootcred import FILE_NAME
    from smarts3.storage.fs import system_dir

    if settings.access_key and settings.secret_key:  # the pair app.root_credential uses as it is
        names = {name for field in ("access_key", "secret_key") for name in env_names(field)}
        if any(name.upper() in names for name in os.environ):
            return settings.access_key, "environment"
        return settings.access_key, f"config file {config_file}"
    path = system_dir(settings.data_dir) / FILE_NAME
    try:
        return str(json.loads(path.read_text())["accessKeyId"]), f"generated file {path}"
    except FileNotFoundError:
        return None, f"will be generated at first start, into {path}"
    except (OSError, ValueError, KeyError) as exc:
        return None, f"generated file {path} cannot be read: {exc}"


def export_line(settings: Settings, cred: RootCredential) -> str:
    """`export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=...` for the banner, ready to paste.

    The secret only when the banner shows it anyway (generated); an operator-given secret is
    never printed. A wildcard listen address is reached through loopback.
    """
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if settings.tls_cert_file else "http"
    secret = shlex.quote(cred.secret_key) if cred.generated and settings.banner_secrets else "<your secret>"
    words = [
        f"AWS_ENDPOINT_URL={scheme}://{host}:{settings.port}",
        f"AWS_ACCESS_KEY_ID={shlex.quote(cred.access_key)}",
        f"AWS_SECRET_ACCESS_KEY={secret}",
        f"AWS_REGION={shlex.quote(settings.region)}",
        f"AWS_DEFAULT_REGION={shlex.quote(settings.region)}",  # what botocore (the AWS CLI v1, boto3) reads
    ]
    if settings.tls_self_signed and settings.tls_cert_file is not None:
        words.append(f"AWS_CA_BUNDLE={shlex.quote(str(Path(settings.tls_cert_file).resolve()))}")
    return "export " + " ".join(words)


def _serve(settings: Settings) -> int:
    """Bind → lock the data directory → recovery → banner → serve; nothing is written before the lock."""
    from smarts3.listen import ListenError, bind_all, bound_port
    from smarts3.serve import serve
    from smarts3.storage.fs import recover, system_dir
    from smarts3.storage.fs.layout import REPLICA_ENV, default_replica_id, replica_id
    from smarts3.storage.fs.owner import DataDirInUse, DataDirLock

    # Before anything is bound or written: a start-up that fails here leaves no trace.
    if _report(_file_problems(settings) + checks.data_dir_problems(settings.data_dir)):
        return 2
    if settings.metadata and importlib.util.find_spec("psycopg_pool") is None:
        print("smarts3: --metadata postgresql://… needs pip install 'smarts3[postgres]'", file=sys.stderr)
        return 2
    # Everything this process and its workers create (meta.db and its WAL, bodies, keys) is
    # the owner's alone; SQLite, for one, creates its files 0644 otherwise.
    os.umask(0o077)
    try:
        sockets = bind_all(settings)
    except ListenError as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
        return 2  # a start-up check like the others; 1 is for a data directory another server holds
    try:
        # Shared metadata: replicas share the directory, each locks (and recovers) only its own part.
        os.environ.setdefault(REPLICA_ENV, default_replica_id())  # the workers inherit the name
        replica = replica_id() if settings.metadata else ""
        lock = DataDirLock.acquire(settings.data_dir, replica)
    except (DataDirInUse, ValueError) as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"smarts3: cannot use data directory {settings.data_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    settings = settings.model_copy(update={"port": bound_port(sockets)})
    from smarts3.storage.fs.recovery import MetadataError

    try:
        report = recover(settings.data_dir, metadata=settings.metadata, replica=replica)
    except MetadataError as exc:
        print(f"smarts3: {exc}", file=sys.stderr)
        return 2
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
        hidden = "(not printed: smarts3 admin credentials show-root --show-secret)"
        shown = cred.secret_key if settings.banner_secrets else hidden
        print(f"  secret key: {shown}", flush=True)
        print(f"  (generated once, kept in {system_dir(settings.data_dir)}, mode 0600)", flush=True)
    print("  for the AWS CLI and SDKs:", flush=True)
    print(f"    {export_line(settings, cred)}", flush=True)
    if settings.auth is AuthMode.NONE:
        print(
            "  WARNING: --auth none: every request, unsigned or signed with any key, acts as root. "
            "Never expose this server.",
            file=sys.stderr,
            flush=True,
        )
    if report.removed:
        print(f"  recovery:   removed {report.removed} leftover file(s)", flush=True)
    return serve(settings, sockets, lock)


if __name__ == "__main__":
    sys.exit(main())
