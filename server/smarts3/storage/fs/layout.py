"""The data directory layout: the only place that turns anything into a path.

Keys never become paths. A body file is named by a generated id (32 hex
characters), so no byte of a key can reach the filesystem:

    <data>/.smarts3/meta.db        SQLite (WAL): buckets, objects, versions, uploads, parts
    <data>/.smarts3/tmp/<id>       bodies being written (removed by recovery)
    <data>/.smarts3/tmp/<replica>/<id>  the same, per replica, when replicas share the directory
    <data>/.smarts3/bodies/ab/<id> committed bodies, fanned out by the id's first byte
    <data>/.smarts3/server.lock    held (flock) by the one server that owns the directory

Everything here is the owner's only: directories 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_DIR = ".smarts3"
_ID_RE = re.compile(r"[0-9a-f]{32}")
FANOUT = tuple(f"{i:02x}" for i in range(256))
DIR_MODE = 0o700
FILE_MODE = 0o600


def system_dir(data_dir: Path) -> Path:
    """The reserved directory inside the data dir (other modules keep files here too)."""
    return Path(data_dir) / SYSTEM_DIR


def new_body_id() -> str:
    return secrets.token_hex(16)


def is_body_id(name: str) -> bool:
    return _ID_RE.fullmatch(name) is not None


# The launcher of `smarts3 serve` names its replica once; its workers inherit the name.
REPLICA_ENV = "SMARTS3_REPLICA_ID"
_REPLICA_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,99}")


def default_replica_id() -> str:
    """hostname-pid: unique among live replicas on one shared directory (pods differ by host name)."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()).strip(".-")[:64] or "host"
    return f"{host}-{os.getpid()}"


def replica_id() -> str:
    rid = os.environ.get(REPLICA_ENV) or default_replica_id()
    if not _REPLICA_RE.fullmatch(rid):
        raise ValueError(f"{REPLICA_ENV}: not a usable directory name: {rid!r}")
    return rid


@dataclass(frozen=True, slots=True)
class Layout:
    data_dir: Path
    # Set when replicas share the directory: this one's temp files go to tmp/<replica>/.
    replica: str = ""
    # Hot-path paths as plain strings, joined once: pathlib costs microseconds per request.
    _tmp: str = field(init=False, repr=False, compare=False)
    _bodies: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tmp", str(self.tmp_dir))
        object.__setattr__(self, "_bodies", str(self.bodies_dir))

    @property
    def root(self) -> Path:
        return system_dir(self.data_dir)

    @property
    def db_path(self) -> Path:
        return self.root / "meta.db"

    @property
    def lock_path(self) -> Path:
        return self.root / "server.lock"

    @property
    def tmp_root(self) -> Path:
        return self.root / "tmp"

    @property
    def tmp_dir(self) -> Path:
        return self.tmp_root / self.replica if self.replica else self.tmp_root

    @property
    def bodies_dir(self) -> Path:
        return self.root / "bodies"

    def tmp_path(self, body_id: str) -> str:
        return f"{self._tmp}/{_checked(body_id)}"

    def create_temp(self, body_id: str) -> int:
        """A new temp file, opened for writing. A replica's temp directory that another replica's
        start-up swept away while it was empty (shared.py) is made again."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return os.open(self.tmp_path(body_id), flags, FILE_MODE)
        except FileNotFoundError:
            if not self.replica:
                raise
            self.tmp_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            return os.open(self.tmp_path(body_id), flags, FILE_MODE)

    def body_dir(self, body_id: str) -> str:
        return f"{self._bodies}/{_checked(body_id)[:2]}"

    def body_path(self, body_id: str) -> str:
        return f"{self._bodies}/{body_id[:2]}/{_checked(body_id)}"

    def ensure(self, *, fsync: bool) -> None:
        """Create the layout (idempotent). Fan-out directories are made up
        front so the write path never needs a mkdir or a parent-dir fsync."""
        created = False
        for d in (self.data_dir, self.root, self.tmp_root, self.tmp_dir, self.bodies_dir):
            if not d.is_dir():
                d.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                created = True
        for sub in FANOUT:
            p = self.bodies_dir / sub
            if not p.is_dir():
                p.mkdir(mode=DIR_MODE, exist_ok=True)
                created = True
        if created and fsync:
            for d in (self.bodies_dir, self.root, self.data_dir):
                fsync_dir(str(d))

    def restrict_permissions(self) -> None:
        """Owner-only modes for what earlier versions left readable to others (meta.db and its
        WAL were 0644, directories 0755). Never widens a mode. Body files were always 0600 and
        may number millions, so only their directories are visited."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            _restrict(dirpath, DIR_MODE)
            if dirpath == self._bodies:
                for sub in dirnames:
                    _restrict(os.path.join(dirpath, sub), DIR_MODE)
                dirnames.clear()
                continue
            for name in filenames:
                _restrict(os.path.join(dirpath, name), FILE_MODE)


def _checked(body_id: str) -> str:
    # Ids come from our own database; refuse anything else rather than trust it.
    if not is_body_id(body_id):
        raise ValueError(f"not a body id: {body_id!r}")
    return body_id


def _restrict(path: str, allowed: int) -> None:
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISLNK(st.st_mode) and mode & ~allowed:
        os.chmod(path, mode & allowed)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
