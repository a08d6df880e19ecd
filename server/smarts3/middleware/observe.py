"""Request context, access log and metrics in one pure ASGI wrapper.

One receive/send wrapper and one frame per request instead of a layer each: on a small
GET every extra layer costs a measurable share of the request. AccessLogMiddleware and
MetricsMiddleware are the same wrapper with one part switched off.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.middleware import access_log, metrics
from smarts3.middleware.context import bind_request_state, unbind_request_state
from smarts3.middleware.traffic import Traffic

if TYPE_CHECKING:
    from smarts3.observability.metrics import Metrics


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, *, access_logger: logging.Logger | None, metrics: Metrics | None) -> None:
        self.app = app
        self.access_logger = access_logger
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logger = self.access_logger
        if logger is not None and not logger.isEnabledFor(logging.INFO):
            logger = None
        stats = self.metrics
        token = bind_request_state(scope.setdefault("state", {}))
        try:
            if logger is None and stats is None:
                await self.app(scope, receive, send)
                return
            traffic = Traffic(receive, send)
            if stats is not None:
                stats.in_flight.inc()
            start = time.perf_counter()
            failed = False
            try:
                await self.app(scope, traffic.receive, traffic.send)
            except BaseException:
                failed = True
                raise
            finally:
                if stats is not None:
                    stats.in_flight.dec()
                    metrics.record(stats, scope, traffic, start, failed)
                if logger is not None:
                    access_log.emit(logger, scope, traffic, start, failed)
        finally:
            unbind_request_state(token)


class AccessLogMiddleware(ObserveMiddleware):
    def __init__(self, app: ASGIApp, logger: logging.Logger = access_log.log) -> None:
        super().__init__(app, access_logger=logger, metrics=None)


class MetricsMiddleware(ObserveMiddleware):
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app, access_logger=None, metrics=metrics)
