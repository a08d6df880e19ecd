"""GetObject and HeadObject: preconditions, ranges, part reads and overrides."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.s3 import sse
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import ensure_still_readable
from smarts3.s3.handlers.lifecycle import expiration_header
from smarts3.s3.handlers.versions import version_header, version_param
from smarts3.s3.headers import (
    RESPONSE_OVERRIDES,
    check_read_preconditions,
    not_modified_headers,
    object_headers,
    requested_overrides,
)
from smarts3.s3.part_reads import part_read
from smarts3.s3.ranges import content_range, parse_range
from smarts3.s3.responses import ObjectStream, empty
from smarts3.storage.base import ObjectInfo, ObjectReader

MAX_PARTS = 10000


def _part_number(ctx: Ctx) -> int | None:
    raw = ctx.query.get("partNumber")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise S3Error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            fields={"ArgumentName": "partNumber", "ArgumentValue": raw},
        )
    if "range" in ctx.headers:
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    return int(raw)


def _overrides(ctx: Ctx) -> dict[str, str]:
    # As AWS: a URL anyone may use must not choose how the object is served.
    if ctx.auth.access_key is None and any(param in ctx.query for param in RESPONSE_OVERRIDES):
        raise S3Error("InvalidRequest", "Request specific response headers cannot be used for anonymous GET requests.")
    return requested_overrides(ctx.query)


def plan(ctx: Ctx, info: ObjectInfo, overrides: dict[str, str]) -> tuple[int, int, int, dict[str, str]]:
    """(status, start, end, headers) for a read of `info`, after preconditions."""
    status = check_read_preconditions(ctx.headers, info)
    if status == 304:
        raise _NotModified(info)
    if status == 412:
        raise S3Error("PreconditionFailed", fields={"Condition": "If-Match"})
    part = _part_number(ctx)
    checksum_mode = ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    headers = object_headers(info, checksums=checksum_mode and part is None)
    headers.update(version_header(info))
    headers.update(sse.response_headers(ctx, sse.record_of(info.meta)))
    headers.update(overrides)
    if part is not None:
        start, end, part_headers = part_read(info, part, checksums=checksum_mode)
        headers.update(part_headers)
        return 206, start, end, headers
    wanted = parse_range(ctx.headers["range"], info.size) if "range" in ctx.headers else None
    if wanted is None:
        return 200, 0, info.size, headers
    start, end = wanted
    # A checksum describes the whole object, never a slice of it.
    for name in [h for h in headers if h.startswith("x-amz-checksum-")]:
        del headers[name]
    headers["content-range"] = content_range(start, end, info.size)
    return 206, start, end, headers


class _NotModified(Exception):
    def __init__(self, info: ObjectInfo) -> None:
        self.info = info


async def get_object(ctx: Ctx) -> Response | ObjectStream:
    version = version_param(ctx)
    overrides = _overrides(ctx)
    reader: ObjectReader = await ctx.store.open_object(
        ctx.bucket_name, ctx.key_name, version, cipher_for=sse.cipher_for(ctx)
    )
    try:
        ensure_still_readable(ctx, ctx.bucket_name, ctx.key_name, reader.info)
        status, start, end, headers = plan(ctx, reader.info, overrides)
        headers.update(await expiration_header(ctx, reader.info))
        reader = await sse.prefetched(reader, start, end)
    except _NotModified as nm:
        await reader.close()
        return empty(304, not_modified_headers(nm.info))
    except BaseException:
        await reader.close()
        raise
    return ObjectStream(reader, start, end, status=status, headers=headers)


async def head_object(ctx: Ctx) -> Response:
    version = version_param(ctx)
    overrides = _overrides(ctx)
    info = await ctx.store.head_object(ctx.bucket_name, ctx.key_name, version)
    ensure_still_readable(ctx, ctx.bucket_name, ctx.key_name, info)
    sse.check_read(ctx, info)
    try:
        status, start, end, headers = plan(ctx, info, overrides)
    except _NotModified as nm:
        return empty(304, not_modified_headers(nm.info))
    headers.update(await expiration_header(ctx, info))
    headers["content-length"] = str(end - start)  # in the dict: no MutableHeaders view per HEAD
    return Response(b"", status_code=status, headers=headers)
