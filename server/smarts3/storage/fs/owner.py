"""One serving process per data directory: an exclusive flock, held for the server's life.

Recovery deletes temp files and body files no row references, which is only safe
while nobody else writes: a second server started on a directory in use would
delete bodies the first one is committing. So the launcher takes this lock
before recovery or anything else that writes, and a second server stops at it.

The lock belongs to the open file, not to a process: worker processes get a
duplicate of the descriptor, so the directory stays owned while the launcher or
any of its workers is alive, and the kernel releases it when the last one exits
(even on SIGKILL).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from multiprocessing import reduction
from pathlib import Path
from typing import Any

from smarts3.storage.fs.layout import DIR_MODE, FILE_MODE, Layout


class DataDirInUse(Exception):
    """Another process holds the data directory's lock."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        holder = f"another smarts3 (pid {pid})" if pid else "another smarts3"
        super().__init__(f"data directory {data_dir} is in use by {holder}; stop it or choose another --data-dir")


class DataDirLock:
    """The held lock; `release` (or process exit) gives it up."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path, replica: str = "") -> DataDirLock:
        """Lock `data_dir` or raise DataDirInUse, changing nothing in a directory someone holds.

        `replica`: replicas share the directory (PostgreSQL metadata); each then locks only
        its own part, `replicas/<replica>.lock`, which guards its temp directory."""
        layout = Layout(Path(data_dir))
        layout.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path = layout.lock_path
        if replica:
            path = layout.root / "replicas" / f"{replica}.lock"
            path.parent.mkdir(mode=DIR_MODE, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(Path(data_dir).resolve(), pid) from None
        except BaseException:
            os.close(fd)
            raise
        # For the message a second server prints; the lock, not this number, is what counts.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled only to hand the lock to a worker process being spawned: DupFd passes
        # the descriptor itself, which shares the flock.
        if self.fd is None:
            raise ValueError("the data directory lock was released")
        return (_adopt, (reduction.DupFd(self.fd), self.path))


def _adopt(dup: Any, path: Path) -> DataDirLock:
    return DataDirLock(dup.detach(), path)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip()) or None
    return None
