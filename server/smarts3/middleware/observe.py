"""Request context, access log and metrics in one pure ASGI wrapper.

One receive/send wrapper and one frame per request instead of a layer each: on a small
GET every extra layer costs a measurable share of the request. AccessLogMiddleware and
MetricsMiddleware are the same wrapper with one part switched off.

It also counts the requests in flight (the shutdown path reports how many it drains)
and the ones cancelled before they finished, which the server does only to requests
still running at the shutdown deadline: such a request gets one warning line and
error code RequestCancelled (status 499 when no response was sent), not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.middleware import access_log, metrics
from smarts3.middleware.context import bind_request_state, unbind_request_state
from smarts3.middleware.traffic import Traffic

if TYPE_CHECKING:
    from smarts3.accesslog_delivery import Delivery
    from smarts3.observability.metrics import Metrics

CANCELLED = "RequestCancelled"
log = logging.getLogger("smarts3.shutdown")


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, *, access_logger: logging.Logger | None, metrics: Metrics | None) -> None:
        self.app = app
        self.access_logger = access_logger
        self.metrics = metrics
        self.in_flight = 0
        self.cancelled = 0
        self.delivery: Delivery | None = None  # bucket logging (accesslog_delivery.py), when set

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logger = self.access_logger
        if logger is not None and not logger.isEnabledFor(logging.INFO):
            logger = None
        stats = self.metrics
        token = bind_request_state(scope.setdefault("state", {}))
        self.in_flight += 1
        try:
            if logger is None and stats is None and self.delivery is None:
                await self._run(scope, receive, send)
                return
            traffic = Traffic(receive, send)
            if stats is not None:
                stats.in_flight.inc()
            start = time.perf_counter()
            failed = False
            try:
                await self._run(scope, traffic.receive, traffic.send)
            except asyncio.CancelledError:
                raise  # recorded as RequestCancelled, not as a failure (500)
            except BaseException:
                failed = True
                raise
            finally:
                if stats is not None:
                    stats.in_flight.dec()
                    metrics.record(stats, scope, traffic, start, failed)
                if logger is not None:
                    access_log.emit(logger, scope, traffic, start, failed)
                if self.delivery is not None:
                    self.delivery.observe(scope, traffic, start, traffic.final_status(failed))
        finally:
            self.in_flight -= 1
            unbind_request_state(token)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            self.cancelled += 1
            scope["state"]["error_code"] = CANCELLED
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
            # raw_path is still percent-encoded: no control characters reach the line.
            log.warning("request cancelled before it finished: %s %s", scope["method"], raw_path.decode("latin-1"))
            raise


class AccessLogMiddleware(ObserveMiddleware):
    def __init__(self, app: ASGIApp, logger: logging.Logger = access_log.log) -> None:
        super().__init__(app, access_logger=logger, metrics=None)


class MetricsMiddleware(ObserveMiddleware):
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app, access_logger=None, metrics=metrics)
