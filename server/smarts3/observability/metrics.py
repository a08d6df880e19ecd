"""Prometheus metrics: `smarts3_*` names, base units, low-cardinality labels.

Request metrics are recorded by `smarts3.middleware.metrics` through `Metrics.observe`.
Store figures (objects, bytes and multipart uploads per bucket) are not counted
here: a collector asks the store at scrape time through a `StoreStats` callable,
so they are right however many workers share the data directory.

With several worker processes, prometheus-client's multiprocess mode keeps the
request metrics in memory-mapped files under PROMETHEUS_MULTIPROC_DIR and
/_metrics sums them over all workers. `prepare_multiprocess` sets that up in the
launcher before the workers are spawned; the mode must be chosen before
prometheus-client is first imported in a worker, which the environment variable
inherited at spawn guarantees.
"""

from __future__ import annotations

import atexit
import gzip
import hmac
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import anyio.to_thread
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from smarts3 import __version__

log = logging.getLogger("smarts3.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. S3 spans sub-millisecond HEADs to multi-minute uploads of large parts.
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)


class BucketUsage(Protocol):
    """What the store reports for one bucket (any object with these attributes)."""

    @property
    def objects(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    @property
    def multipart_uploads(self) -> int: ...


# Bucket name → usage. Called at scrape time in a worker thread: it may block.
StoreStats = Callable[[], Mapping[str, BucketUsage]]


def multiprocess_dir() -> str | None:
    """The directory shared by worker processes, or None in single-process mode.

    Multiprocess mode needs both the variable and prometheus-client having seen it
    when first imported; a mismatch would export nothing, so it counts as off.
    """
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return None
    if values.ValueClass is values.MutexValue:
        log.warning("%s is set but prometheus_client was imported before it; metrics are per process", MULTIPROC_ENV)
        return None
    return directory


def prepare_multiprocess(directory: Path | None = None) -> Path:
    """Prepare multiprocess metrics for workers about to be spawned (call in the launcher).

    Uses `directory`, else $PROMETHEUS_MULTIPROC_DIR, else a new temporary directory
    (removed when the launcher exits). Metric files a previous run left there are
    deleted, so counters start from zero like after any restart. The variable is
    exported for the workers to inherit.
    """
    if directory is None and os.environ.get(MULTIPROC_ENV):
        directory = Path(os.environ[MULTIPROC_ENV])
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="smarts3-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


_dead_on_exit: set[int] = set()


def _mark_dead_on_exit(directory: str) -> None:
    # Live gauges (requests in flight) of a worker that exited must stop counting.
    pid = os.getpid()
    if pid not in _dead_on_exit:
        _dead_on_exit.add(pid)
        atexit.register(mark_process_dead, pid, directory)


class BuildInfoCollector:
    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "smarts3_build_info",
            "smarts3 build information; the value is always 1.",
            labels=["version", "python_version"],
        )
        info.add_metric([__version__, platform.python_version()], 1.0)
        return [info]


