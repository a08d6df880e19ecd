"""PutObject, CopyObject, DeleteObject and DeleteObjects."""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.responses import Response

from smarts3 import checksums
from smarts3.s3 import copysource, sse, xml
from smarts3.s3.body import receive_into, verify_required_digest
from smarts3.s3.context import ClientGone, Ctx
from smarts3.s3.errors import S3Error, from_exception
from smarts3.s3.handlers import known_buckets
from smarts3.s3.handlers.common import ensure_still_readable, read_xml
from smarts3.s3.handlers.lifecycle import expiration_header
from smarts3.s3.handlers.objectlock import keep_locked, lock_extra, locked_error
from smarts3.s3.handlers.sse_copy import copy_sealed
from smarts3.s3.handlers.versions import checked_version, version_header, version_param
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
from smarts3.storage.base import (
    BodyCipher,
    BucketChanged,
    BucketInfo,
    DeleteOutcome,
    ObjectInfo,
    ObjectMeta,
    WriteCondition,
)

MAX_DELETE_KEYS = 1000
MAX_COPY_SOURCE = 5 * 1024**3
_REPLAYS = 5  # commits of a held small body after its bucket's configuration changed


async def put_object(ctx: Ctx) -> Response:
    refuse_unsupported(ctx.headers)
    meta = new_meta(ctx)  # validate headers before reading the body
    known = known_buckets.known(ctx)
    plan = None
    if known is not None:
        ctx.decide_on(known)
        try:
            plan = await _plan(ctx)
        except S3Error:  # refused on what this worker knew: decided again on a fresh read
            known = None
            ctx.decide_on(None)
    if known is None or plan is None:
        info = await _put_on_fresh(ctx, meta)
    else:
        info = await _put_on_known(ctx, meta, plan, known)
    expiration = await expiration_header(ctx, info)
    encryption = sse.response_headers(ctx, sse.record_of(info.meta), with_context=True)
    headers = {**result_headers(info.etag, info.meta.checksums, info.meta.checksum_type), **version_header(info)}
    return empty(200, {**headers, **expiration, **encryption})


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a PUT decides before its body, partly on its bucket's configuration."""

    locks: dict[str, str]
    condition: WriteCondition | None
    sealing: sse.Sealing | None

    @property
    def cipher(self) -> BodyCipher | None:
        return None if self.sealing is None else self.sealing.cipher

    def meta(self, meta: ObjectMeta, sums: dict[str, str]) -> ObjectMeta:
        extra = {**meta.extra, **self.locks} if self.locks else meta.extra
        meta = replace(meta, extra=extra, checksums=sums, checksum_type="FULL_OBJECT" if sums else None)
        return sse.sealed_meta(meta, self.sealing)


async def _plan(ctx: Ctx) -> _Plan:
    locks = _set(await lock_extra(ctx))  # reads the bucket (NoSuchBucket before the body)
    condition = write_condition(ctx.headers)
    return _Plan(locks, condition, await sse.plan_write(ctx))


async def _fresh_plan(ctx: Ctx) -> _Plan:
    ctx.decide_on(None)
    plan = await _plan(ctx)
    known_buckets.remember(ctx, await ctx.bucket_info())
    return plan


async def _put_on_fresh(ctx: Ctx, meta: ObjectMeta) -> ObjectInfo:
    plan = await _fresh_plan(ctx)
    # bucket_checked: the plan read the bucket just now; the commit checks it again.
    async with ctx.store.object_writer(ctx.bucket_name, ctx.key_name, plan.cipher, bucket_checked=True) as writer:
        sums = await receive_into(ctx, writer, ctx.limits.max_object_size)
        return await writer.commit(plan.meta(meta, sums), plan.condition)


async def _put_on_known(ctx: Ctx, meta: ObjectMeta, plan: _Plan, known: BucketInfo) -> ObjectInfo:
    """A small PUT decided on the bucket as this worker knew it (known_buckets.py): its commit
    refuses if the bucket's configuration is no longer that one, and the held body is then
    written again on a fresh read, as often as that keeps happening (the last time as an
    uncached PUT would: read, then commit)."""
    async with ctx.store.object_writer(ctx.bucket_name, ctx.key_name, plan.cipher, bucket_checked=True) as writer:
        holding = known_buckets.Holding(writer)
        try:
            sums = await receive_into(ctx, holding, ctx.limits.max_object_size)
        except ClientGone:
            raise
        except Exception:
            await _fresh_plan(ctx)  # a fresh read answers first (NoSuchBucket, the bucket's refusals)
            raise
        body = holding.body
        try:
            return await writer.commit(plan.meta(meta, sums), plan.condition, bucket_extra=known.extra)
        except BucketChanged:
            if body is None:  # known() admits declared sizes up to REPLAY_MAX, and receive_into checked it
                raise RuntimeError("a changed bucket and no held body to write again") from None
    for attempt in range(_REPLAYS):
        plan = await _fresh_plan(ctx)
        bucket = await ctx.bucket_info()
        async with ctx.store.object_writer(ctx.bucket_name, ctx.key_name, plan.cipher, bucket_checked=True) as writer:
            await writer.write(body)
            await writer.flush()
            expected = None if attempt == _REPLAYS - 1 else bucket.extra
            try:
                return await writer.commit(plan.meta(meta, sums), plan.condition, bucket_extra=expected)
            except BucketChanged:
                continue
    raise RuntimeError("unreachable: the last write commits without a bucket check")


