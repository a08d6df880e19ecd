"""Request metrics: count, duration and body bytes, labelled by S3 operation (the middleware is in observe.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import Scope

from smarts3.middleware.traffic import OTHER, Traffic

if TYPE_CHECKING:
    from smarts3.observability.metrics import Metrics


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
