"""What the access log and the metrics both need to know about one request."""

from __future__ import annotations

import time

from starlette.types import Message, Receive, Send

# The operation label of requests the dispatcher did not classify (health, metrics, early errors).
OTHER = "other"
# No response was sent and nothing was raised: the client went away (nginx's convention).
CLIENT_CLOSED = 499


class Traffic:
    """Wraps receive/send to count body bytes in and out and note the response status."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.received = 0
        self.sent = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []  # the response's, once started
        # perf_counter() when the request body ended and when the response started (0: not yet);
        # bucket logging's turn-around time.
        self.request_done = 0.0
        self.response_started = 0.0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.request_done = time.perf_counter()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))
        elif message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = message.get("headers", [])
            self.response_started = time.perf_counter()
        await self._send(message)

    def final_status(self, failed: bool) -> int:
        """The status to report: 500 for a failure before any response, 499 for a silent end."""
        return self.status or (500 if failed else CLIENT_CLOSED)
