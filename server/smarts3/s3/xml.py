"""XML in and out: hardened parsing with a size cap, and a small text builder."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from smarts3.budget import BUDGET
from smarts3.s3.errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ESCAPE = re.compile(r'[&<>"\x00-\x08\x0b-\x1f\x7f\r]')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\r]")


def _char_ref(match: re.Match[str]) -> str:
    return f"&#x{ord(match.group(0)):X};"


def text(value: object) -> str:
    """Escape for element content; control characters become references as S3 does."""
    s = value if isinstance(value, str) else str(value)
    # Most values need no escaping, and the rest (ETags: quotes) only the named entities:
    # str.replace is far cheaper than a substitution with a callback per character.
    if _ESCAPE.search(s) is None:
        return s
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _CONTROL.sub(_char_ref, s) if _CONTROL.search(s) else s


_ETAG = re.compile(r'"[0-9a-f]{32}(-[0-9]{1,5})?"')


def etag_text(etag: str) -> str:
    """text() for an ETag: ours are always quoted hex, which needs only the quotes escaped."""
    if _ETAG.fullmatch(etag):
        return f"&quot;{etag[1:-1]}&quot;"
    return text(etag)


def el(name: str, value: object) -> str:
    return f"<{name}>{text(value)}</{name}>"


def node(name: str, children: Iterable[str]) -> str:
    return f"<{name}>{''.join(children)}</{name}>"


def document(root: str, children: Iterable[str]) -> bytes:
    return f'{_HEADER}<{root} xmlns="{NS}">{"".join(children)}</{root}>'.encode()


_iso_second: tuple[int, str] = (-1, "")


def iso8601(ts: float) -> str:
    """UTC with milliseconds; the part up to the second is formatted once per second seen."""
    global _iso_second
    second, millis = divmod(int(ts * 1000), 1000)
    cached = _iso_second
    if second != cached[0]:  # a listing's objects often share their second
        cached = _iso_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{millis:03d}Z"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_http_second: tuple[int, str] = (-1, "")


def http_date(ts: float) -> str:
    """RFC 7231 IMF-fixdate, as email.utils.formatdate(usegmt=True) writes it; the last one is kept."""
    global _http_second
    second = int(ts)
    cached = _http_second
    if second != cached[0]:
        t = time.gmtime(second)
        text = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}"
            f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
        cached = _http_second = (second, text)
    return cached[1]


async def read_capped(stream: AsyncIterator[bytes], cap: int) -> bytes:
    """Read a small request body, refusing anything over `cap` bytes.

    The bytes count against the process-wide memory budget while they are read: a
    thousand slow 2 MiB bodies must not all sit in memory at once (503 SlowDown instead).
    """
    buf = bytearray()
    try:
        async for chunk in stream:
            if not BUDGET.try_take(len(chunk)):
                raise S3Error("SlowDown", headers={"Retry-After": "1"})
            buf += chunk
            if len(buf) > cap:
                raise S3Error("MalformedXML", f"The XML body exceeds {cap} bytes.")
        return bytes(buf)
    finally:
        BUDGET.release(len(buf))


def parse(data: bytes) -> Element:
    if not data.strip():
        raise S3Error("MissingRequestBodyError")
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise S3Error("MalformedXML") from None
    return root


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(parent: Element, name: str) -> list[Element]:
    return [c for c in parent if local(c.tag) == name]


def child(parent: Element, name: str) -> Element | None:
    for c in parent:
        if local(c.tag) == name:
            return c
    return None


def child_text(parent: Element, name: str) -> str | None:
    found = child(parent, name)
    if found is None:
        return None
    return found.text or ""


def expect_root(root: Element, name: str) -> Element:
    if local(root.tag) != name:
        raise S3Error("MalformedXML")
    return root
