"""Bucket lifecycle and the small bucket sub-resources we serve."""

from __future__ import annotations

import re

from starlette.responses import Response

from smarts3.access.acl import canned_from_headers, full_control_to_only, has_grant_headers, requested
from smarts3.access.actions import Action
from smarts3.access.ownership import ACL_KEY, ENFORCED, MODES, OWNER_ID, OWNERSHIP, recorded_owner
from smarts3.config.declared import bucket_name_problem
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import parse_tag_set, read_xml, tag_set_xml
from smarts3.s3.headers import MAX_BUCKET_TAGS, validate_tags
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import BucketAlreadyExists

_REGION = re.compile(r"^[a-z0-9-]{1,32}$")


async def create_bucket(ctx: Ctx) -> Response:
    name = ctx.bucket_name
    problem = bucket_name_problem(name)
    if problem:
        raise S3Error(
            "InvalidBucketName", f"The specified bucket is not valid: {problem}.", fields={"BucketName": name}
        )
    canned = canned_from_headers(ctx.headers)
    locked = ctx.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true"
    ownership = _object_ownership(ctx, canned)
    acl = requested(ctx.headers, ctx.access.directory) if ctx.access.directory else canned
    region = ctx.region
    body = await read_xml(ctx)
    if body.strip():
        root = xml.expect_root(xml.parse(body), "CreateBucketConfiguration")
        constraint = xml.child_text(root, "LocationConstraint")
        if constraint:
            if not _REGION.match(constraint):
                raise S3Error("InvalidLocationConstraint", fields={"LocationConstraint": constraint})
            region = constraint
    try:
        await ctx.store.create_bucket(name, region)
    except BucketAlreadyExists:
        await _created_again(ctx, name)
        return empty(200, {"location": f"/{name}"})
    extra: dict[str, str | None] = {OWNER_ID: ctx.access.caller_id, OWNERSHIP: ownership}
    if acl and acl != "private":
        extra[ACL_KEY] = acl
    if locked:  # Object Lock implies versioning (handlers/objectlock.py)
        await ctx.store.set_bucket_versioning(name, "Enabled")
        extra["object-lock"] = "Enabled"
    await ctx.store.update_bucket_extra(name, extra)
    return empty(200, {"location": f"/{name}"})


def _object_ownership(ctx: Ctx, canned: str | None) -> str | None:
    """x-amz-object-ownership: the new bucket's ownership controls (none sent: none set, ACLs
    enabled; see docs/access.md for why this is not AWS's BucketOwnerEnforced default)."""
    value = ctx.headers.get("x-amz-object-ownership")
    if value is None:
        return None
    if value not in MODES:
        raise S3Error(
            "InvalidArgument",
            "Invalid x-amz-object-ownership header.",
            fields={"ArgumentName": "x-amz-object-ownership", "ArgumentValue": value},
        )
    grants_other = has_grant_headers(ctx.headers) and not full_control_to_only(ctx.headers, ctx.access.caller_id)
    opens = grants_other or canned not in (None, "private", "bucket-owner-full-control")
    if value == ENFORCED and opens:
        raise S3Error(
            "InvalidBucketAclWithObjectOwnership",
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        )
    return value


async def _created_again(ctx: Ctx, name: str) -> None:
    """CreateBucket of a name that exists: another credential's → 409 BucketAlreadyExists; your
    own → 200 in us-east-1, keeping its objects (AWS's legacy behaviour), else 409
    BucketAlreadyOwnedByYou."""
    info = await ctx.store.get_bucket(name)
    owner = recorded_owner(info, ctx.access.directory.ids_by_key() if ctx.access.directory else {})
    # A bucket without a recorded owner (declared) is "yours" only where a grant lets you create it.
    mine = owner == ctx.access.caller_id if owner is not None else _granted_admin(ctx, name)
    if not mine:
        raise S3Error("BucketAlreadyExists", fields={"BucketName": name})
    if info.region != "us-east-1":
        raise S3Error("BucketAlreadyOwnedByYou", fields={"BucketName": name})


def _granted_admin(ctx: Ctx, name: str) -> bool:
    return ctx.principal is not None and ctx.principal.may(Action.ADMIN, name)


async def head_bucket(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    return empty(200, {"x-amz-bucket-region": info.region})


async def delete_bucket(ctx: Ctx) -> Response:
    await ctx.store.delete_bucket(ctx.bucket_name)
    return empty(204)


async def get_bucket_location(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    region = "" if info.region == "us-east-1" else info.region
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{xml.NS}">'
        f"{xml.text(region)}</LocationConstraint>"
    ).encode()
    return xml_response(body)


async def get_bucket_tagging(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    if not info.tags:
        raise S3Error("NoSuchTagSet", fields={"BucketName": info.name})
    return xml_response(tag_set_xml("Tagging", dict(info.tags)))


async def put_bucket_tagging(ctx: Ctx) -> Response:
    await ctx.store.get_bucket(ctx.bucket_name)
    tags = validate_tags(parse_tag_set(await read_xml(ctx)), MAX_BUCKET_TAGS)
    await ctx.store.set_bucket_tags(ctx.bucket_name, tags)
    return empty(204)


async def delete_bucket_tagging(ctx: Ctx) -> Response:
    await ctx.store.set_bucket_tags(ctx.bucket_name, {})
    return empty(204)
