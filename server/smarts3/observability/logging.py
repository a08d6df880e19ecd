"""Standard-library logging for smarts3: text or JSON lines, stamped with the request id.

Any logger may attach structured fields with `extra={"fields": {...}}`: the JSON
formatter puts them at the top level of the object, the text formatter appends
them as `key=value`. The request id is not passed around: `RequestContextMiddleware`
binds the request's `scope["state"]` to a context variable, and a handler filter
reads `request_id` from it when the line is written, so every line logged while a
request is being served carries the id the dispatcher assigned, whichever module
logs it. Lines are formatted and written by a background thread (BackgroundHandler),
so neither a slow disk nor an unread stderr can stall the event loop.
"""

from __future__ import annotations

import atexit
import collections
import fcntl
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.middleware.context import bind_request_state, current_request_id, unbind_request_state
from smarts3.observability.settings import LogFormat, LogSettings

# The state mapping of the request being served in this task (None outside requests).
# Marks handlers installed by configure_logging so a second call replaces them.
_OURS = "_smarts3_handler"

# LogRecord attributes that are not user-supplied `extra` keys.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "fields"}


_BATCH_SECONDS = 0.02
_BATCH_MAX = 10_000


class RequestContextMiddleware:
    """Binds `scope["state"]` to this task's context, for RequestIdFilter (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # setdefault: the dispatcher writes into this same dict later.
        token = bind_request_state(scope.setdefault("state", {}))
        try:
            await self.app(scope, receive, send)
        finally:
            unbind_request_state(token)


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (None outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


_second_cache: tuple[int, str] = (-1, "")


def _timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 UTC with milliseconds; the part up to the second is computed once a second."""
    global _second_cache
    second = int(record.created)
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache = (second, prefix)
    return f"{prefix}.{int((record.created - second) * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    # Anything passed as `extra`, then the `fields` mapping; set difference runs in C.
    extra = record.__dict__.keys() - _RESERVED
    structured = record.__dict__.get("fields")
    if not extra and isinstance(structured, dict):
        return structured  # the access log's case: read as is, no copy (formatters only read it)
    fields = {name: record.__dict__[name] for name in sorted(extra) if not name.startswith("_")} if extra else {}
    if isinstance(structured, Mapping):
        fields.update(structured)
    return fields


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


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
        return _encode(obj)


_NEEDS_QUOTES = re.compile(r'[\s"=\\]')


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    kind = type(value)
    if kind is str:  # most values; the same few (remote, key id, operation, bucket) again and again
        cached = _text_cache.get(value)
        if cached is not None:
            return cached
        text: str = value
    elif isinstance(value, int | float):
        return str(value)
    else:
        text = str(value)
    if not text or _NEEDS_QUOTES.search(text) or not text.isprintable():
        text = json.dumps(text)
    if kind is str and len(value) <= 64:
        if len(_text_cache) >= 1024:
            _text_cache.clear()
        _text_cache[value] = text
    return text


