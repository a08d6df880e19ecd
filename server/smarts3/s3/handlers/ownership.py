"""Bucket ownership controls (Object Ownership): BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.access.ownership import ENFORCED, MODES, OWNERSHIP
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.responses import empty, xml_response


async def get_bucket_ownership_controls(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    mode = info.extra.get(OWNERSHIP)
    if mode is None:
        raise S3Error(
            "OwnershipControlsNotFoundError",
            "The bucket ownership controls were not found",
            status=404,
            fields={"BucketName": info.name},
        )
    rule = xml.node("Rule", [xml.el("ObjectOwnership", mode)])
    return xml_response(xml.document("OwnershipControls", [rule]))


async def put_bucket_ownership_controls(ctx: Ctx) -> Response:
    await ctx.store.get_bucket(ctx.bucket_name)
    root = xml.expect_root(xml.parse(await read_xml(ctx)), "OwnershipControls")
    rules = xml.children(root, "Rule")
    # S3 takes exactly one rule naming one of the three settings.
    if len(rules) != 1 or len(root) != 1:
        raise S3Error("MalformedXML")
    mode = (xml.child_text(rules[0], "ObjectOwnership") or "").strip()
    if mode not in MODES:
        raise S3Error("MalformedXML")
    state = ctx.access.bucket
    if mode == ENFORCED and state is not None and any(g.grantee != state.owner for g in state.grants()):
        # S3 refuses to switch ACLs off while the bucket's ACL still grants someone else: that
        # access would vanish silently. Reset the ACL (private) first.
        raise S3Error(
            "InvalidBucketAclWithObjectOwnership",
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        )
    await ctx.store.update_bucket_extra(ctx.bucket_name, {OWNERSHIP: mode})
    return empty(200)


async def delete_bucket_ownership_controls(ctx: Ctx) -> Response:
    await ctx.store.get_bucket(ctx.bucket_name)
    await ctx.store.update_bucket_extra(ctx.bucket_name, {OWNERSHIP: None})
    return empty(204)
