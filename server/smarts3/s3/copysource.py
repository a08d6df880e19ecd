"""x-amz-copy-source: the one parser of the object a copy reads.

The authorizer checks read access on what this returns and the copy handlers
read exactly that, so the two can never disagree about which object is meant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from smarts3.s3.errors import S3Error

HEADER = "x-amz-copy-source"
# The version ids storage hands out: "null" or 32 hex digits (handlers/versions.py).
_VERSION_ID = re.compile(r"^(null|[0-9a-f]{32})$")


@dataclass(frozen=True, slots=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None = None  # None: the current version


def _invalid(message: str) -> S3Error:
    return S3Error("InvalidArgument", message, fields={"ArgumentName": HEADER})


def parse(headers: Mapping[str, str]) -> CopySource:
    """`[/]bucket/key[?versionId=<id>]`, percent-decoded once (never `+` → space)."""
    raw = headers[HEADER]
    path, _, query = raw.partition("?")  # an encoded %3F stays part of the key
    version_id = None
    if query:
        params = dict(p.partition("=")[::2] for p in query.split("&"))
        version_id = params.get("versionId")
        if version_id is not None and not _VERSION_ID.match(version_id):
            raise _invalid("Invalid version id specified")
    try:
        # Header values arrive as latin-1 text: back to the bytes sent, then UTF-8 after decoding.
        decoded = unquote_to_bytes(path.encode("latin-1")).decode("utf-8")
    except UnicodeError:
        raise _invalid("The copy source is not valid UTF-8 after percent-decoding.") from None
    bucket, _, key = decoded.lstrip("/").partition("/")
    if not bucket or not key:
        raise _invalid("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
    return CopySource(bucket, key, version_id)
