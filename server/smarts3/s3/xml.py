"""XML in and out: hardened parsing with a size cap, and a small text builder."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from smarts3.s3.errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ESCAPE = re.compile(r'[&<>"\x00-\x08\x0b-\x1f\x7f\r]')
_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or f"&#x{ord(char):X};"


def text(value: object) -> str:
    """Escape for element content; control characters become references as S3 does."""
    return _ESCAPE.sub(_escape_char, str(value))


def el(name: str, value: object) -> str:
    return f"<{name}>{text(value)}</{name}>"


def node(name: str, children: Iterable[str]) -> str:
    return f"<{name}>{''.join(children)}</{name}>"


def document(root: str, children: Iterable[str]) -> bytes:
    return f'{_HEADER}<{root} xmlns="{NS}">{"".join(children)}</{root}>'.encode()


def iso8601(ts: float) -> str:
    millis = int(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{millis:03d}Z"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(ts: float) -> str:
    """RFC 7231 IMF-fixdate, as email.utils.formatdate(usegmt=True) writes it, at a third of its cost."""
    t = time.gmtime(int(ts))
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}"
        f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


async def read_capped(stream: AsyncIterator[bytes], cap: int) -> bytes:
    """Read a small request body, refusing anything over `cap` bytes."""
    buf = bytearray()
    async for chunk in stream:
        buf += chunk
        if len(buf) > cap:
            raise S3Error("MalformedXML", f"The XML body exceeds {cap} bytes.")
    return bytes(buf)


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
