"""A response head checked once, with one regex per block instead of two per header.

Hypercorn hands h11 the application's headers as a list, and h11's `Response` runs two
regexes over every name and value (`normalize_and_validate`, ~26 calls per small GET, about
a tenth of the event loop's profiled time). `checked_response` checks the same rules, the
names as one newline-joined block of tokens and the values as one block of field values,
and hands h11 its `Headers` ready-made, which it takes as validated. A head with anything
unusual (an invalid byte, a second or odd Content-Length, a Transfer-Encoding) goes through
h11's own `Response` instead, so it is refused or normalized exactly as before: a header
with CR, LF or NUL still never reaches the wire (the application's send fails, and Hypercorn
answers 500 and closes).

Hypercorn's own headers (Date, Server) are formatted once per second, not per response.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from itertools import chain
from time import time
from typing import Any, Final

import h11
from h11._headers import Headers
from hypercorn.config import Config
from hypercorn.protocol.events import Response as StreamResponse
from hypercorn.protocol.h11 import H11Protocol

REASONS: Final = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}

# h11's rules (h11/_abnf.py): a name is a token; a value is empty or printable runs (any byte but
# NUL and whitespace) joined by spaces and tabs. Neither may hold "\n", which joins the block (and is
# counted, so that a "\n" inside one is not taken for a join).
_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VALUE: Final = rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?"
_NAMES: Final = re.compile(_TOKEN + rb"(?:\n" + _TOKEN + rb")*")
_VALUES: Final = re.compile(_VALUE + rb"(?:\n" + _VALUE + rb")*")
_CONTENT_LENGTH_DIGITS: Final = 20  # h11's CONTENT_LENGTH_MAX_DIGITS
_CACHE_ATTR: Final = "smarts3_server_headers"


def checked_response(status_code: int, headers: list[tuple[bytes, bytes]], reason: bytes) -> h11.Response:
    """The `h11.Response` h11 would build from these headers, validated in two regex calls."""
    if not headers:
        return h11.Response(status_code=status_code, headers=headers, reason=reason)
    names, values = zip(*headers, strict=True)
    name_block = b"\n".join(names)
    value_block = b"\n".join(values)
    lowered = name_block.lower().split(b"\n")
    joins = len(headers) - 1  # more newlines than that: one was inside a name or value
    if (
        len(lowered) - 1 != joins
        or value_block.count(b"\n") != joins
        or not _NAMES.fullmatch(name_block)
        or not _VALUES.fullmatch(value_block)
        or b"transfer-encoding" in lowered
        or not _plain_content_length(lowered, values)
    ):
        # h11's own path: it raises LocalProtocolError naming the offending header, or
        # normalizes what needs it (Transfer-Encoding's case, a repeated Content-Length).
        return h11.Response(status_code=status_code, headers=headers, reason=reason)
    items = list(zip(names, lowered, values, strict=True))
    return h11.Response(status_code=status_code, headers=Headers(items), reason=reason)


def _plain_content_length(lowered: list[bytes], values: tuple[bytes, ...]) -> bool:
    """No Content-Length, or one of plain digits: what h11 would split, deduplicate and check."""
    count = lowered.count(b"content-length")
    if count == 0:
        return True
    value = values[lowered.index(b"content-length")]
    return count == 1 and value.isdigit() and len(value) <= _CONTENT_LENGTH_DIGITS


def server_headers(config: Config) -> list[tuple[bytes, bytes]]:
    """`config.response_headers("h11")` (Date, Server), made once per second: the Date has whole seconds."""
    second = int(time())
    cached: tuple[int, list[tuple[bytes, bytes]]] | None = getattr(config, _CACHE_ATTR, None)
    if cached is None or cached[0] != second:
        cached = (second, config.response_headers("h11"))
        setattr(config, _CACHE_ATTR, cached)
    return cached[1]


class CheckedHeads(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol with final response heads built by `checked_response`."""

    async def stream_send(self, event: Any) -> None:
        if type(event) is not StreamResponse or event.status_code < 200:
            await super().stream_send(event)
            return
        # As Hypercorn's stream_send, with the reason phrase S3 sends (see smarts3.expect).
        headers = list(chain(event.headers, server_headers(self.config)))
        if self.keep_alive_requests >= self.config.keep_alive_max_requests:
            headers.append((b"connection", b"close"))
        status = event.status_code
        await self._send_h11_event(checked_response(status, headers, REASONS.get(status, b"")))
