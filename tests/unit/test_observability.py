"""Logging, access log and metrics: the pure pieces, driven through tiny inline ASGI apps."""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Message, Receive, Scope, Send

from smarts3 import __version__
from smarts3.middleware import AccessLogMiddleware, MetricsMiddleware
from smarts3.observability import install_observability
from smarts3.observability.logging import (
    BackgroundHandler,
    JsonFormatter,
    RequestContextMiddleware,
    RequestIdFilter,
    SharedRotatingFileHandler,
    TextFormatter,
    configure_logging,
    current_request_id,
    flush_logging,
    unconfigure_logging,
)
from smarts3.observability.metrics import (
    Metrics,
    MetricsEndpoint,
    StoreCollector,
    bearer_matches,
    prepare_multiprocess,
    status_class,
)
from smarts3.observability.settings import (
    LogFormat,
    LogLevel,
    LogSettings,
    MetricsSettings,
    ObservabilitySettings,
)


def request(
    app: Any, method: str, path: str, *, client: tuple[str, int] = ("127.0.0.1", 50000), **kwargs: Any
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.request(method, path, **kwargs)

    return anyio.run(go)


# --- settings ------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = ObservabilitySettings()
    assert settings.logging.format is LogFormat.TEXT
    assert settings.logging.level is LogLevel.INFO
    assert settings.logging.access_log is True
    assert settings.logging.file is None
    assert settings.metrics.enabled is True
    assert settings.metrics.bearer_token is None


def test_settings_accept_camel_case_and_any_case_level() -> None:
    settings = ObservabilitySettings.model_validate(
        {
            "logging": {
                "format": "JSON",
                "level": "Warning",
                "accessLog": False,
                "file": "/x/y.log",
                "maxBytes": 1024,
                "backupCount": 2,
            },
            "metrics": {"enabled": False, "bearerToken": "s3cr3t"},
        }
    )
    assert settings.logging.format is LogFormat.JSON
    assert settings.logging.level is LogLevel.WARNING
    assert settings.logging.access_log is False
    assert settings.logging.file == Path("/x/y.log")
    assert (settings.logging.max_bytes, settings.logging.backup_count) == (1024, 2)
    assert settings.metrics.bearer_token is not None
    assert settings.metrics.bearer_token.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)


def test_settings_from_the_flat_server_fields() -> None:
    flat = SimpleNamespace(
        log_format="JSON",
        log_level="debug",
        access_log=False,
        log_file=Path("/var/log/s.log"),
        log_max_bytes=10,
        log_backup_count=1,
        metrics_enabled=True,
        metrics_bearer_token=SecretStr("t"),
    )
    settings = ObservabilitySettings.from_flat(flat)
    assert settings.logging == LogSettings(
        format=LogFormat.JSON,
        level=LogLevel.DEBUG,
        access_log=False,
        file=Path("/var/log/s.log"),
        max_bytes=10,
        backup_count=1,
    )
    assert settings.metrics.bearer_token == SecretStr("t")


