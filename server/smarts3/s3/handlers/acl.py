"""Bucket and object ACLs: canned (x-amz-acl), grant headers (x-amz-grant-*) or an
AccessControlPolicy document; answered as the grant list with its Owner."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.access import grants
from smarts3.access.acl import parse_policy, policy_xml, requested
from smarts3.access.ownership import ACL_KEY, BucketState, acls_not_supported, owner_full_control, refuse_if_disabled
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.handlers.versions import version_header, version_param
from smarts3.s3.responses import empty, xml_response


def _state(ctx: Ctx) -> BucketState:
    if ctx.access.bucket is None:  # the authorizer reads it for every ACL operation
        raise S3Error("NoSuchBucket", fields={"BucketName": ctx.bucket_name})
    return ctx.access.bucket


async def _requested_acl(ctx: Ctx, state: BucketState) -> str | None:
    """The ACL to store (None: private), from exactly one of x-amz-acl, x-amz-grant-* or a body."""
    refuse_if_disabled(state, ctx.headers)
    directory = ctx.access.directory
    assert directory is not None
    from_headers = requested(ctx.headers, directory)
    body = await read_xml(ctx)
    if body.strip():
        if from_headers is not None:
            raise S3Error("UnexpectedContent", "This request does not support content")
        policy = parse_policy(body, directory)
        if grants.is_public(policy) and ctx.authorizer is not None:
            await ctx.authorizer.refuse_public_acl(ctx.bucket_name)  # BlockPublicAcls, as for the headers
        if not state.acls_enabled and not owner_full_control(state, policy):
            raise acls_not_supported()  # AWS takes bucket-owner-full-control in any form, nothing else
        return grants.dump(policy)
    if from_headers is None:
        raise S3Error(
            "MissingSecurityHeader",
            "Your request is missing a required header: x-amz-acl",
            fields={"MissingHeaderName": "x-amz-acl"},
        )
    return None if from_headers == "private" else from_headers


async def get_bucket_acl(ctx: Ctx) -> Response:
    state = _state(ctx)
    # BucketOwnerEnforced: a stored ACL no longer counts, and S3 shows the owner's grant alone.
    acl = state.acl if state.acls_enabled else None
    return xml_response(policy_xml(state.owner, grants.load(acl, state.owner, state.owner)))


async def put_bucket_acl(ctx: Ctx) -> Response:
    state = _state(ctx)
    acl = await _requested_acl(ctx, state)
    await ctx.store.update_bucket_extra(ctx.bucket_name, {ACL_KEY: acl})
    return empty(200)


async def get_object_acl(ctx: Ctx) -> Response:
    state = _state(ctx)
    info = await ctx.store.head_object(ctx.bucket_name, ctx.key_name, version_param(ctx))
    extra = info.meta.extra
    return xml_response(policy_xml(state.object_owner(extra), state.object_grants(extra)), headers=version_header(info))


async def put_object_acl(ctx: Ctx) -> Response:
    state = _state(ctx)
    version = version_param(ctx)
    await ctx.store.head_object(ctx.bucket_name, ctx.key_name, version)  # NoSuchKey before the body is read
    acl = await _requested_acl(ctx, state)
    info = await ctx.store.update_object_meta(ctx.bucket_name, ctx.key_name, extra={ACL_KEY: acl}, version_id=version)
    return empty(200, version_header(info))
