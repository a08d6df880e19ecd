"""Bucket policies and public access blocks: Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus,
Put/Get/DeletePublicAccessBlock. Both live in the bucket's `extra`; the authorizer reads them."""

from __future__ import annotations

from starlette.responses import Response

from smarts3.access import pab
from smarts3.access.actions import KNOWN_IAM_ACTIONS
from smarts3.access.authorize import POLICY_KEY
from smarts3.access.policy import MAX_POLICY_BYTES, parse
from smarts3.access.policy_conditions import PolicyError
from smarts3.auth.chunked import BodyDecoder
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.responses import empty, xml_response


async def _server_block(ctx: Ctx) -> pab.Block:
    return ctx.authorizer.public_access_block if ctx.authorizer is not None else pab.NONE


async def _update(ctx: Ctx, changes: dict[str, str | None]) -> None:
    await ctx.store.update_bucket_extra(ctx.bucket_name, changes)
    if ctx.authorizer is not None:
        ctx.authorizer.forget(ctx.bucket_name)


async def put_bucket_policy(ctx: Ctx) -> Response:
    try:
        body = await xml.read_capped(aiter(BodyDecoder(ctx.raw_body(), ctx.auth)), MAX_POLICY_BYTES)
    except S3Error as exc:
        if exc.code != "MalformedXML":
            raise
        raise S3Error("MalformedPolicy", "Policies must be less than 20 KB", fields=_bucket(ctx)) from None
    try:
        policy = parse(body, ctx.bucket_name, KNOWN_IAM_ACTIONS)
    except PolicyError as exc:
        raise S3Error("MalformedPolicy", str(exc), fields=_bucket(ctx)) from None
    info = await ctx.store.get_bucket(ctx.bucket_name)
    block = await _server_block(ctx) | (pab.stored(info.extra) or pab.NONE)
    if block.block_public_policy and policy.public:
        raise S3Error("AccessDenied")  # AWS refuses a public policy under BlockPublicPolicy, even for the owner
    await _update(ctx, {POLICY_KEY: policy.text})
    return empty(204)


async def get_bucket_policy(ctx: Ctx) -> Response:
    text = (await ctx.store.get_bucket(ctx.bucket_name)).extra.get(POLICY_KEY)
    if text is None:
        raise S3Error("NoSuchBucketPolicy", fields=_bucket(ctx))
    return Response(text.encode(), media_type="application/json")


async def delete_bucket_policy(ctx: Ctx) -> Response:
    # S3 answers 204 whether or not there was a policy.
    await ctx.store.get_bucket(ctx.bucket_name)
    await _update(ctx, {POLICY_KEY: None})
    return empty(204)


async def get_bucket_policy_status(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    if POLICY_KEY not in info.extra:
        raise S3Error("NoSuchBucketPolicy", fields=_bucket(ctx))
    try:
        public = parse(info.extra[POLICY_KEY], ctx.bucket_name, KNOWN_IAM_ACTIONS).public
    except PolicyError:
        public = False
    return xml_response(xml.document("PolicyStatus", [xml.el("IsPublic", "true" if public else "false")]))


async def put_public_access_block(ctx: Ctx) -> Response:
    block = pab.parse_xml(await read_xml(ctx))
    await ctx.store.get_bucket(ctx.bucket_name)
    await _update(ctx, {pab.PAB_KEY: pab.dumps(block)})
    return empty(200)


async def get_public_access_block(ctx: Ctx) -> Response:
    block = pab.stored((await ctx.store.get_bucket(ctx.bucket_name)).extra)
    if block is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", fields=_bucket(ctx))
    return xml_response(pab.to_xml(block))


async def delete_public_access_block(ctx: Ctx) -> Response:
    await ctx.store.get_bucket(ctx.bucket_name)
    await _update(ctx, {pab.PAB_KEY: None})
    return empty(204)


def _bucket(ctx: Ctx) -> dict[str, str]:
    return {"BucketName": ctx.bucket_name}
