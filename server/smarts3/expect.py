"""`Expect: 100-continue` answered the way S3 answers it: `100 Continue` only once the request is
authorized, the final error at once otherwise.

Hypercorn sends `100 Continue` as soon as it has parsed a request head that asks for one, before
the application has looked at it, so a client told to go on uploads a body that authentication
then refuses. Here the interim response waits until the application first asks for the body
(its first `receive()`), which smarts3 does only after authenticating and authorizing. A request
refused before that gets its final response (403...) with no `100` before it, and the connection
closes instead of reading a body nobody sent. This is what uvicorn does, and what RFC 9110
allows: a server may answer the final status instead of 100.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import h11
from hypercorn.config import Config
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.typing import AppWrapper, ASGIReceiveEvent, Scope

_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}


class _Connection(h11.Connection):
    """An h11 server connection that hides the client's wait for `100` until it is released."""

    released = False

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        return self.released and super().they_are_waiting_for_100_continue

    def start_next_cycle(self) -> None:
        super().start_next_cycle()
        self.released = False


class _ReleasingApp:
    """The application, with a first `receive()` that first releases the interim `100`."""

    def __init__(self, app: AppWrapper, protocol: DeferredContinue) -> None:
        self.app = app
        self.protocol = protocol

    async def __call__(
        self, scope: Scope, receive: Callable[[], Any], send: Any, sync_spawn: Callable[..., Any], call_soon: Any
    ) -> None:
        released = False

        async def receive_after_release() -> ASGIReceiveEvent:
            nonlocal released
            if not released:
                released = True
                await self.protocol.release_continue()
            message: ASGIReceiveEvent = await receive()
            return message

        await self.app(scope, receive_after_release, send, sync_spawn, call_soon)


class _TaskGroup:
    """Hypercorn's task group for one connection, spawning the application through _ReleasingApp."""

    def __init__(self, inner: Any, protocol: DeferredContinue) -> None:
        self._inner = inner
        self._protocol = protocol

    async def spawn_app(self, app: AppWrapper, config: Config, scope: Scope, send: Any) -> Any:
        return await self._inner.spawn_app(_ReleasingApp(app, self._protocol), config, scope, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DeferredContinue(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol with the `100 Continue` deferred to the first body read."""

    def __init__(self, app: AppWrapper, config: Config, context: Any, task_group: Any, *args: Any, **kw: Any) -> None:
        super().__init__(app, config, context, _TaskGroup(task_group, self), *args, **kw)
        self.connection = _Connection(h11.SERVER, max_incomplete_event_size=config.h11_max_incomplete_size)

    async def _send_h11_event(self, event: Any) -> None:
        # A reason phrase on final responses, as S3 sends ("HTTP/1.1 403 Forbidden"): botocore reads
        # the answer to an `Expect: 100-continue` as a final response only when the status line
        # has three parts, and h11's default reason is empty.
        if type(event) is h11.Response:
            event = self._final_response(event)
        await super()._send_h11_event(event)

    def _final_response(self, event: h11.Response) -> h11.Response:
        reason = event.reason or _REASONS.get(event.status_code, b"")
        # Answered before the request body was read (a refusal): the connection closes after this
        # response, as hypercorn cannot find the next request's start. Saying so keeps a client
        # from sending its next request down a connection that is going away.
        if self.connection.their_state is h11.SEND_BODY and not any(
            name == b"connection" and value.lower() == b"close" for name, value in event.headers
        ):
            headers = [*event.headers, (b"connection", b"close")]
            return h11.Response(status_code=event.status_code, headers=headers, reason=reason)
        if event.reason:  # smarts3.response_head gave it its phrase already
            return event
        # The same (already validated) Headers object: h11 checks a list's every name and value again.
        return h11.Response(status_code=event.status_code, headers=event.headers, reason=reason)

    async def release_continue(self) -> None:
        connection = self.connection
        if not isinstance(connection, _Connection) or connection.released:
            return
        connection.released = True
        # Still before any response, and the client still waiting: now it may send the body.
        if connection.our_state is h11.SEND_RESPONSE and connection.they_are_waiting_for_100_continue:
            await self._send_h11_event(
                h11.InformationalResponse(status_code=100, headers=self.config.response_headers("h11"))
            )
