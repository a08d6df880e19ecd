"""ListObjects (v1) and ListObjectsV2 over the store's range queries (ListObjectVersions: versions.py)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from starlette.responses import Response

from smarts3.access.ownership import OWNER_ID
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import decode_token, encode_token, int_param, owner
from smarts3.s3.responses import xml_response
from smarts3.storage.base import ListEntry, ListPage, VersionEntry


def _encoder(ctx: Ctx) -> Callable[[str], str]:
    encoding = ctx.query.get("encoding-type")
    if encoding is None:
        return lambda value: value
    if encoding != "url":
        raise S3Error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            fields={"ArgumentName": "encoding-type", "ArgumentValue": encoding},
        )
    return lambda value: quote(value, safe="/")


def entry_owner(ctx: Ctx) -> Callable[[ListEntry | VersionEntry], str]:
    """<Owner> of each listed object or version: the credential that owns it where that is not
    the bucket owner (ObjectWriter, BucketOwnerPreferred), else the bucket owner.

    The owner is the entry's `extra[OWNER_ID]` (absent: the bucket owner's); storage fills `extra`
    when the listing asks (`owners_differ`). One string per page, except for objects someone else owns."""
    default = owner(ctx)
    state = ctx.access.bucket
    if state is None or not state.acls_enabled:
        return lambda entry: default
    cache: dict[str, str] = {}

    def of(entry: ListEntry | VersionEntry) -> str:
        owner_id = entry.extra.get(OWNER_ID) if entry.extra is not None else None
        if owner_id is None:
            return default
        if owner_id not in cache:
            cache[owner_id] = owner(ctx, state.object_owner({OWNER_ID: owner_id}))
        return cache[owner_id]

    return of


def owners_differ(ctx: Ctx) -> bool:
    """Objects in this bucket may have owners other than the bucket owner (ACLs enabled), so a
    listing that shows owners needs each entry's extra from storage."""
    state = ctx.access.bucket
    return state is not None and state.acls_enabled


async def _page(ctx: Ctx, start_after: str, max_keys: int, *, with_owners: bool) -> ListPage:
    if max_keys == 0:
        await ctx.store.get_bucket(ctx.bucket_name)
        return ListPage([], [], False, None)
    return await ctx.store.list_objects(
        ctx.bucket_name,
        prefix=ctx.query.get("prefix", ""),
        delimiter=ctx.query.get("delimiter", ""),
        start_after=start_after,
        max_keys=max_keys,
        with_extra=with_owners and owners_differ(ctx),
    )


def _contents(entry: ListEntry, enc: Callable[[str], str], with_owner: str | None) -> str:
    # One f-string per entry, not an element per field: a page holds 1,000 of them.
    extra = ""
    if entry.checksum_algorithms:
        extra = "".join(f"<ChecksumAlgorithm>{xml.text(alg)}</ChecksumAlgorithm>" for alg in entry.checksum_algorithms)
    if entry.checksum_type:
        extra += f"<ChecksumType>{xml.text(entry.checksum_type)}</ChecksumType>"
    if with_owner:
        extra += with_owner
    return (
        f"<Contents><Key>{xml.text(enc(entry.key))}</Key>"
        f"<LastModified>{xml.iso8601(entry.last_modified)}</LastModified>"
        f"<ETag>{xml.etag_text(entry.etag)}</ETag><Size>{entry.size:d}</Size>"
        f"<StorageClass>STANDARD</StorageClass>{extra}</Contents>"
    )


def _common(page: ListPage, enc: Callable[[str], str]) -> list[str]:
    return [xml.node("CommonPrefixes", [xml.el("Prefix", enc(p))]) for p in page.common_prefixes]


def _head(ctx: Ctx, enc: Callable[[str], str], max_keys: int, page: ListPage) -> list[str]:
    children = [
        xml.el("Name", ctx.bucket_name),
        xml.el("Prefix", enc(ctx.query.get("prefix", ""))),
        xml.el("MaxKeys", max_keys),
    ]
    if ctx.query.get("delimiter"):
        children.append(xml.el("Delimiter", enc(ctx.query["delimiter"])))
    children.append(xml.el("IsTruncated", "true" if page.is_truncated else "false"))
    if "encoding-type" in ctx.query:
        children.append(xml.el("EncodingType", "url"))
    return children


async def list_objects(ctx: Ctx) -> Response:
    enc = _encoder(ctx)
    max_keys = int_param(ctx, "max-keys", 1000, 0, 1000)
    marker = ctx.query.get("marker", "")
    page = await _page(ctx, marker, max_keys, with_owners=True)
    children = _head(ctx, enc, max_keys, page)
    children.insert(2, xml.el("Marker", enc(marker)))
    if page.is_truncated and ctx.query.get("delimiter") and page.next_marker is not None:
        children.append(xml.el("NextMarker", enc(page.next_marker)))
    who = entry_owner(ctx)
    children.extend(_contents(e, enc, who(e)) for e in page.entries)
    children.extend(_common(page, enc))
    return xml_response(xml.document("ListBucketResult", children))


async def list_objects_v2(ctx: Ctx) -> Response:
    enc = _encoder(ctx)
    max_keys = int_param(ctx, "max-keys", 1000, 0, 1000)
    token = ctx.query.get("continuation-token")  # "" lists from the start and is echoed, as AWS does
    start_after = ctx.query.get("start-after", "")
    resume = max(decode_token(ctx.bucket_name, token), start_after) if token else start_after
    page = await _page(ctx, resume, max_keys, with_owners=ctx.query.get("fetch-owner") == "true")
    children = _head(ctx, enc, max_keys, page)
    children.append(xml.el("KeyCount", len(page.entries) + len(page.common_prefixes)))
    if token is not None:
        children.append(xml.el("ContinuationToken", token))
    if page.is_truncated and page.next_marker is not None:
        children.append(xml.el("NextContinuationToken", encode_token(ctx.bucket_name, page.next_marker)))
    if start_after:
        children.append(xml.el("StartAfter", enc(start_after)))
    who = entry_owner(ctx) if ctx.query.get("fetch-owner") == "true" else None
    children.extend(_contents(e, enc, who(e) if who else None) for e in page.entries)
    children.extend(_common(page, enc))
    return xml_response(xml.document("ListBucketResult", children))
