"""Which bucket and key a request names: path style or virtual-host style.

The key is percent-decoded exactly once, from the raw path as sent ('+' stays
'+'), and must be valid UTF-8. The Host header is read as "<bucket>.<endpoint
name>" only for names this server is known by: "localhost" always (where the
JS SDK v3 and the Go SDK v2 put the bucket by default), the base domain, and
the extra base domains (the chart's Service DNS names). A host that is exactly
one of those names, an IP address or any other DNS name is path style, so
"localhost:9000" or "smarts3.default.svc" never become bucket names; a label in
front of a known name that cannot be a bucket is refused, never guessed at:
reading it as path style would write into whatever bucket the path names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from smarts3.config.declared import bucket_name_problem
from smarts3.s3.errors import S3Error

MAX_KEY_BYTES = 1024
LOCAL_NAME = "localhost"


@dataclass(frozen=True, slots=True)
class Target:
    bucket: str | None
    key: str | None
    vhost: bool


def endpoint_names(base_domain: str | None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The names '<bucket>.<name>' is read under, longest first (the most specific wins)."""
    names = {LOCAL_NAME}
    for name in (base_domain, *extra):
        if name and name.strip("."):
            names.add(name.lower().strip("."))
    return tuple(sorted(names, key=len, reverse=True))


def _decode(raw: bytes) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", status=400) from None


def _hostname(host: str) -> str:
    if host.startswith("["):  # an IPv6 literal is never a bucket
        return ""
    return host.rsplit(":", 1)[0].lower().rstrip(".")


def host_bucket(host: str, names: tuple[str, ...]) -> str | None:
    """The bucket a virtual-host-style Host names, or None for path style."""
    name = _hostname(host)
    if not name or name in names:  # the endpoint itself, e.g. a pod's own DNS name listed as extra
        return None
    for suffix in names:
        if name.endswith("." + suffix):
            label = name[: -len(suffix) - 1]
            if bucket_name_problem(label) is not None:
                raise S3Error(
                    "InvalidURI",
                    f"The Host {host!r} puts {label!r}, which is not a bucket name, in front of {suffix!r}. "
                    f"Send path-style requests to {suffix!r} itself, or set --base-domain "
                    "(SMARTS3_BASE_DOMAIN) to the name virtual-host-style clients use.",
                )
            return label
    return None


def resolve(raw_path: bytes, host: str, names: tuple[str, ...]) -> Target:
    if not raw_path.startswith(b"/"):
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", status=400)
    bucket = host_bucket(host, names)
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
