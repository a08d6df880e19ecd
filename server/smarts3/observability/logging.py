"""Standard-library logging for smarts3: text or JSON lines, stamped with the request id.

Any logger may attach structured fields with `extra={"fields": {...}}`: the JSON
formatter puts them at the top level of the object, the text formatter appends
them as `key=value`. The request id is not passed around: `RequestContextMiddleware`
binds the request's `scope["state"]` to a context variable, and a handler filter
reads `request_id` from it when the line is written, so every line logged while a
request is being served carries the id the dispatcher assigned, whichever module
logs it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import fcntl
import json
import logging
import os
import sys
from collections.abc import Mapping
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.observability.settings import LogFormat, LogSettings

# The state mapping of the request being served in this task (None outside requests).
_request_state: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "smarts3_request_state", default=None
)

# Marks handlers installed by configure_logging so a second call replaces them.
_OURS = "_smarts3_handler"

# LogRecord attributes that are not user-supplied `extra` keys.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "fields"}


def current_request_id() -> str | None:
    state = _request_state.get()
    if state is None:
        return None
    value = state.get("request_id")
    return value if isinstance(value, str) else None


class RequestContextMiddleware:
    """Binds `scope["state"]` to this task's context, for RequestIdFilter (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # setdefault: the dispatcher writes into this same dict later.
        token = _request_state.set(scope.setdefault("state", {}))
        try:
            await self.app(scope, receive, send)
        finally:
            _request_state.reset(token)


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (None outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in record.__dict__.items():
        if name not in _RESERVED and not name.startswith("_"):
            fields[name] = value
    structured = getattr(record, "fields", None)
    if isinstance(structured, Mapping):
        fields.update(structured)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ASCII-only so a hostile key cannot break the stream."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        obj.update(_fields(record))
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            obj["stack"] = self.formatStack(record.stack_info)
        return json.dumps(obj, default=str, separators=(",", ":"))


def _text_value(value: Any) -> str:
    text = "-" if value is None else str(value)
    if text == "" or any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER [REQUEST-ID] message key=value …`, values quoted when needed."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or "-"
        line = f"{_timestamp(record)} {record.levelname} {record.name} [{request_id}] {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{name}={_text_value(value)}" for name, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class SharedRotatingFileHandler(RotatingFileHandler):
    """Size-based rotation that stays correct when several worker processes share one file.

    Every process appends (O_APPEND keeps whole lines intact). Before each write a
    process reopens the file if another one has rotated it away; rotation itself is
    done under an flock on FILE.lock, re-checking the size on disk, so the backups
    shift once per rotation rather than once per process.
    """

    def __init__(self, filename: Path, max_bytes: int, backup_count: int) -> None:
        super().__init__(filename, mode="a", maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8")
        self._lock_path = f"{self.baseFilename}.lock"

    def _reopen_if_moved(self) -> None:
        if self.stream is None:
            return
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(self.stream.fileno())
        if on_disk is None or (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
            self.stream.close()
            self.stream = self._open()

    def _size(self) -> int:
        if self.stream is None:
            self.stream = self._open()
        return os.fstat(self.stream.fileno()).st_size

    def _rotate_if_needed(self, incoming: int) -> None:
        size = self._size()
        # An empty file is never rotated, even for a line longer than maxBytes.
        if self.maxBytes <= 0 or size == 0 or size + incoming < self.maxBytes:
            return
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                # Another process may have rotated while we waited for the lock.
                self._reopen_if_moved()
                size = self._size()
                if size > 0 and size + incoming >= self.maxBytes:
                    self.doRollover()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            self._reopen_if_moved()
            self._rotate_if_needed(len(line))
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(line)
            self.stream.flush()
        except Exception:
            self.handleError(record)


def make_handler(settings: LogSettings) -> logging.Handler:
    handler: logging.Handler
    if settings.file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handler = SharedRotatingFileHandler(settings.file, settings.max_bytes, settings.backup_count)
    handler.setFormatter(JsonFormatter() if settings.format is LogFormat.JSON else TextFormatter())
    handler.addFilter(RequestIdFilter())
    setattr(handler, _OURS, True)
    return handler


def configure_logging(settings: LogSettings) -> None:
    """Route all logging through one handler on the root logger (idempotent).

    Replaces handlers a previous call installed and leaves any others alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(make_handler(settings))
    root.setLevel(settings.level.value.upper())
    # The access log is switched by `access_log`, not by the level.
    logging.getLogger("smarts3.access").setLevel(logging.INFO)


def unconfigure_logging() -> None:
    """Remove the handlers configure_logging installed (tests, embedding)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
