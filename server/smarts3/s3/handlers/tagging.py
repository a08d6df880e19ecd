"""Object tagging (bucket tagging lives with the bucket handlers)."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.s3.context import Ctx
from smarts3.s3.handlers.common import parse_tag_set, read_xml, tag_set_xml
from smarts3.s3.handlers.versions import version_header, version_param
from smarts3.s3.headers import MAX_OBJECT_TAGS, validate_tags
from smarts3.s3.responses import empty, xml_response


async def get_object_tagging(ctx: Ctx) -> Response:
    info = await ctx.store.head_object(ctx.bucket_name, ctx.key_name, version_param(ctx))
    return xml_response(tag_set_xml("Tagging", dict(sorted(info.meta.tags.items()))), headers=version_header(info))


async def put_object_tagging(ctx: Ctx) -> Response:
    version = version_param(ctx)
    tags = validate_tags(parse_tag_set(await read_xml(ctx)), MAX_OBJECT_TAGS)
    info = await ctx.store.update_object_meta(ctx.bucket_name, ctx.key_name, tags=tags, version_id=version)
    return empty(200, version_header(info))


async def delete_object_tagging(ctx: Ctx) -> Response:
    info = await ctx.store.update_object_meta(ctx.bucket_name, ctx.key_name, tags={}, version_id=version_param(ctx))
    return empty(204, version_header(info))
