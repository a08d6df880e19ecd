"""Request and response headers: stored metadata, overrides, tags and preconditions."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote

from smarts3.auth.sigv4 import utf8_reading
from smarts3.s3.errors import S3Error
from smarts3.s3.xml import http_date
from smarts3.storage.base import ObjectInfo

# Representation headers that S3 stores with an object and sends back.
STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
)
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_USER_METADATA = 2048
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in STORED_HEADERS if name in headers}
    encoding = kept.get("content-encoding")
    if encoding is not None:
        # aws-chunked describes the transfer, not the object: S3 drops it and keeps the rest
        # exactly as sent ("deflate, gzip" keeps its space).
        rest = [e for e in encoding.split(",") if e.strip().lower() != "aws-chunked"]
        if "".join(rest).strip():
            kept["content-encoding"] = ",".join(rest).strip()
        else:
            del kept["content-encoding"]
    return kept


def _metadata_text(value: str) -> str:
    """The text a client meant: header bytes arrive latin-1-decoded, and most clients send UTF-8.
    Bytes that are not UTF-8 keep their latin-1 reading (botocore sends latin-1 bytes)."""
    return utf8_reading(value) or value


def _metadata_header(value: str) -> str | None:
    """A stored value as S3 returns it: ASCII as is; non-ASCII text as an RFC 2047 encoded word
    (mail-safe, as the S3 user guide says); None for a value with control characters, which S3
    leaves out and counts in x-amz-missing-meta."""
    if any((char < " " and char != "\t") or char == "\x7f" for char in value):
        return None
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    meta = {name[11:]: _metadata_text(value) for name, value in headers.items() if name.startswith("x-amz-meta-")}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
    if size > MAX_USER_METADATA:
        raise S3Error(
            "MetadataTooLarge",
            fields={"Size": str(size), "MaxSizeAllowed": str(MAX_USER_METADATA)},
        )
    return meta


def parse_tag_header(value: str) -> dict[str, str]:
    pairs = parse_qsl(value, keep_blank_values=True)
    return validate_tags(pairs, MAX_OBJECT_TAGS)


def validate_tags(pairs: list[tuple[str, str]], limit: int) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
        if not 1 <= len(key) <= 128:
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if len(value) > 256:
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "System tags cannot be added/updated by requester")
        tags[key] = value
    if len(tags) > limit:
        kind = "Object" if limit == MAX_OBJECT_TAGS else "Bucket"
        raise S3Error("InvalidTag", f"{kind} tags cannot be greater than {limit}")
    return dict(sorted(tags.items()))  # S3 returns a TagSet sorted by key, whatever the order sent


def object_headers(info: ObjectInfo, *, checksums: bool = False) -> dict[str, str]:
    """Headers that describe a stored object on GET and HEAD."""
    meta = info.meta
    out = {
        "etag": info.etag,
        "last-modified": http_date(info.last_modified),
        "accept-ranges": "bytes",
        "content-type": meta.headers.get("content-type", DEFAULT_CONTENT_TYPE),
    }
    for name in STORED_HEADERS[1:]:
        if name in meta.headers:
            out[name] = meta.headers[name]
    missing = 0
    for name, value in meta.user.items():
        sent = _metadata_header(value)
        if sent is None:
            missing += 1
        else:
            out["x-amz-meta-" + name] = sent
    if missing:
        out["x-amz-missing-meta"] = str(missing)
    if meta.tags:
        out["x-amz-tagging-count"] = str(len(meta.tags))
    if checksums and meta.checksums:
        for alg, value in meta.checksums.items():
            out["x-amz-checksum-" + alg.lower()] = value
        if meta.checksum_type:
            out["x-amz-checksum-type"] = meta.checksum_type
    return out


def refuse_encryption_on_read(headers: Mapping[str, str]) -> None:
    """GET/HEAD carrying SSE-S3/SSE-KMS request headers: AWS refuses them (400), since the
    object's own encryption decides how it is read; only SSE-C keys are sent on reads."""
    for name in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"):
        if name in headers:
            raise S3Error(
                "InvalidArgument",
                f"{name} header is not supported for this operation.",
                fields={"ArgumentName": name, "ArgumentValue": headers[name]},
            )


def requested_overrides(query: Mapping[str, str]) -> dict[str, str]:
    """header → value for the response-* parameters present, each checked to be a header value.

    Printable ASCII only: CR/LF would split the response, other control
    characters and non-ASCII text have no faithful header encoding.
    """
    found: dict[str, str] = {}
    for param, header in RESPONSE_OVERRIDES.items():
        if param not in query:
            continue
        value = query[param]
        if not all(" " <= char <= "~" for char in value):
            raise S3Error(
                "InvalidArgument",
                f"The value of {param} must be printable ASCII text.",
                fields={"ArgumentName": param},
            )
        found[header] = value.strip(" ")  # a header value carries no outer whitespace
    return found


def tagging_query(tags: Mapping[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())


# --- preconditions ----------------------------------------------------------


def _etags(value: str) -> list[str]:
    return [v.strip().removeprefix("W/").strip('"') for v in value.split(",") if v.strip()]


def etag_matches(header: str, etag: str) -> bool:
    bare = etag.strip('"')
    return any(candidate in ("*", bare) for candidate in _etags(header))


def _date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _modified_since(info: ObjectInfo, value: str) -> bool | None:
    since = _date(value)
    if since is None:
        return None
    return int(info.last_modified) > since


def check_read_preconditions(headers: Mapping[str, str], info: ObjectInfo, prefix: str = "if-") -> int | None:
    """RFC 7232 order, as S3 applies it: 412, 304 or None (proceed).

    With `prefix="x-amz-copy-source-if-"` the same rules guard a copy source,
    where every failure is 412.
    """
    copy = prefix != "if-"
    if_match = headers.get(prefix + "match")
    if if_match is not None:
        if not etag_matches(if_match, info.etag):
            return 412
    elif prefix + "unmodified-since" in headers and _modified_since(info, headers[prefix + "unmodified-since"]):
        return 412
    if_none_match = headers.get(prefix + "none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, info.etag):
            return 412 if copy else 304
    elif prefix + "modified-since" in headers and _modified_since(info, headers[prefix + "modified-since"]) is False:
        return 412 if copy else 304
    return None


def not_modified_headers(info: ObjectInfo) -> dict[str, str]:
    return {"etag": info.etag, "last-modified": http_date(info.last_modified)}
