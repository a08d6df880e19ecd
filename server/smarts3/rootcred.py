"""The root credential: from settings, or generated once and kept in the data dir."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "root-credentials.json"
_KEY_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class RootCredential:
    access_key: str
    secret_key: str
    generated: bool  # True when smarts3 made it (so start-up prints it)


def load_or_create(system_dir: Path) -> RootCredential:
    """Read the stored pair, or create it with mode 0600 (O_EXCL: one winner)."""
    path = system_dir / FILE_NAME
    system_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = json.loads(path.read_text())
        return RootCredential(data["accessKeyId"], data["secretAccessKey"], generated=True)
    access = "SM" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
    secret = secrets.token_urlsafe(30)[:40]
    with os.fdopen(fd, "w") as handle:
        json.dump({"accessKeyId": access, "secretAccessKey": secret}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return RootCredential(access, secret, generated=True)
