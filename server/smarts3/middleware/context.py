"""The current request's state, bound per task so log lines can carry its request id.

Apart from observability.logging (which reads it) so that middleware can bind it
without importing the logging setup.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

_request_state: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "smarts3_request_state", default=None
)

Token = contextvars.Token[Mapping[str, Any] | None]


def bind_request_state(state: Mapping[str, Any]) -> Token:
    """Make `state` this task's request state (its request id goes on every log line)."""
    return _request_state.set(state)


def unbind_request_state(token: Token) -> None:
    _request_state.reset(token)


def current_request_id() -> str | None:
    state = _request_state.get()
    if state is None:
        return None
    value = state.get("request_id")
    return value if isinstance(value, str) else None
