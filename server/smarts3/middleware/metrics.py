"""Request metrics: in flight, count, duration and body bytes, labelled by S3 operation (pure ASGI)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from smarts3.middleware.traffic import OTHER, Traffic

if TYPE_CHECKING:
    from smarts3.observability.metrics import Metrics


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        traffic = Traffic(receive, send)
        self.metrics.in_flight.inc()
        start = time.perf_counter()
        failed = False
        try:
            await self.app(scope, traffic.receive, traffic.send)
        except BaseException:
            failed = True
            raise
        finally:
            self.metrics.in_flight.dec()
            record(self.metrics, scope, traffic, start, failed)


def record(metrics: Metrics, scope: Scope, traffic: Traffic, start: float, failed: bool) -> None:
    """Count one finished request (the in-flight gauge is the caller's)."""
    state = scope["state"]
    metrics.observe(
        state.get("operation") or OTHER,
        traffic.final_status(failed),
        time.perf_counter() - start,
        traffic.received,
        traffic.sent,
        state.get("error_code"),
    )