async def source_info(ctx: Ctx, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
    """The copy source (a version of it, if named), after its x-amz-copy-source-if-* conditions."""
    try:
        info = await ctx.store.head_object(bucket, key, version_id)
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
    info = await source_info(ctx, src_bucket, src_key, source.version_id)
    sse.check_read(ctx, info, copy_source=True)
    sealing = await sse.plan_write(ctx)
    if info.size > MAX_COPY_SOURCE:
        raise S3Error(
            "InvalidRequest",
            f"The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SOURCE}",
        )
    same = (src_bucket, src_key, source.version_id) == (ctx.bucket, ctx.key, None)
    extra = object_extra(ctx.headers, ctx.access.object_extra)
    if same and metadata_directive == "COPY" and not extra and not algorithm and not sse.requested(ctx.headers):
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
    meta = replace(meta, extra={**extra, **_set(await lock_extra(ctx))})  # a copy starts unlocked
    if algorithm and algorithm.upper() not in meta.checksums:
        meta = replace(meta, checksums=await _whole_checksum(ctx, info, algorithm.upper()), checksum_type="FULL_OBJECT")
    elif meta.checksum_type == "COMPOSITE":
        # A copy is written in one piece: S3 drops composite multipart checksums.
        meta = replace(meta, checksums={}, checksum_type=None)
    if sealing is not None or sse.record_of(info.meta) is not None:
        # Sealed bytes cannot be shared (each object has its own key): decrypt, re-encrypt.
        copied = await copy_sealed(ctx, info, source.version_id, meta, sealing, write_condition(ctx.headers))
    else:
        copied = await ctx.store.copy_object(
            src_bucket,
            src_key,
            ctx.bucket_name,
            ctx.key_name,
            meta,
            src_etag=info.etag,
            condition=write_condition(ctx.headers),
            src_version_id=source.version_id,
        )
    headers = version_header(copied)
    headers.update(sse.response_headers(ctx, sse.record_of(copied.meta), with_context=True))
    if info.version_id is not None:
        headers["x-amz-copy-source-version-id"] = info.version_id
    children = [xml.el("ETag", copied.etag), xml.el("LastModified", xml.iso8601(copied.last_modified))]
    children.extend(xml.el("Checksum" + alg, v) for alg, v in copied.meta.checksums.items())
    if copied.meta.checksum_type and copied.meta.checksums:
        children.append(xml.el("ChecksumType", copied.meta.checksum_type))
    return xml_response(xml.document("CopyObjectResult", children), headers=headers)


async def _whole_checksum(ctx: Ctx, info: ObjectInfo, algorithm: str) -> dict[str, str]:
    hasher = checksums.new_hasher(algorithm)
    reader = await ctx.store.open_object(
        info.bucket, info.key, info.version_id, cipher_for=sse.cipher_for(ctx, copy_source=True)
    )
    try:
        async for chunk in reader.iter_range(0, reader.info.size):
            hasher.update(chunk)
    finally:
        await reader.close()
    return {algorithm: hasher.b64()}


async def delete_object(ctx: Ctx) -> Response:
    (outcome,) = await ctx.store.delete_versions(
        ctx.bucket_name, [(ctx.key_name, version_param(ctx))], keep=keep_locked(ctx)
    )
    if outcome.kept:
        raise locked_error()
    headers = {}
    # An unversioned bucket answers neither header (AWS sends no x-amz-delete-marker there).
    if outcome.version_id is not None:
        headers["x-amz-version-id"] = outcome.version_id
    if outcome.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return empty(204, headers)


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
    valid: list[tuple[str, str | None]] = []
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
        elif version is not None and not _valid_version(version):
            results.append(_delete_error(key, "NoSuchVersion", "The specified version does not exist.", version))
        else:
            valid.append((key, version))
    outcomes = await ctx.store.delete_versions(ctx.bucket_name, valid, keep=keep_locked(ctx))
    refused = [_delete_error(o.key, "AccessDenied", locked_error().message, asked)
               for o, (_, asked) in zip(outcomes, valid, strict=True) if o.kept]
    if not quiet:
        done = [_deleted(o, asked) for o, (_, asked) in zip(outcomes, valid, strict=True) if not o.kept]
        results = done + results
    results += refused
    return xml_response(xml.document("DeleteResult", results))


def _set(extra: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in extra.items() if v is not None}


def _valid_version(version: str) -> bool:
    try:
        return checked_version(version) is not None
    except S3Error:
        return False


def _deleted(outcome: DeleteOutcome, asked: str | None) -> str:
    children = [xml.el("Key", outcome.key)]
    if asked is not None:
        children.append(xml.el("VersionId", asked))
    if outcome.delete_marker:
        children.append(xml.el("DeleteMarker", "true"))
        if outcome.version_id is not None:
            children.append(xml.el("DeleteMarkerVersionId", outcome.version_id))
    return xml.node("Deleted", children)


def _delete_error(key: str, code: str, message: str, version: str | None = None) -> str:
    children = [xml.el("Key", key)]
    if version is not None:
        children.append(xml.el("VersionId", version))
    return xml.node("Error", [*children, xml.el("Code", code), xml.el("Message", message)])
