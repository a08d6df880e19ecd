"""ListBuckets."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.access.ownership import recorded_owner
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.handlers.common import decode_token, encode_token, int_param, owner
from smarts3.s3.responses import xml_response


async def list_buckets(ctx: Ctx) -> Response:
    prefix = ctx.query.get("prefix", "")
    limit = int_param(ctx, "max-buckets", 10000, 1, 10000)
    after = decode_token("", ctx.query["continuation-token"]) if ctx.query.get("continuation-token") else ""
    region = ctx.query.get("bucket-region")
    me = ctx.principal
    ids = ctx.access.directory.ids_by_key() if ctx.access.directory else {}
    buckets = [
        b
        for b in await ctx.store.list_buckets()
        if b.name.startswith(prefix)
        and b.name > after
        and (region is None or b.region == region)
        and me is not None
        and (me.reaches(b.name) or recorded_owner(b, ids) == me.id)
    ]
    page, more = buckets[:limit], len(buckets) > limit
    items = [
        xml.node(
            "Bucket",
            [
                xml.el("BucketRegion", b.region),
                xml.el("CreationDate", xml.iso8601(b.created)),
                xml.el("Name", b.name),
            ],
        )
        for b in page
    ]
    children = [xml.node("Buckets", items), owner(ctx, me.id if me else None)]
    if more:
        children.append(xml.el("ContinuationToken", encode_token("", page[-1].name)))
    if prefix:
        children.append(xml.el("Prefix", prefix))
    return xml_response(xml.document("ListAllMyBucketsResult", children))