@pytest.mark.parametrize(
    ("section", "values", "field"),
    [
        ("logging", {"format": "xml"}, "format"),
        ("logging", {"level": "loud"}, "level"),
        ("logging", {"maxBytes": -1}, "maxBytes"),
        ("logging", {"colour": True}, "colour"),
        ("metrics", {"bearerToken": ""}, "bearerToken"),
        ("metrics", {"port": 9100}, "port"),
    ],
)
def test_settings_reject_invalid_values(section: str, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ObservabilitySettings.model_validate({section: values})
    assert [error["loc"] for error in info.value.errors()] == [(section, field)]


# --- formatters and the request id -----------------------------------------------


def _record(msg: str = "hello %s", *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.getLogger("smarts3.test").makeRecord(
        "smarts3.test", logging.INFO, __file__, 1, msg, args or ("world",), None, extra=extra
    )
    RequestIdFilter().filter(record)
    return record


def test_json_formatter_writes_one_object_with_fields() -> None:
    record = _record(fields={"bucket": "b", "status": 200, "key": "a\nb"}, custom="x")
    line = JsonFormatter().format(record)
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["message"] == "hello world"
    assert obj["level"] == "INFO"
    assert obj["logger"] == "smarts3.test"
    assert obj["request_id"] is None
    assert obj["time"].endswith("Z")
    assert (obj["bucket"], obj["status"], obj["key"], obj["custom"]) == ("b", 200, "a\nb", "x")
    assert "fields" not in obj


def test_json_formatter_includes_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1, "failed", (), sys_exc_info())
    obj = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in obj["exception"]


def sys_exc_info() -> Any:
    import sys

    return sys.exc_info()


def test_text_formatter_quotes_values_that_would_break_the_line() -> None:
    record = _record(fields={"key": "a b", "bucket": "plain", "nl": "x\ny", "none": None, "empty": ""})
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert line.endswith('hello world key="a b" bucket=plain nl="x\\ny" none=- empty=""')
    assert " INFO smarts3.test [-] " in line


async def _call(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _scope(path: str = "/b/k", method: str = "GET", **extra: Any) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": [],
        "query_string": b"",
        "client": ("10.0.0.7", 5555),
        **extra,
    }


def test_request_id_assigned_inside_the_app_reaches_every_log_line() -> None:
    seen: list[str | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(current_request_id())  # before the dispatcher assigns one
        scope["state"]["request_id"] = "REQ123"  # what the S3 dispatcher does
        seen.append(current_request_id())
        seen.append(_record().__dict__["request_id"])

    anyio.run(_call, RequestContextMiddleware(app), _scope())
    assert seen == [None, "REQ123", "REQ123"]
    assert current_request_id() is None  # unbound after the request


# --- configure_logging and rotation ---------------------------------------------------


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    unconfigure_logging()
    root.setLevel(level)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


@pytest.mark.usefixtures("restore_root_logger")
def test_configure_logging_is_idempotent_and_writes_json_to_a_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "smarts3.log"
    settings = LogSettings(format=LogFormat.JSON, level=LogLevel.WARNING, file=log_file)
    configure_logging(settings)
    configure_logging(settings)
    ours = [h for h in logging.getLogger().handlers if isinstance(h, BackgroundHandler)]
    assert len(ours) == 1
    assert isinstance(ours[0].target, SharedRotatingFileHandler)
    logging.getLogger("smarts3.x").info("dropped: below the level")
    logging.getLogger("smarts3.x").warning("kept")
    logging.getLogger("smarts3.access").info("access lines ignore the level")
    flush_logging()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["message"] for line in lines] == ["kept", "access lines ignore the level"]


class Stuck(logging.Handler):
    """A destination that blocks, like a stderr pipe nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait()
        self.lines.append(record.getMessage())


def test_a_blocked_destination_never_blocks_the_caller() -> None:
    stuck = Stuck()
    handler = BackgroundHandler(stuck, capacity=100)
    logger = logging.Logger("smarts3.blocked")
    logger.addHandler(handler)
    started = time.perf_counter()
    try:
        for i in range(1000):
            logger.info("line %d", i)
        assert time.perf_counter() - started < 1.0
    finally:
        stuck.gate.set()
    handler.flush()  # writes the notice of what was dropped
    logger.info("after")
    handler.flush()
    handler.close()
    written = [line for line in stuck.lines if line.startswith("line ")]
    notices = [line for line in stuck.lines if line.startswith("log output fell behind")]
    assert written[0] == "line 0"
    # The batch the writer took out of the queue before it got stuck (at most the queue's
    # capacity plus one), the queue refilled behind it, and a race.
    assert len(written) <= 2 * 100 + 2
    # Every record is either written or counted in a notice.
    assert len(written) + sum(int(n.split()[5]) for n in notices) == 1000
    assert stuck.lines[-1] == "after"


def test_rotation_keeps_whole_lines_and_the_configured_backups(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    handler = SharedRotatingFileHandler(path, max_bytes=1000, backup_count=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(100):
        handler.emit(logging.makeLogRecord({"msg": f"line {i:03d} " + "x" * 40}))
    handler.close()
    files = sorted(f for f in tmp_path.glob("a.log*") if f.suffix != ".lock")
    assert [f.name for f in files] == ["a.log", "a.log.1", "a.log.2", "a.log.3"]
    for f in files:
        assert f.stat().st_size <= 1000
        assert all(line.startswith("line ") and line.endswith("x" * 40) for line in f.read_text().splitlines())


def test_rotation_shared_by_two_processes_loses_no_line(tmp_path: Path) -> None:
    # Two handlers on one path stand in for two worker processes.
    path = tmp_path / "shared.log"
    first = SharedRotatingFileHandler(path, max_bytes=2000, backup_count=50)
    second = SharedRotatingFileHandler(path, max_bytes=2000, backup_count=50)
    for handler in (first, second):
        handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(200):
        (first if i % 2 else second).emit(logging.makeLogRecord({"msg": f"{i:04d} " + "y" * 30}))
    first.close()
    second.close()
    lines = [
        line
        for f in tmp_path.glob("shared.log*")
        if not f.name.endswith(".lock")
        for line in f.read_text().splitlines()
    ]
    assert sorted(lines) == [f"{i:04d} " + "y" * 30 for i in range(200)]
    assert all(f.stat().st_size <= 2000 for f in tmp_path.glob("shared.log*") if f.suffix != ".lock")


# --- metrics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    objects: int
    bytes: int
    multipart_uploads: int


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "2xx"), (204, "2xx"), (304, "3xx"), (404, "4xx"), (499, "4xx"), (503, "5xx"), (0, "other"), (600, "other")],
)
def test_status_class(status: int, expected: str) -> None:
    assert status_class(status) == expected


def test_observe_counts_requests_durations_bytes_and_errors() -> None:
    metrics = Metrics()
    metrics.observe("PutObject", 200, 0.004, 1000, 0, None)
    metrics.observe("PutObject", 200, 0.2, 500, 0, None)
    metrics.observe("GetObject", 404, 0.001, 0, 300, "NoSuchKey")
    reg = metrics.registry
    assert _value(reg, "smarts3_requests_total", operation="PutObject", status_class="2xx") == 2
    assert _value(reg, "smarts3_requests_total", operation="GetObject", status_class="4xx") == 1
    assert _value(reg, "smarts3_received_bytes_total", operation="PutObject") == 1500
    assert _value(reg, "smarts3_sent_bytes_total", operation="GetObject") == 300
    assert _value(reg, "smarts3_request_duration_seconds_count", operation="PutObject") == 2
    assert _value(reg, "smarts3_request_duration_seconds_bucket", operation="PutObject", le="0.005") == 1
    assert _value(reg, "smarts3_s3_errors_total", code="NoSuchKey") == 1
    assert _value(reg, "smarts3_build_info", version=__version__, python_version=platform.python_version()) == 1


def test_expired_uploads_are_counted() -> None:
    metrics = Metrics()
    metrics.count_expired_uploads(0)
    metrics.count_expired_uploads(3)
    assert _value(metrics.registry, "smarts3_multipart_uploads_expired_total") == 3


def test_two_apps_in_one_process_keep_separate_registries() -> None:
    first, second = Metrics(), Metrics()
    first.observe("GetObject", 200, 0.01, 0, 1, None)
    assert _value(second.registry, "smarts3_requests_total", operation="GetObject", status_class="2xx") is None


def test_store_collector_reports_each_bucket() -> None:
    registry = CollectorRegistry()
    registry.register(StoreCollector(lambda: {"b1": Usage(3, 300, 1), "b2": Usage(0, 0, 0)}))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert {s.labels["bucket"]: s.value for s in families["smarts3_bucket_objects"].samples} == {"b1": 3, "b2": 0}
    assert {s.labels["bucket"]: s.value for s in families["smarts3_bucket_bytes"].samples} == {"b1": 300, "b2": 0}
    uploads = families["smarts3_multipart_uploads_in_progress"].samples
    assert {s.labels["bucket"]: s.value for s in uploads} == {"b1": 1, "b2": 0}


def test_store_collector_failure_leaves_the_rest_of_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Usage]:
        raise OSError("database is locked")

    metrics = Metrics(broken)
    text = generate_latest(metrics.registry).decode()
    assert "smarts3_build_info" in text
    assert "smarts3_bucket_objects" not in text
    assert "store statistics unavailable" in caplog.text


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer tok-en", True),
        ("bearer tok-en", True),
        ("Bearer  tok-en ", True),
        ("Bearer tok-eN", False),
        ("Basic tok-en", False),
        ("tok-en", False),
        ("", False),
        (None, False),
    ],
)
def test_bearer_matches(header: str | None, ok: bool) -> None:
    assert bearer_matches(header, "tok-en") is ok


def test_prepare_multiprocess_cleans_stale_files_and_exports_the_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    assert prepare_multiprocess(tmp_path) == tmp_path
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_prepare_multiprocess_defaults_to_env_then_a_temporary_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "from-env"))
    assert prepare_multiprocess() == tmp_path / "from-env"
    assert (tmp_path / "from-env").is_dir()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    made = prepare_multiprocess()
    assert made.is_dir()
    assert made.name.startswith("smarts3-metrics-")
    made.rmdir()


# --- middleware --------------------------------------------------------------------------


def _toy_s3(operation: str | None, status: int, body: bytes, error_code: str | None = None) -> Any:
    """Reads the whole request body, records what the dispatcher records, answers `body`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        state = scope.setdefault("state", {})
        state.update(request_id="RID", bucket="bkt", key="dir/k y", access_key="AKID")
        if operation:
            state["operation"] = operation
        if error_code:
            state["error_code"] = error_code
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body[:3], "more_body": True})
        await send({"type": "http.response.body", "body": body[3:]})

    return app


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("smarts3.access")
    handler = Collect()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_metrics_middleware_labels_by_operation_and_counts_body_bytes() -> None:
    metrics = Metrics()
    app = MetricsMiddleware(_toy_s3("PutObject", 200, b"<ok/>"), metrics)
    assert request(app, "PUT", "/bkt/k", content=b"x" * 12345).status_code == 200
    reg = metrics.registry
    assert _value(reg, "smarts3_requests_total", operation="PutObject", status_class="2xx") == 1
    assert _value(reg, "smarts3_received_bytes_total", operation="PutObject") == 12345
    assert _value(reg, "smarts3_sent_bytes_total", operation="PutObject") == 5
    assert _value(reg, "smarts3_requests_in_flight") == 0


