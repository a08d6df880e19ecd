"""The keyring: master keys (SSE-S3) and named KMS keys, from a file or the environment.

File (SMARTS3_SSE_MASTER_KEYS_FILE), JSON; base64 keys of 32 bytes; the last master key is
the newest and wraps new data keys:

    {"masterKeys": [{"id": "2026-01", "key": "<base64>"}, {"id": "2026-06", "key": "<base64>"}],
     "kmsKeys": [{"id": "app", "key": "<base64>"}]}

SMARTS3_SSE_MASTER_KEY holds "<id>:<base64>" master keys, comma-separated, oldest first; they
come after the file's. With neither, a master key is generated once into the data directory
(protects copied body files, not a stolen disk: logged at INFO on start, and as a WARNING once
per process when an object is first encrypted with it, so a server nobody asks to encrypt is quiet).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

KEY_BYTES = 32
GENERATED_FILE = "sse-keys.json"


class KeyringError(ValueError):
    """A key file or variable that cannot be used (a start-up error)."""


class UnwrapFailed(Exception):
    """A wrapped data key did not open with the key named: wrong key, or tampered record."""


@dataclass(frozen=True, slots=True)
class Keyring:
    master: Mapping[str, bytes]  # id -> key, in insertion order: the last is the newest
    kms: Mapping[str, bytes] = field(default_factory=dict)
    generated: bool = False

    @property
    def newest(self) -> str:
        return list(self.master)[-1]


def wrap(kek: bytes, data_key: bytes) -> bytes:
    return aes_key_wrap(kek, data_key)


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError) as exc:
        raise UnwrapFailed(str(exc)) from None


def _key(raw: Any, where: str) -> bytes:
    try:
        key = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{where}: not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{where}: a key must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def _entries(items: Any, where: str) -> dict[str, bytes]:
    if not isinstance(items, list):
        raise KeyringError(f"{where}: expected a list of {{id, key}}")
    out: dict[str, bytes] = {}
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise KeyringError(f"{where}[{n}]: expected {{id, key}} with a non-empty id")
        if item["id"] in out:
            raise KeyringError(f"{where}: id {item['id']!r} given twice")
        out[item["id"]] = _key(item.get("key"), f"{where}[{n}] ({item['id']})")
    return out


def parse_file(text: str, where: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise KeyringError(f"{where}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"masterKeys", "kmsKeys"}:
        raise KeyringError(f"{where}: expected an object with masterKeys and kmsKeys")
    return (
        _entries(doc.get("masterKeys", []), f"{where}: masterKeys"),
        _entries(doc.get("kmsKeys", []), f"{where}: kmsKeys"),
    )


def parse_env(value: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for n, item in enumerate(v.strip() for v in value.split(",") if v.strip()):
        kid, sep, raw = item.rpartition(":")
        if not sep or not kid:
            raise KeyringError(f"SMARTS3_SSE_MASTER_KEY[{n}]: expected <id>:<base64 key>")
        out[kid] = _key(raw, f"SMARTS3_SSE_MASTER_KEY[{n}] ({kid})")
    return out


def load(keys_file: Path | None, env_value: str | None, system_dir: Path) -> Keyring:
    """The keyring from the settings; generated into `system_dir` when none is configured."""
    master: dict[str, bytes] = {}
    kms: dict[str, bytes] = {}
    if keys_file is not None:
        try:
            text = keys_file.read_text()
        except OSError as exc:
            raise KeyringError(f"{keys_file}: {exc.strerror}") from None
        master, kms = parse_file(text, str(keys_file))
    if env_value:
        for kid, key in parse_env(env_value).items():
            if kid in master and master[kid] != key:
                raise KeyringError(f"master key {kid!r} differs between the file and SMARTS3_SSE_MASTER_KEY")
            master.pop(kid, None)
            master[kid] = key
    if master:
        return Keyring(master, kms)
    if keys_file is not None:
        raise KeyringError(f"{keys_file}: no masterKeys")
    master, kms = _generated(system_dir / GENERATED_FILE)
    return Keyring(master, kms, generated=True)


def _generated(path: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Read the generated key file, creating it first (written aside, then linked into place:
    workers starting together all read the one complete file)."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump({"masterKeys": [{"id": "generated-1", "key": key}]}, out)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink()
    return parse_file(path.read_text(), str(path))


def problems(keys_file: Path | None, env_value: str | None) -> list[str]:
    """Start-up check of the configured keys, as one-line problems (nothing is generated here)."""
    try:
        master: dict[str, bytes] = {}
        if keys_file is not None:
            try:
                master, _ = parse_file(keys_file.read_text(), f"encryption.masterKeysFile {keys_file}")
            except OSError as exc:
                return [f"encryption.masterKeysFile {keys_file}: {exc.strerror}"]
        if env_value:
            master.update(parse_env(env_value))
        if keys_file is not None and not master:
            return [f"encryption.masterKeysFile {keys_file}: no masterKeys"]
    except KeyringError as exc:
        return [str(exc)]
    return []
