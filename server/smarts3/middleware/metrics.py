"""Request metrics: in flight, count, duration and body bytes, labelled by S3 operation (pure ASGI)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from smarts3.observability.metrics import Metrics

# The label of requests the dispatcher did not classify (health, metrics, early errors).
OTHER = "other"
# No response was sent and nothing was raised: the client went away (nginx's convention).
CLIENT_CLOSED = 499


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        received = sent = status = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal sent, status
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            self.metrics.in_flight.dec()
            self.metrics.observe(
                state.get("operation") or OTHER,
                status or CLIENT_CLOSED,
                time.perf_counter() - start,
                received,
                sent,
                state.get("error_code"),
            )
