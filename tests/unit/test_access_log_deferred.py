"""The access log's deferred record (made by the writer thread) writes the line logging would write."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message

from smarts3.middleware import access_log
from smarts3.middleware.context import bind_request_state, unbind_request_state
from smarts3.middleware.traffic import Traffic
from smarts3.observability import LogFormat, LogSettings
from smarts3.observability.logging import (
    TextFormatter,
    _ours,
    configure_logging,
    flush_logging,
    sole_background_handler,
    unconfigure_logging,
)


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    unconfigure_logging()
    root.setLevel(level)


@contextlib.contextmanager
def only_our_handler() -> Iterator[None]:
    """Root with configure_logging's handler alone: pytest's capture handlers off meanwhile."""
    root = logging.getLogger()
    others = [h for h in root.handlers if h not in _ours()]
    for handler in others:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in others:
            root.addHandler(handler)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


async def _ignore(message: Message) -> None:
    return None


def _emit_both_ways(logger: logging.Logger, scope: dict[str, Any], traffic: Traffic) -> None:
    token = bind_request_state(scope["state"])
    try:
        with only_our_handler():
            _emit(logger, scope, traffic)
    finally:
        unbind_request_state(token)


def _emit(logger: logging.Logger, scope: dict[str, Any], traffic: Traffic) -> None:
    assert sole_background_handler(logger) is not None
    access_log.emit(logger, scope, traffic, 99.5, False)  # deferred
    logger.addFilter(keep := logging.Filter())  # any filter: the record is made here, as before
    try:
        assert sole_background_handler(logger) is None
        access_log.emit(logger, scope, traffic, 99.5, False)
    finally:
        logger.removeFilter(keep)


@pytest.mark.usefixtures("restore_root_logger")
@pytest.mark.parametrize("fmt", [LogFormat.TEXT, LogFormat.JSON])
def test_deferred_line_is_the_logged_line(tmp_path: Path, fmt: LogFormat, monkeypatch: pytest.MonkeyPatch) -> None:
    log_file = tmp_path / "smarts3.log"
    configure_logging(LogSettings(format=fmt, file=log_file))
    monkeypatch.setattr(access_log.time, "perf_counter", lambda: 100.0)  # the same duration_ms both times
    scope: dict[str, Any] = {
        "type": "http",
        "method": "PUT",
        "path": "/bkt/k y",
        "raw_path": b"/bkt/k%20y",
        "client": ("192.0.2.9", 4000),
        "state": {
            "request_id": "RID0001",
            "bucket": "bkt",
            "key": 'k y"\n',
            "operation": "PutObject",
            "access_key": "AKID",
            "error_code": "NoSuchBucket",
        },
    }
    traffic = Traffic(_nothing, _ignore)
    traffic.status, traffic.received, traffic.sent = 404, 3, 8
    _emit_both_ways(logging.getLogger("smarts3.access"), scope, traffic)
    flush_logging()
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2
    if fmt is LogFormat.JSON:
        deferred, logged = (json.loads(line) for line in lines)
        assert deferred.pop("time")
        assert logged.pop("time")
        assert deferred == logged
        assert deferred["request_id"] == "RID0001"
        assert deferred["key"] == 'k y"\n'
    else:
        deferred, logged = (line.split(" ", 1)[1] for line in lines)  # after the timestamp
        assert deferred == logged
        assert deferred.startswith("INFO smarts3.access [RID0001] PUT /bkt/k%20y 404 remote=192.0.2.9 access_key=AKID")
        assert 'key="k y\\"\\n"' in deferred
        assert "duration_ms=500.0" in deferred


def test_text_values_are_the_same_when_cached() -> None:
    record = logging.makeLogRecord({"name": "x", "msg": "m", "levelname": "INFO"})
    record.fields = {"a": "plain", "b": "a b", "c": "", "d": 7, "e": None}
    first = TextFormatter().format(record)
    assert first.endswith('m a=plain b="a b" c="" d=7 e=-')
    assert TextFormatter().format(record) == first
