"""PutObject, CopyObject, DeleteObject and DeleteObjects."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response

from smarts3 import checksums
from smarts3.s3 import copysource, xml
from smarts3.s3.body import receive_into, verify_required_digest
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error, from_exception
from smarts3.s3.handlers.common import ensure_still_readable, read_xml
from smarts3.s3.handlers.writes import (
    new_meta,
    object_extra,
    refuse_unsupported,
    result_headers,
    write_condition,
)
from smarts3.s3.headers import (
    check_read_preconditions,
    parse_tag_header,
    stored_headers,
    user_metadata,
)
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import ObjectInfo

MAX_DELETE_KEYS = 1000
MAX_COPY_SOURCE = 5 * 1024**3


async def put_object(ctx: Ctx) -> Response:
    refuse_unsupported(ctx.headers)
    meta = new_meta(ctx)  # validate headers before reading the body
    condition = write_condition(ctx.headers)
    async with ctx.store.object_writer(ctx.bucket_name, ctx.key_name) as writer:
        sums = await receive_into(ctx, writer, ctx.limits.max_object_size)
        meta = replace(meta, checksums=sums, checksum_type="FULL_OBJECT" if sums else None)
        info = await writer.commit(meta, condition)
    return empty(200, result_headers(info.etag, sums, meta.checksum_type))


async def source_info(ctx: Ctx, bucket: str, key: str) -> ObjectInfo:
    """The copy source, after its x-amz-copy-source-if-* conditions."""
    try:
        info = await ctx.store.head_object(bucket, key)
    except Exception as exc:
        mapped = from_exception(exc, bucket, key)
        raise (mapped or exc) from None
    ensure_still_readable(ctx, bucket, key, info)
    if check_read_preconditions(ctx.headers, info, prefix="x-amz-copy-source-if-"):
        raise S3Error("PreconditionFailed", fields={"Condition": "x-amz-copy-source-If-Match"})
    return info


async def copy_object(ctx: Ctx) -> Response:
    refuse_unsupported(ctx.headers)
    if "x-amz-copy-source-range" in ctx.headers:
        raise S3Error(
            "InvalidArgument",
            "The x-amz-copy-source-range header is only valid for UploadPartCopy.",
            fields={"ArgumentName": "x-amz-copy-source-range"},
        )
    source = copysource.parse(ctx.headers)  # the very source the authorizer allowed
    src_bucket, src_key = source.bucket, source.key
    metadata_directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    tagging_directive = ctx.headers.get("x-amz-tagging-directive", "COPY").upper()
    for name, value in (
        ("x-amz-metadata-directive", metadata_directive),
        ("x-amz-tagging-directive", tagging_directive),
    ):
        if value not in ("COPY", "REPLACE"):
            raise S3Error("InvalidArgument", f"Unknown {name}.", fields={"ArgumentName": name})
    algorithm = ctx.headers.get("x-amz-checksum-algorithm")
    if algorithm and algorithm.upper() not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Invalid x-amz-checksum-algorithm.")
    info = await source_info(ctx, src_bucket, src_key)
    if info.size > MAX_COPY_SOURCE:
        raise S3Error(
            "InvalidRequest",
            f"The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SOURCE}",
        )
    same = (src_bucket, src_key) == (ctx.bucket, ctx.key)
    extra = object_extra(ctx.headers)
    if same and metadata_directive == "COPY" and not extra and not algorithm:
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy "
            "an object to itself without changing the object's metadata, storage class, "
            "website redirect location or encryption attributes.",
        )
    meta = info.meta
    if metadata_directive == "REPLACE":
        meta = replace(meta, headers=stored_headers(ctx.headers), user=user_metadata(ctx.headers))
    if tagging_directive == "REPLACE":
        tagging = ctx.headers.get("x-amz-tagging")
        meta = replace(meta, tags=parse_tag_header(tagging) if tagging else {})
    meta = replace(meta, extra=extra)
    if algorithm and algorithm.upper() not in meta.checksums:
        meta = replace(meta, checksums=await _whole_checksum(ctx, info, algorithm.upper()), checksum_type="FULL_OBJECT")
    elif meta.checksum_type == "COMPOSITE":
        # A copy is written in one piece: S3 drops composite multipart checksums.
        meta = replace(meta, checksums={}, checksum_type=None)
    copied = await ctx.store.copy_object(
        src_bucket,
        src_key,
        ctx.bucket_name,
        ctx.key_name,
        meta,
        src_etag=info.etag,
        condition=write_condition(ctx.headers),
    )
    children = [xml.el("ETag", copied.etag), xml.el("LastModified", xml.iso8601(copied.last_modified))]
    children.extend(xml.el("Checksum" + alg, v) for alg, v in copied.meta.checksums.items())
    if copied.meta.checksum_type and copied.meta.checksums:
        children.append(xml.el("ChecksumType", copied.meta.checksum_type))
    return xml_response(xml.document("CopyObjectResult", children))


async def _whole_checksum(ctx: Ctx, info: ObjectInfo, algorithm: str) -> dict[str, str]:
    hasher = checksums.new_hasher(algorithm)
    reader = await ctx.store.open_object(info.bucket, info.key)
    try:
        async for chunk in reader.iter_range(0, reader.info.size):
            hasher.update(chunk)
    finally:
        await reader.close()
    return {algorithm: hasher.b64()}


async def delete_object(ctx: Ctx) -> Response:
    version = ctx.query.get("versionId")
    if version is not None and version != "null":
        raise S3Error(
            "InvalidArgument",
            "Invalid version id specified",
            fields={"ArgumentName": "versionId", "ArgumentValue": version},
        )
    await ctx.store.delete_object(ctx.bucket_name, ctx.key_name)
    return empty(204)


async def delete_objects(ctx: Ctx) -> Response:
    body = await read_xml(ctx)
    verify_required_digest(ctx.headers, body)
    root = xml.expect_root(xml.parse(body), "Delete")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    objects = xml.children(root, "Object")
    if not objects or len(objects) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML")
    await ctx.store.get_bucket(ctx.bucket_name)
    results: list[str] = []
    valid: list[str] = []
    for obj in objects:
        key = xml.child_text(obj, "Key")
        if key is None:
            raise S3Error("MalformedXML")
        version = xml.child_text(obj, "VersionId")
        if len(key.encode()) > 1024 or key == "":
            results.append(
                _delete_error(
                    key,
                    "KeyTooLongError" if key else "InvalidArgument",
                    "Your key is too long" if key else "Key is empty",
                )
            )
        elif version not in (None, "null"):
            results.append(_delete_error(key, "NoSuchVersion", "The specified version does not exist."))
        else:
            valid.append(key)
    await ctx.store.delete_objects(ctx.bucket_name, valid)
    if not quiet:
        results = [xml.node("Deleted", [xml.el("Key", k)]) for k in valid] + results
    return xml_response(xml.document("DeleteResult", results))


def _delete_error(key: str, code: str, message: str) -> str:
    return xml.node("Error", [xml.el("Key", key), xml.el("Code", code), xml.el("Message", message)])