def test_metrics_middleware_without_operation_is_other_and_counts_errors() -> None:
    metrics = Metrics()
    app = MetricsMiddleware(_toy_s3(None, 405, b"<Error/>", "MethodNotAllowed"), metrics)
    request(app, "PATCH", "/bkt")
    assert _value(metrics.registry, "smarts3_requests_total", operation="other", status_class="4xx") == 1
    assert _value(metrics.registry, "smarts3_s3_errors_total", code="MethodNotAllowed") == 1


def test_metrics_middleware_records_an_exception_as_500() -> None:
    metrics = Metrics()

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["operation"] = "GetObject"
        raise RuntimeError("bug")

    request(MetricsMiddleware(failing, metrics), "GET", "/b/k")
    assert _value(metrics.registry, "smarts3_requests_total", operation="GetObject", status_class="5xx") == 1
    assert _value(metrics.registry, "smarts3_requests_in_flight") == 0


def test_no_response_at_all_counts_as_client_closed_499() -> None:
    metrics = Metrics()

    async def gone(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"].update(operation="PutObject", error_code="ClientDisconnected")

    anyio.run(_call, MetricsMiddleware(gone, metrics), _scope(state={}))
    assert _value(metrics.registry, "smarts3_requests_total", operation="PutObject", status_class="4xx") == 1


def test_access_log_line_fields(access_records: list[logging.LogRecord]) -> None:
    app = RequestContextMiddleware(AccessLogMiddleware(_toy_s3("PutObject", 404, b"<Error/>", "NoSuchBucket")))
    request(
        app,
        "PUT",
        "/bkt/dir/k%20y?X-Amz-Signature=deadbeef&X-Amz-Credential=AKID",
        content=b"abc",
        client=("192.0.2.9", 4000),
    )
    (record,) = access_records
    fields = record.__dict__["fields"]
    assert record.__dict__["request_id"] == "RID"
    assert record.getMessage() == "PUT /bkt/dir/k%20y 404"
    duration = fields.pop("duration_ms")
    assert isinstance(duration, float)
    assert duration >= 0
    assert fields == {
        "remote": "192.0.2.9",
        "access_key": "AKID",
        "method": "PUT",
        "operation": "PutObject",
        "bucket": "bkt",
        "key": "dir/k y",
        "status": 404,
        "error_code": "NoSuchBucket",
        "bytes_in": 3,
        "bytes_out": 8,
    }
    line = JsonFormatter().format(record) + TextFormatter().format(record)
    assert "deadbeef" not in line
    assert "Signature" not in line


def test_access_log_is_skipped_when_the_logger_is_off(access_records: list[logging.LogRecord]) -> None:
    logging.getLogger("smarts3.access").setLevel(logging.WARNING)
    assert request(AccessLogMiddleware(_toy_s3("GetObject", 200, b"data")), "GET", "/b/k").content == b"data"
    assert access_records == []


# --- the installer and the /_metrics endpoint --------------------------------------------


def _toy_app() -> Starlette:
    return Starlette(routes=[Mount("", app=_toy_s3("GetObject", 200, b"object"))])


@pytest.mark.usefixtures("restore_root_logger")
def test_install_routes_metrics_ahead_of_the_catch_all(access_records: list[logging.LogRecord]) -> None:
    settings = ObservabilitySettings(metrics=MetricsSettings(bearer_token="tok"))
    inner = _toy_app()
    inner.state.draining = False
    app = install_observability(inner, settings, lambda: {"bkt": Usage(1, 6, 0)})
    assert app.state.draining is False  # the launcher marks the app it was given draining
    token = {"Authorization": "Bearer tok"}
    assert request(app, "GET", "/bkt/k").content == b"object"
    denied = request(app, "GET", "/_metrics")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert request(app, "GET", "/_metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = request(app, "GET", "/_metrics", headers=token)
    head = request(app, "HEAD", "/_metrics", headers=token)
    assert request(app, "POST", "/_metrics", headers=token).status_code == 405
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(ok.text)}
    requests = {
        (s.labels["operation"], s.labels["status_class"]): s.value
        for s in families["smarts3_requests"].samples
        if s.name == "smarts3_requests_total"
    }
    assert requests == {("GetObject", "2xx"): 1, ("other", "4xx"): 2}
    assert families["smarts3_bucket_bytes"].samples[0].value == 6
    assert head.status_code == 200
    assert head.content == b""
    assert [r.getMessage().split()[1] for r in access_records] == [
        "/bkt/k",
        "/_metrics",
        "/_metrics",
        "/_metrics",
        "/_metrics",
        "/_metrics",
    ]


def test_install_with_everything_off_adds_no_route_and_no_access_log(
    access_records: list[logging.LogRecord],
) -> None:
    settings = ObservabilitySettings(logging=LogSettings(access_log=False), metrics=MetricsSettings(enabled=False))
    app = install_observability(_toy_app(), settings)
    # Falls through to the catch-all, as any other path would.
    assert request(app, "GET", "/_metrics").content == b"object"
    assert access_records == []


def test_metrics_endpoint_gzips_when_asked() -> None:
    metrics = Metrics()
    endpoint = MetricsEndpoint(metrics.registry)
    raw = request(endpoint, "GET", "/_metrics", headers={"Accept-Encoding": "gzip"})
    plain = request(endpoint, "GET", "/_metrics", headers={"Accept-Encoding": "identity"})
    assert raw.headers["content-encoding"] == "gzip"
    assert "smarts3_build_info" in raw.text  # httpx decodes it
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > int(raw.headers["content-length"])


@pytest.mark.parametrize("created", [0.0, 1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0005])
def test_timestamps_are_iso_utc_with_milliseconds(created: float) -> None:
    import datetime as dt

    record = logging.makeLogRecord({"created": created})
    expected = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert JsonFormatter().format(record).startswith(f'{{"time":"{expected}"')