class StoreCollector:
    """Per-bucket figures asked from the store at each scrape."""

    def __init__(self, stats: StoreStats) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        try:
            usage = self._stats()
        except Exception:
            log.exception("store statistics unavailable; omitting bucket metrics from this scrape")
            return []
        objects = GaugeMetricFamily(
            "smarts3_bucket_objects", "Current objects in the bucket (noncurrent versions excluded).", labels=["bucket"]
        )
        size = GaugeMetricFamily(
            "smarts3_bucket_bytes", "Bytes stored in the bucket, noncurrent versions included.", labels=["bucket"]
        )
        uploads = GaugeMetricFamily(
            "smarts3_multipart_uploads_in_progress",
            "Multipart uploads created and not yet completed or aborted.",
            labels=["bucket"],
        )
        for bucket, figures in sorted(usage.items()):
            objects.add_metric([bucket], figures.objects)
            size.add_metric([bucket], figures.bytes)
            uploads.add_metric([bucket], figures.multipart_uploads)
        return [objects, size, uploads]


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class Metrics:
    """The request metrics of one app, and the registry /_metrics exports."""

    def __init__(self, stats: StoreStats | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir()
        # In multiprocess mode values live in the shared files, not in a registry.
        own = None if self.multiprocess_dir else CollectorRegistry()
        self.requests = Counter(
            "smarts3_requests",
            "HTTP requests served, by S3 operation and status class.",
            ["operation", "status_class"],
            registry=own,
        )
        self.duration = Histogram(
            "smarts3_request_duration_seconds",
            "Time from request start to the last response byte.",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=own,
        )
        self.received = Counter(
            "smarts3_received_bytes", "Request body bytes read, by S3 operation.", ["operation"], registry=own
        )
        self.sent = Counter(
            "smarts3_sent_bytes", "Response body bytes sent, by S3 operation.", ["operation"], registry=own
        )
        self.in_flight = Gauge(
            "smarts3_requests_in_flight", "HTTP requests being served.", registry=own, multiprocess_mode="livesum"
        )
        self.expired_uploads = Counter(
            "smarts3_multipart_uploads_expired",
            "Abandoned multipart uploads aborted by the periodic sweep.",
            registry=own,
        )
        self.errors = Counter(
            "smarts3_s3_errors", "Requests answered with an S3 error, by error code.", ["code"], registry=own
        )
        if self.multiprocess_dir:
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            _mark_dead_on_exit(self.multiprocess_dir)
        else:
            assert own is not None
            self.registry = own
            # Per-process figures mean nothing summed over workers, so only here.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self.registry.register(BuildInfoCollector())
        if stats is not None:
            self.registry.register(StoreCollector(stats))
        # labels() takes a lock and validates; the hot path looks children up here instead.
        self._per_operation: dict[str, tuple[Histogram, Counter, Counter]] = {}
        self._per_outcome: dict[tuple[str, str], Counter] = {}

    def count_expired_uploads(self, count: int) -> None:
        """The multipart sweeper's hook: `count` abandoned uploads were just aborted."""
        if count > 0:
            self.expired_uploads.inc(count)

    def observe(
        self, operation: str, status: int, seconds: float, received: int, sent: int, error_code: str | None
    ) -> None:
        children = self._per_operation.get(operation)
        if children is None:
            children = (self.duration.labels(operation), self.received.labels(operation), self.sent.labels(operation))
            self._per_operation[operation] = children
        duration, received_bytes, sent_bytes = children
        duration.observe(seconds)
        if received:
            received_bytes.inc(received)
        if sent:
            sent_bytes.inc(sent)
        outcome = (operation, status_class(status))
        counter = self._per_outcome.get(outcome)
        if counter is None:
            counter = self._per_outcome[outcome] = self.requests.labels(*outcome)
        counter.inc()
        if error_code:
            self.errors.labels(error_code).inc()


def bearer_matches(authorization: str | None, token: str) -> bool:
    if not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


class MetricsEndpoint:
    """GET/HEAD /_metrics: the Prometheus text format (or OpenMetrics if asked), pure ASGI."""

    def __init__(self, registry: CollectorRegistry, bearer_token: str | None = None) -> None:
        self.registry = registry
        self.bearer_token = bearer_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if scope["method"] not in ("GET", "HEAD"):
            status = 405
            body = b"method not allowed\n"
            response_headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"GET, HEAD")]
        elif self.bearer_token is not None and not bearer_matches(headers.get("authorization"), self.bearer_token):
            status = 401
            body = b"a valid bearer token is required\n"
            response_headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"www-authenticate", b'Bearer realm="smarts3 metrics"'),
            ]
        else:
            status = 200
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            gzipped = "gzip" in headers.get("accept-encoding", "")

            def render() -> bytes:
                # Collecting may query the store: never on the event loop.
                text = encoder(self.registry)
                return gzip.compress(text, compresslevel=5) if gzipped else text

            body = await anyio.to_thread.run_sync(render)
            response_headers = [(b"content-type", content_type.encode())]
            if gzipped:
                response_headers.append((b"content-encoding", b"gzip"))
        response_headers.append((b"content-length", str(len(body)).encode()))
        response_headers.append((b"cache-control", b"no-store"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
