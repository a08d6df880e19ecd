"""Logging, access log and Prometheus metrics around the whole app, in one call.

    configure_logging(observability.logging)                    # once per process
    app = install_observability(app, observability, stats=store.usage)

The result is a pure ASGI wrapper, not Starlette middleware: smarts3's app sends S3
requests past Starlette's router and middleware stack, and every request must be
seen. Outermost first: request context (binds the request id for log lines) →
access log → metrics → GET /_metrics → the app. Lifespan and other non-HTTP scopes
pass straight through. Each part is left out when switched off in the settings; the
context, the access log and the metrics share one wrapper (middleware/observe.py).

/_metrics names every bucket, so on the S3 port it is served only behind the bearer
token and is a plain 404 otherwise. Its home is `ObservedApp.ops`, the app of the ops
listener (serve.py): /_metrics, /_health and /_ready, nothing else, never S3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.middleware.access_log import log as access_log
from smarts3.middleware.observe import ObserveMiddleware
from smarts3.observability.logging import configure_logging
from smarts3.observability.metrics import (
    BucketUsage,
    Metrics,
    MetricsEndpoint,
    StoreStats,
    prepare_multiprocess,
)
from smarts3.observability.settings import LogFormat, LogLevel, LogSettings, MetricsSettings, ObservabilitySettings

if TYPE_CHECKING:
    from smarts3.accesslog_delivery import Delivery

METRICS_PATH = "/_metrics"

__all__ = [
    "METRICS_PATH",
    "BucketUsage",
    "LogFormat",
    "LogLevel",
    "LogSettings",
    "Metrics",
    "MetricsSettings",
    "ObservabilitySettings",
    "ObservedApp",
    "StoreStats",
    "configure_logging",
    "install_observability",
    "prepare_multiprocess",
]


class _Path:
    """Sends one exact path to `endpoint`, everything else to `app`."""

    def __init__(self, path: str, endpoint: ASGIApp, app: ASGIApp) -> None:
        self.path = path
        self.endpoint = endpoint
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


_NOT_FOUND = PlainTextResponse("Not Found", status_code=404)
OPS_PATHS = ("/_health", "/_ready")


class ObservedApp:
    """`app` with observability around it. `state` is the app's, so the launcher can still
    mark it draining; `metrics` is None when metrics are off. `ops` serves the app's own
    /_health and /_ready routes and /_metrics, for the ops listener."""

    def __init__(self, app: Starlette, settings: ObservabilitySettings, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics
        inner: ASGIApp = app
        ops_routes: list[BaseRoute] = [r for r in app.routes if isinstance(r, Route) and r.path in OPS_PATHS]
        if metrics is not None:
            token = settings.metrics.bearer_token
            endpoint = MetricsEndpoint(metrics.registry, token.get_secret_value() if token else None)
            # Every bucket name is in there: on the S3 port only behind the token, else a plain 404.
            inner = _Path(METRICS_PATH, endpoint if token else _NOT_FOUND, app)
            ops_routes.append(Route(METRICS_PATH, endpoint))  # answers 405 itself
        self.ops: ASGIApp = Starlette(routes=ops_routes)
        logger = access_log if settings.logging.access_log else None
        self._stack = ObserveMiddleware(inner, access_logger=logger, metrics=metrics)

    @property
    def state(self) -> State:
        return self.app.state

    def attach_delivery(self, delivery: Delivery) -> None:
        """Bucket logging: every finished S3 request is also handed to `delivery`."""
        self._stack.delivery = delivery

    @property
    def in_flight(self) -> int:
        """Requests on the S3 port not finished yet (the shutdown path reports them)."""
        return self._stack.in_flight

    @property
    def cancelled(self) -> int:
        """Requests cancelled before they finished: those cut at the shutdown deadline."""
        return self._stack.cancelled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._stack(scope, receive, send)


def install_observability(
    app: Starlette,
    settings: ObservabilitySettings,
    stats: StoreStats | None = None,
    *,
    metrics: Metrics | None = None,
) -> ObservedApp:
    """Wrap `app`; runs in every worker process (each builds its own app).

    Logging is the process's business, not the app's: the launcher calls
    `configure_logging(settings.logging)` once per process. Pass `metrics` to use one
    built earlier (e.g. to hand `metrics.count_expired_uploads` to the multipart
    sweeper); otherwise one is made with `stats`.
    """
    if not settings.metrics.enabled:
        metrics = None
    elif metrics is None:
        metrics = Metrics(stats)
    return ObservedApp(app, settings, metrics)