# str value -> its text form, for short values (dict operations are atomic under the GIL).
_text_cache: dict[str, str] = {}


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER [REQUEST-ID] message key=value …`, values quoted when needed."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or "-"
        line = f"{_timestamp(record)} {record.levelname} {record.name} [{request_id}] {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join([f"{name}={_text_value(value)}" for name, value in fields.items()])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class Abandonable(logging.Handler):
    """A destination handler that can be given up on when its writer is stuck."""

    abandoned = False

    def acquire(self) -> None:
        if not self.abandoned:
            super().acquire()

    def release(self) -> None:
        if not self.abandoned:
            super().release()

    def flush(self) -> None:
        if not self.abandoned:
            super().flush()

    def close(self) -> None:
        if not self.abandoned:
            super().close()

    def handle_batch(self, records: list[logging.LogRecord]) -> None:
        """Write several records with one write and one flush."""
        lines = []
        for record in records:
            if not self.filter(record):
                continue
            try:
                lines.append(self.format(record) + "\n")
            except Exception:
                self.handleError(record)
        if not lines:
            return
        self.acquire()
        try:
            self._write_text("".join(lines))
        except Exception:
            self.handleError(records[-1])
        finally:
            self.release()

    def _write_text(self, text: str) -> None:
        """Write and flush formatted lines (the handler's lock is held)."""
        raise NotImplementedError


class StderrHandler(Abandonable, logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def _write_text(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class SharedRotatingFileHandler(Abandonable, RotatingFileHandler):
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
            self._write_text(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def _write_text(self, text: str) -> None:
        self._reopen_if_moved()
        self._rotate_if_needed(len(text))
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(text)
        self.stream.flush()


def make_handler(settings: LogSettings) -> logging.Handler:
    """The handler that writes lines: stderr or the rotating file, in the configured format."""
    handler: logging.Handler
    if settings.file is None:
        handler = StderrHandler()
    else:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handler = SharedRotatingFileHandler(settings.file, settings.max_bytes, settings.backup_count)
    handler.setFormatter(JsonFormatter() if settings.format is LogFormat.JSON else TextFormatter())
    return handler


class _Deferred(NamedTuple):
    """An INFO record's parts, made into a LogRecord by the writer thread (BackgroundHandler.defer)."""

    name: str
    pathname: str
    message: str
    fields: Mapping[str, Any]
    request_id: str | None
    created: float

    def record(self) -> logging.LogRecord:
        record = logging.LogRecord(self.name, logging.INFO, self.pathname, 0, self.message, None, None)
        # As if made when deferred: the time is the line's (msecs and relativeCreated as LogRecord's).
        made = record.created
        record.created = self.created
        record.msecs = int((self.created - int(self.created)) * 1000) + 0.0
        record.relativeCreated -= (made - self.created) * 1000
        record.fields = self.fields
        record.request_id = self.request_id
        return record


class BackgroundHandler(logging.Handler):
    """Hands records to a writer thread, so logging never blocks the event loop.

    A slow disk or a stderr nobody reads would otherwise stall every request at its
    access-log line. The queue is bounded: when it is full, records are dropped and
    counted, and a warning with the count is written once there is room again.
    The request id and the message are resolved here, in the logging task's context;
    formatting and I/O happen in the thread.
    """

    def __init__(self, target: logging.Handler, capacity: int = 10_000) -> None:
        super().__init__()
        self.target = target
        self.dropped = 0
        # A deque, not a queue.Queue: an append is one C call under the GIL, where Queue.put takes
        # a lock and notifies a condition per record. The writer is woken only when it waits.
        self._items: collections.deque[logging.LogRecord | _Deferred | threading.Event | None] = collections.deque()
        self._capacity = capacity
        self._idle = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smarts3-log-writer", daemon=True)
        self._thread.start()
        self.addFilter(RequestIdFilter())

    def _put(self, item: logging.LogRecord | _Deferred | threading.Event | None) -> None:
        self._items.append(item)
        if self._idle:  # read after the append: a writer about to wait sees the item or the wake-up
            self._wake.set()

    def emit(self, record: logging.LogRecord) -> None:
        # Resolve the message now: its args may change once this call returns. (In place:
        # any other handler of this record renders the same message from it.)
        record.msg = record.getMessage()
        record.args = None
        self._enqueue(record)

    def _enqueue(self, item: logging.LogRecord | _Deferred) -> None:
        """Queue `item` (under the handler's lock), or count it dropped while the queue is full."""
        if len(self._items) >= self._capacity:
            self.dropped += 1
            return
        if self.dropped:
            self._put(self._dropped_notice())
            self.dropped = 0
        self._put(item)

    def defer(self, name: str, pathname: str, message: str, fields: Mapping[str, Any]) -> None:
        """Queue the INFO record `logger.handle(makeRecord(...))` would hand to `emit` here, made
        by the writer thread instead: the access log's line (see `sole_background_handler`), for
        which building a LogRecord and the logging calls cost the event loop more than the line."""
        created = time.time()
        request_id = current_request_id()
        self.acquire()  # as emit, which Handler.handle calls under the lock
        try:
            self._enqueue(_Deferred(name, pathname, message, fields, request_id, created))
        finally:
            self.release()

    def _dropped_notice(self) -> logging.LogRecord:
        notice = logging.makeLogRecord(
            {
                "name": "smarts3.logging",
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": f"log output fell behind: dropped {self.dropped} record(s)",
            }
        )
        notice.request_id = None
        return notice

    def _run(self) -> None:
        items = self._items
        while True:
            if not items:
                self._idle = True  # set before looking again: see _put
                while not items:
                    self._wake.wait()
                    self._wake.clear()
                self._idle = False
            # Let lines gather: one wake-up per batch rather than per request, since every
            # wake-up of this thread takes the GIL from the busy event loop.
            time.sleep(_BATCH_SECONDS)
            batch = [items.popleft() for _ in range(min(len(items), _BATCH_MAX))]
            records: list[logging.LogRecord] = []
            for item in batch:
                if isinstance(item, logging.LogRecord):
                    records.append(item)
                    continue
                if isinstance(item, _Deferred):
                    records.append(item.record())
                    continue
                # A marker: write what came before it first.
                self._write(records)
                records = []
                if item is None:
                    return
                item.set()
            self._write(records)

    def _write(self, records: list[logging.LogRecord]) -> None:
        if not records:
            return
        if isinstance(self.target, Abandonable):
            # One write and one flush per batch: every syscall here hands the GIL back and
            # forth with the event loop.
            self.target.handle_batch(records)
        else:
            for record in records:
                self.target.handle(record)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until what was logged so far is written (tests; before exit)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self.acquire()  # emit() runs under the same lock
        try:
            if self.dropped:
                self._put(self._dropped_notice())
                self.dropped = 0
        finally:
            self.release()
        self._put(done)
        done.wait(timeout)
        self.target.flush()

    def close(self) -> None:
        # Bounded waits: a writer stuck on a full pipe must not keep the process alive.
        if self._thread.is_alive():
            self._put(None)
            self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self.target.close()
        elif isinstance(self.target, Abandonable):
            # The writer is stuck in a write holding the target's lock; logging's own
            # shutdown would wait on that lock forever.
            self.target.abandoned = True
        super().close()


def sole_background_handler(logger: logging.Logger) -> BackgroundHandler | None:
    """The handler an INFO record of `logger` would reach, if that is only configure_logging's
    BackgroundHandler with nothing else that could see or change the record on the way (no other
    handler, no filter but its own, no disabled logger); else None. Then `defer` to it is the
    same as logging the record."""
    found: BackgroundHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.disabled or current.filters:
            return None
        for handler in current.handlers:
            if found is not None or not isinstance(handler, BackgroundHandler) or not getattr(handler, _OURS, False):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None or found.level > logging.INFO or len(found.filters) != 1:
        return None
    return found


def _ours() -> list[BackgroundHandler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, BackgroundHandler) and getattr(h, _OURS, False)]


def configure_logging(settings: LogSettings) -> None:
    """Route all logging through one background handler on the root logger (idempotent).

    Replaces the handler a previous call installed and leaves any others alone.
    """
    unconfigure_logging()
    # Our formatters never show thread or process names; skip looking them up per record.
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = BackgroundHandler(make_handler(settings))
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(settings.level.value.upper())
    # The access log is switched by `access_log`, not by the level.
    logging.getLogger("smarts3.access").setLevel(logging.INFO)


def flush_logging(timeout: float = 5.0) -> None:
    for handler in _ours():
        handler.flush(timeout)


def unconfigure_logging() -> None:
    """Remove (after writing out) the handler configure_logging installed."""
    root = logging.getLogger()
    for handler in _ours():
        root.removeHandler(handler)
        handler.close()


atexit.register(unconfigure_logging)
