"""Bucket default encryption: Put/Get/DeleteBucketEncryption.

Kept as JSON in the bucket's `extra` (s3.sse.BUCKET_KEY); s3.sse.plan_write applies it to
writes that bring no encryption headers of their own.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from smarts3.s3 import sse, xml
from smarts3.s3.body import verify_required_digest
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error, not_implemented
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.responses import empty, xml_response
from smarts3.sse import record


def _parse(body: bytes) -> tuple[str, str | None, bool]:
    root = xml.expect_root(xml.parse(body), "ServerSideEncryptionConfiguration")
    rules = xml.children(root, "Rule")
    if len(rules) != 1:
        raise S3Error("MalformedXML")
    default = xml.child(rules[0], "ApplyServerSideEncryptionByDefault")
    if default is None:
        raise S3Error("MalformedXML")
    algorithm = (xml.child_text(default, "SSEAlgorithm") or "").strip()
    kms_id = xml.child_text(default, "KMSMasterKeyID")
    bucket_key = (xml.child_text(rules[0], "BucketKeyEnabled") or "false").strip().lower()
    if algorithm not in (record.SSE_S3, *record.KMS_MODES) or bucket_key not in ("true", "false"):
        raise S3Error("MalformedXML")
    if kms_id is not None and algorithm not in record.KMS_MODES:
        raise S3Error(
            "InvalidArgument",
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            fields={"ArgumentName": "ApplyServerSideEncryptionByDefault"},
        )
    return algorithm, (kms_id.strip() or None) if kms_id is not None else None, bucket_key == "true"


async def put_bucket_encryption(ctx: Ctx) -> Response:
    body = await read_xml(ctx)
    verify_required_digest(ctx.headers, body)
    algorithm, kms_id, bucket_key = _parse(body)
    await ctx.store.get_bucket(ctx.bucket_name)  # NoSuchBucket before anything else
    if ctx.sse is None:
        raise not_implemented("Server-side encryption")
    config = json.dumps({"alg": algorithm, "kms": kms_id, "bk": bucket_key})
    await ctx.store.update_bucket_extra(ctx.bucket_name, {sse.BUCKET_KEY: config})
    return empty(200)


async def get_bucket_encryption(ctx: Ctx) -> Response:
    default = await sse.bucket_default(ctx)
    if default is None:
        raise S3Error("ServerSideEncryptionConfigurationNotFoundError", fields={"BucketName": ctx.bucket_name})
    algorithm, kms_id, bucket_key = default
    by_default = [xml.el("SSEAlgorithm", algorithm)]
    if kms_id:
        by_default.append(xml.el("KMSMasterKeyID", kms_id))
    rule = xml.node(
        "Rule",
        [
            xml.node("ApplyServerSideEncryptionByDefault", by_default),
            xml.el("BucketKeyEnabled", "true" if bucket_key else "false"),
        ],
    )
    return xml_response(xml.document("ServerSideEncryptionConfiguration", [rule]))


async def delete_bucket_encryption(ctx: Ctx) -> Response:
    await ctx.store.get_bucket(ctx.bucket_name)
    await ctx.store.update_bucket_extra(ctx.bucket_name, {sse.BUCKET_KEY: None})
    return empty(204)
