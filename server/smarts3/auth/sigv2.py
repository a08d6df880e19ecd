"""AWS Signature Version 2 for S3 (HMAC-SHA1): pure functions, no I/O.

Matches botocore's `HmacV1Auth`/`HmacV1QueryAuth`, which the AWS CLI, boto3
and s3cmd use for SigV2 presigned URLs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_to_bytes

from smarts3.auth.query import SIGV2_SUBRESOURCES, Query
from smarts3.auth.sigv4 import uri_encode
from smarts3.auth.types import AuthError

# botocore HmacV1Auth.QSAOfInterest (smarts3.auth.query holds the list the query parser shares).
SUBRESOURCES: Final = SIGV2_SUBRESOURCES


def _subresources(query: Query) -> str:
    # As botocore, values percent-decoded and a stable sort by name; but names are
    # compared DECODED, as the server reads them, so `%74agging` is signed (or refused).
    kept: list[tuple[str, str | None]] = []
    for param in query.params:
        if param.name in SUBRESOURCES:
            value = None if param.raw_value is None else param.value
            if value is not None and _hides_subresource(value):
                raise AuthError(
                    "InvalidArgument",
                    f"The value of {param.name} must not contain '&' followed by a sub-resource name.",
                    400,
                )
            kept.append((param.name, value))
    if not kept:
        return ""
    kept.sort(key=lambda item: item[0])
    return "?" + "&".join(name if value is None else f"{name}={value}" for name, value in kept)


def _hides_subresource(value: str) -> bool:
    """Values are signed unescaped: `a&versionId=1` inside one value reads as a second
    signed pair, so a request could fold signed sub-resources into another's value."""
    return any(part.partition("=")[0] in SUBRESOURCES for part in value.split("&")[1:])


def canonical_resource(
    raw_path: bytes, query: Query, *, vhost_bucket: str | None = None, reencode: bool = False
) -> str:
    """`/bucket/key` plus signed sub-resources.

    botocore signs the path as it sends it; `reencode=True` gives the AWS
    encoding of the decoded path instead, for clients whose wire form differs.
    For a virtual-host request the bucket is prefixed, so `/` becomes `/bucket/`.
    """
    path = raw_path or b"/"
    text = uri_encode(unquote_to_bytes(path), keep_slash=True) if reencode else path.decode("utf-8", "replace")
    if vhost_bucket is not None:
        text = "/" + vhost_bucket + text
    return text + _subresources(query)


def canonical_amz_headers(headers: Iterable[tuple[str, str]]) -> str:
    """`x-amz-name:value\\n` lines, sorted by lower-case name, values stripped.

    A name given more than once is joined with ',' in order, as botocore does.
    """
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname.startswith("x-amz-"):
            merged.setdefault(lname, []).append(value.strip())
    return "".join(f"{name}:{','.join(merged[name])}\n" for name in sorted(merged))


def string_to_sign(
    method: str,
    content_md5: str,
    content_type: str,
    date: str,
    amz_headers: str,
    resource: str,
) -> str:
    """`date` is the Date header, empty when x-amz-date is sent, or Expires for query auth."""
    return f"{method.upper()}\n{content_md5.strip()}\n{content_type.strip()}\n{date.strip()}\n{amz_headers}{resource}"


def sign(secret: str, string: str) -> str:
    """Base64 HMAC-SHA1."""
    digest = hmac.new(secret.encode("utf-8"), string.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
