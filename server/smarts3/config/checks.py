"""Start-up checks of what the settings point at: TLS files, the data directory, the declared file.

Each check returns problems as one-line strings naming the setting, so that `smarts3 serve`
stops before its banner (exit 2, no traceback) and `smarts3 config check` / `smarts3 declared
check` report the same lines. Nothing here writes: a failing start-up leaves no trace.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from smarts3.config.declared import DeclaredConfig
from smarts3.config.sections import FIELD_PATH, SECRET_FIELDS

_MASK = "********"
_DECLARED_SECRETS = frozenset({"secretAccessKey"})


def setting_errors(exc: ValidationError) -> list[str]:
    """Settings validation errors as `invalid setting <section.key> = <value>: <why>` lines."""
    lines = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"])
        where = FIELD_PATH.get(str(error["loc"][0]), field) if error["loc"] else "settings"
        value = _MASK if field in SECRET_FIELDS else repr(error.get("input"))
        lines.append(f"invalid setting {where} = {value}: {error['msg']}")
    return lines


def tls_problems(cert_file: Path | None, key_file: Path | None) -> list[str]:
    """The certificate and key are readable PEM and belong together (what every worker loads)."""
    if cert_file is None or key_file is None:
        return []
    contents: dict[str, bytes] = {}
    for where, path in (("tls.certFile", cert_file), ("tls.keyFile", key_file)):
        try:
            contents[where] = Path(path).read_bytes()
        except OSError as exc:
            return [f"invalid setting {where} = {str(path)!r}: cannot read: {exc.strerror or exc}"]
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        x509.load_pem_x509_certificates(contents["tls.certFile"])
    except ValueError:
        return [f"invalid setting tls.certFile = {str(cert_file)!r}: not a PEM certificate"]
    try:
        load_pem_private_key(contents["tls.keyFile"], password=None)
    except (ValueError, TypeError):  # TypeError: the key is encrypted, and we have no passphrase
        return [f"invalid setting tls.keyFile = {str(key_file)!r}: not an unencrypted PEM private key"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        why = "the key does not match the certificate" if "MISMATCH" in str(exc) else str(exc)
        return [f"invalid setting tls.keyFile = {str(key_file)!r}: {why} (tls.certFile = {str(cert_file)!r})"]
    return []


def data_dir_problems(data_dir: Path) -> list[str]:
    """The data directory, or the nearest ancestor it would be created in, is a writable directory."""
    path = Path(data_dir).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    where = f"invalid setting storage.dataDir = {str(data_dir)!r}"
    if not existing.is_dir():
        return [f"{where}: {existing} is not a directory"]
    if not os.access(existing, os.W_OK | os.X_OK):
        detail = "" if existing == path else f" ({existing}, where it would be created)"
        return [f"{where}: not writable by this user{detail}"]
    return _foreign_files(path / ".smarts3", where, os.geteuid())


def _foreign_files(system: Path, where: str, euid: int) -> list[str]:
    """Files of the server's own directory that another user owns (say, a volume written by a pod
    that ran as root): SQLite and the body store would fail on them mid-request, so say it now.
    root can write anything, so it is not told."""
    if euid == 0 or not system.is_dir():
        return []
    for entry in [system, *system.iterdir()]:
        owner = entry.lstat().st_uid
        if owner != euid:
            return [
                f"{where}: {entry} belongs to uid {owner}, but the server runs as uid {euid} "
                f"(chown the data directory to {euid}, or run as {owner})"
            ]
    return []


def policy_problems(config: DeclaredConfig) -> list[str]:
    """Declared bucket policies the server would refuse (S3's MalformedPolicy reasons)."""
    from smarts3.access.actions import KNOWN_IAM_ACTIONS  # here: the checks stay importable without the server
    from smarts3.access.policy import parse
    from smarts3.access.policy_conditions import PolicyError

    problems = []
    for index, bucket in enumerate(config.buckets):
        if bucket.policy is None:
            continue
        try:
            parse(json.dumps(bucket.policy, separators=(",", ":")), bucket.name, KNOWN_IAM_ACTIONS)
        except PolicyError as exc:
            problems.append(f"buckets[{index}].policy: invalid policy for bucket {bucket.name}: {exc}")
    return problems


def declared_problems(path: Path, setting: str | None = "auth.declared") -> list[str]:
    """The declared file parses, validates, and every secretAccessKeyFile it names is readable.

    `setting` names where the path came from (None: the command line of `declared check`).
    """
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        where = f"invalid setting {setting} = {str(path)!r}" if setting else str(path)
        return [f"{where}: cannot read: {exc.strerror or exc}"]
    except yaml.YAMLError as exc:
        return [f"{path}: not valid YAML/JSON: {' '.join(str(exc).split())}"]
    try:
        config = DeclaredConfig.model_validate(data)
    except ValidationError as exc:
        return [f"{path}: {line}" for line in declared_errors(exc)]
    problems = [f"{path}: {problem}" for problem in policy_problems(config)]
    for index, cred in enumerate(config.credentials):
        secret_file = cred.secret_access_key_file
        if secret_file is None:
            continue
        resolved = secret_file if secret_file.is_absolute() else Path(path).parent / secret_file
        key = f"credentials[{index}].secretAccessKeyFile = {str(secret_file)!r}"
        try:
            text = resolved.read_text()
        except OSError as exc:
            problems.append(f"{path}: {key}: cannot read {resolved}: {exc.strerror or exc}")
            continue
        if not text.strip():
            problems.append(f"{path}: {key}: {resolved} is empty")
    return problems


def declared_errors(exc: ValidationError) -> list[str]:
    """Pydantic errors of a declared file as `<key path> = <value>: <why>` lines, no URLs."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        key = _key_path(loc) or "(top level)"
        value = _MASK if loc and loc[-1] in _DECLARED_SECRETS else repr(error.get("input"))
        why = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            why = f"unknown key; allowed: {', '.join(_allowed_keys(DeclaredConfig, loc[:-1]))}"
        lines.append(f"{key} = {value}: {why}" if loc else why)
    return lines


def _key_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `loc` accepts (by their file spelling), walking lists and sub-models."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = _fields_by_key(current)
        annotation = fields[part].annotation if part in fields else None
        current = _model_in(annotation)
        if current is None:
            return []
    return list(_fields_by_key(current))


def _fields_by_key(model: type[BaseModel]) -> Mapping[str, Any]:
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
