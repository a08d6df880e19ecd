"""Bucket and object ACLs: canned ACLs are stored and honoured; full ACL documents are not."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.access.acl import canned_from_headers, policy_xml
from smarts3.access.authorize import ACL_KEY
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error, not_implemented
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.responses import empty, xml_response


async def _canned_only(ctx: Ctx, operation: str) -> str:
    canned = canned_from_headers(ctx.headers)
    body = await read_xml(ctx)
    if body.strip():
        raise not_implemented(f"{operation} with an AccessControlPolicy document")
    if canned is None:
        raise S3Error(
            "MissingSecurityHeader",
            "Your request is missing a required header: x-amz-acl",
            fields={"MissingHeaderName": "x-amz-acl"},
        )
    return canned


async def get_bucket_acl(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    return xml_response(policy_xml(ctx.owner_id, info.extra.get(ACL_KEY, "private")))


async def put_bucket_acl(ctx: Ctx) -> Response:
    canned = await _canned_only(ctx, "PutBucketAcl")
    await ctx.store.update_bucket_extra(ctx.bucket_name, {ACL_KEY: canned})
    return empty(200)


async def get_object_acl(ctx: Ctx) -> Response:
    info = await ctx.store.head_object(ctx.bucket_name, ctx.key_name)
    return xml_response(policy_xml(ctx.owner_id, info.meta.extra.get(ACL_KEY, "private")))


async def put_object_acl(ctx: Ctx) -> Response:
    canned = await _canned_only(ctx, "PutObjectAcl")
    await ctx.store.update_object_meta(ctx.bucket_name, ctx.key_name, extra={ACL_KEY: canned})
    return empty(200)
