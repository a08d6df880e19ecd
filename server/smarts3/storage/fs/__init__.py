"""The filesystem store: SQLite metadata, immutable body files named by id."""

from __future__ import annotations

from smarts3.storage.fs.layout import system_dir
from smarts3.storage.fs.recovery import RecoveryReport, recover
from smarts3.storage.fs.store import FilesystemStore

__all__ = ["FilesystemStore", "RecoveryReport", "recover", "system_dir"]
