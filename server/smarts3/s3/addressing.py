"""Which bucket and key a request names: path style or virtual-host style.

The key is percent-decoded exactly once, from the raw path as sent ('+' stays
'+'), and must be valid UTF-8. A Host header is read as "<bucket>.<base
domain>" only when a base domain is configured and the host is under it, so
plain DNS names such as "localhost:9000" or "smarts3.default.svc" never become
bucket names.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from smarts3.s3.errors import S3Error

MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Target:
    bucket: str | None
    key: str | None
    vhost: bool


def _decode(raw: bytes) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", status=400) from None


def host_bucket(host: str, base_domain: str | None) -> str | None:
    if not base_domain:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    suffix = "." + base_domain.lower().strip(".")
    if name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)]
    return None


def resolve(raw_path: bytes, host: str, base_domain: str | None) -> Target:
    if not raw_path.startswith(b"/"):
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", status=400)
    bucket = host_bucket(host, base_domain)
    if bucket is not None:
        rest = raw_path[1:]
        return Target(bucket, _key(rest), vhost=True)
    head, sep, rest = raw_path[1:].partition(b"/")
    if not head:
        return Target(None, None, vhost=False)
    return Target(_decode(head), _key(rest) if sep else None, vhost=False)


def _key(raw: bytes) -> str | None:
    if not raw:
        return None
    key = _decode(raw)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", fields={"MaxSizeAllowed": str(MAX_KEY_BYTES)})
    return key
