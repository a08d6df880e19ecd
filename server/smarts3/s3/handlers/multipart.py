"""Multipart uploads: create, upload (and copy) parts, complete, abort, list."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from itertools import pairwise
from urllib.parse import quote

from starlette.responses import Response

from smarts3 import checksums
from smarts3.access.ownership import INITIATOR, upload_owners
from smarts3.s3 import copysource, sse, xml
from smarts3.s3.body import receive_into
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import int_param, owner, read_xml
from smarts3.s3.handlers.mpu_checksums import (
    check_checksum_type,
    check_part_checksums,
    final_checksums,
    require_part_checksum,
    upload_algorithm,
)
from smarts3.s3.handlers.objectlock import lock_extra
from smarts3.s3.handlers.objects_write import source_info
from smarts3.s3.handlers.writes import (
    check_part_number,
    new_meta,
    refuse_unsupported,
    result_headers,
    write_condition,
)
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import NoSuchUpload, PartInfo, UploadInfo

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000


async def create_multipart_upload(ctx: Ctx) -> Response:
    refuse_unsupported(ctx.headers)
    meta = new_meta(ctx)
    locks = {k: v for k, v in (await lock_extra(ctx)).items() if v is not None}
    meta = replace(meta, extra={**meta.extra, **locks})
    algorithm = ctx.headers.get("x-amz-checksum-algorithm", "").upper() or None
    kind = ctx.headers.get("x-amz-checksum-type", "").upper() or None
    if algorithm and algorithm not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported.")
    if kind and kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    if kind and not algorithm:
        raise S3Error(
            "InvalidRequest",
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        )
    if algorithm:
        kind = kind or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
        if kind == "FULL_OBJECT" and algorithm.startswith("SHA"):
            raise S3Error(
                "InvalidRequest",
                f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} checksum algorithm.",
            )
        if kind == "COMPOSITE" and algorithm == "CRC64NVME":
            raise S3Error(
                "InvalidRequest", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
            )
        meta = replace(meta, checksums={algorithm: ""}, checksum_type=kind)
    sealing = await sse.plan_write(ctx)
    upload = await ctx.store.create_upload(ctx.bucket_name, ctx.key_name, sse.sealed_meta(meta, sealing))
    headers = sse.response_headers(ctx, sse.record_of(upload.meta), with_context=True)
    if algorithm and kind:
        headers.update({"x-amz-checksum-algorithm": algorithm, "x-amz-checksum-type": kind})
    body = xml.document(
        "InitiateMultipartUploadResult",
        [
            xml.el("Bucket", upload.bucket),
            xml.el("Key", upload.key),
            xml.el("UploadId", upload.upload_id),
        ],
    )
    return xml_response(body, headers=headers)


async def _upload(ctx: Ctx) -> UploadInfo:
    upload_id = ctx.query.get("uploadId", "")
    return await ctx.store.get_upload(ctx.bucket_name, ctx.key_name, upload_id)


async def upload_part(ctx: Ctx) -> Response:
    number = check_part_number(ctx.query.get("partNumber"))
    upload = await _upload(ctx)
    algorithm = upload_algorithm(upload)
    require_part_checksum(ctx, upload)
    cipher = sse.upload_cipher(ctx, upload)
    writer = ctx.store.part_writer(ctx.bucket_name, ctx.key_name, upload.upload_id, number, cipher)
    async with writer:
        sums = await receive_into(ctx, writer, ctx.limits.max_part_size, required=algorithm)
        part = await writer.commit(sums)
    encryption = sse.response_headers(ctx, sse.record_of(upload.meta))
    return empty(200, {**result_headers(part.etag, sums, None), **encryption})


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    if header is None:
        return 0, size
    spec = header.strip()
    first, sep, last = spec.removeprefix("bytes=").partition("-")
    if not spec.startswith("bytes=") or not sep or not first.isdigit() or not last.isdigit():
        raise S3Error(
            "InvalidArgument",
            "The x-amz-copy-source-range value must be of the form "
            "bytes=first-last where first and last are the zero-based offsets of the "
            "first and last bytes to copy",
            fields={"ArgumentName": "x-amz-copy-source-range"},
        )
    start, end = int(first), int(last) + 1
    if end <= start or end > size:
        raise S3Error(
            "InvalidRange",
            "The requested range is not satisfiable",
            fields={"RangeRequested": spec, "ActualObjectSize": str(size)},
        )
    return start, end


async def upload_part_copy(ctx: Ctx) -> Response:
    number = check_part_number(ctx.query.get("partNumber"))
    upload = await _upload(ctx)
    source = copysource.parse(ctx.headers)  # the very source the authorizer allowed
    src_bucket, src_key = source.bucket, source.key
    info = await source_info(ctx, src_bucket, src_key, source.version_id)
    sse.check_read(ctx, info, copy_source=True)
    cipher = sse.upload_cipher(ctx, upload)
    start, end = _copy_range(ctx.headers.get("x-amz-copy-source-range"), info.size)
    if end - start > ctx.limits.max_part_size:
        raise S3Error("EntityTooLarge", fields={"MaxSizeAllowed": str(ctx.limits.max_part_size)})
    algorithm = upload_algorithm(upload)
    hasher = checksums.new_hasher(algorithm) if algorithm else None
    reader = await ctx.store.open_object(
        src_bucket, src_key, source.version_id, cipher_for=sse.cipher_for(ctx, copy_source=True)
    )
    try:
        if reader.info.etag != info.etag:
            raise S3Error("PreconditionFailed", fields={"Condition": "x-amz-copy-source-If-Match"})
        writer = ctx.store.part_writer(ctx.bucket_name, ctx.key_name, upload.upload_id, number, cipher)
        async with writer:
            async for chunk in reader.iter_range(start, end):
                if hasher is not None:
                    hasher.update(chunk)
                await writer.write(chunk)
            sums = {algorithm: hasher.b64()} if hasher and algorithm else {}
            part = await writer.commit(sums)
    finally:
        await reader.close()
    children = [xml.el("ETag", part.etag), xml.el("LastModified", xml.iso8601(part.last_modified))]
    children.extend(xml.el("Checksum" + alg, v) for alg, v in sums.items())
    copied_from = {} if info.version_id is None else {"x-amz-copy-source-version-id": info.version_id}
    copied_from.update(sse.response_headers(ctx, sse.record_of(upload.meta)))
    return xml_response(xml.document("CopyPartResult", children), headers=copied_from)


Requested = list[tuple[int, str, dict[str, str]]]  # (part number, quoted ETag, checksums) as listed


def _requested_parts(body: bytes) -> Requested:
    root = xml.expect_root(xml.parse(body), "CompleteMultipartUpload")
    parts = []
    for element in xml.children(root, "Part"):
        number = xml.child_text(element, "PartNumber")
        etag = xml.child_text(element, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise S3Error("MalformedXML")
        sums = {alg: v for alg in checksums.ALGORITHMS if (v := xml.child_text(element, "Checksum" + alg)) is not None}
        parts.append((int(number), '"' + etag.strip().strip('"') + '"', sums))
    if not parts:
        raise S3Error("MalformedXML")
    return parts


async def _all_parts(ctx: Ctx, upload: UploadInfo) -> dict[int, PartInfo]:
    found: dict[int, PartInfo] = {}
    marker = 0
    while True:
        page = await ctx.store.list_parts(
            ctx.bucket_name, ctx.key_name, upload.upload_id, part_number_marker=marker, max_parts=1000
        )
        found.update((p.part_number, p) for p in page.parts)
        if not page.is_truncated or page.next_part_number_marker is None:
            return found
        marker = page.next_part_number_marker


async def complete_multipart_upload(ctx: Ctx) -> Response:
    requested: Requested | None = None
    try:
        upload = await _upload(ctx)
        requested = _requested_parts(await read_xml(ctx))
        return await _complete(ctx, upload, requested)
    except NoSuchUpload:  # completed meanwhile (a retry, a racing Complete), or never there
        return await _replay(ctx, requested)


async def _complete(ctx: Ctx, upload: UploadInfo, requested: Requested) -> Response:
    condition = write_condition(ctx.headers)
    numbers = [n for n, _, _ in requested]
    if any(b <= a for a, b in pairwise(numbers)):
        raise S3Error("InvalidPartOrder", fields={"UploadId": upload.upload_id})
    check_checksum_type(ctx, upload)
    stored = await _all_parts(ctx, upload)
    chosen: list[PartInfo] = []
    for number, etag, sums in requested:
        part = stored.get(number)
        fields = {"UploadId": upload.upload_id, "PartNumber": str(number), "ETag": etag}
        if part is None or part.etag != etag:
            raise S3Error("InvalidPart", fields=fields)
        check_part_checksums(upload, part, sums, fields)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise S3Error(
                "EntityTooSmall",
                fields={
                    "ProposedSize": str(part.size),
                    "MinSizeAllowed": str(MIN_PART_SIZE),
                    "PartNumber": str(part.part_number),
                    "ETag": part.etag,
                },
            )
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag.strip('"')) for p in chosen))  # noqa: S324
    etag = f'"{digest.hexdigest()}-{len(chosen)}"'
    meta = replace(upload.meta, checksums=final_checksums(ctx, upload, chosen))
    meta = replace(meta, extra={k: v for k, v in meta.extra.items() if k != INITIATOR})  # the upload's alone
    if not meta.checksums:
        meta = replace(meta, checksum_type=None)
    info = await ctx.store.complete_upload(
        ctx.bucket_name,
        ctx.key_name,
        upload.upload_id,
        [(p.part_number, p.etag) for p in chosen],
        etag=etag,
        meta=meta,
        condition=condition,
    )
    response = _completed(
        info.bucket, info.key, info.etag, info.meta.checksums, info.meta.checksum_type, info.version_id
    )
    response.headers.update(sse.response_headers(ctx, sse.record_of(info.meta)))
    return response


def _completed(
    bucket: str, key: str, etag: str, sums: Mapping[str, str], kind: str | None, version_id: str | None
) -> Response:
    children = [
        xml.el("Location", f"/{quote(bucket)}/{quote(key)}"),
        xml.el("Bucket", bucket),
        xml.el("Key", key),
        xml.el("ETag", etag),
    ]
    children.extend(xml.el("Checksum" + alg, v) for alg, v in sums.items())
    if kind:
        children.append(xml.el("ChecksumType", kind))
    headers = result_headers(etag, {}, None)
    del headers["etag"]
    if version_id is not None:
        headers["x-amz-version-id"] = version_id
    return xml_response(xml.document("CompleteMultipartUploadResult", children), headers=headers)


async def _replay(ctx: Ctx, requested: Requested | None) -> Response:
    """A Complete of an upload completed moments ago: the same answer when the same parts are
    listed (an SDK retrying after a lost response), NoSuchUpload otherwise."""
    upload_id = ctx.query.get("uploadId", "")
    done = await ctx.store.completed_upload(ctx.bucket_name, ctx.key_name, upload_id)
    if done is None:
        raise NoSuchUpload(upload_id)
    if requested is None:
        requested = _requested_parts(await read_xml(ctx))
    if [(number, etag) for number, etag, _ in requested] != list(done.parts):
        raise NoSuchUpload(upload_id)
    return _completed(done.bucket, done.key, done.etag, done.checksums, done.checksum_type, done.version_id)


async def abort_multipart_upload(ctx: Ctx) -> Response:
    await ctx.store.abort_upload(ctx.bucket_name, ctx.key_name, ctx.query.get("uploadId", ""))
    return empty(204)


async def list_parts(ctx: Ctx) -> Response:
    upload = await _upload(ctx)
    max_parts = int_param(ctx, "max-parts", 1000, 0, 1000)
    marker = int_param(ctx, "part-number-marker", 0, 0, MAX_PARTS)
    page = await ctx.store.list_parts(
        ctx.bucket_name, ctx.key_name, upload.upload_id, part_number_marker=marker, max_parts=max_parts
    )
    children = [
        xml.el("Bucket", upload.bucket),
        xml.el("Key", upload.key),
        xml.el("UploadId", upload.upload_id),
        xml.el("PartNumberMarker", marker),
        xml.el("NextPartNumberMarker", page.next_part_number_marker or 0),
        xml.el("MaxParts", max_parts),
        xml.el("IsTruncated", "true" if page.is_truncated else "false"),
        *_owners(ctx, upload),
        xml.el("StorageClass", upload.meta.extra.get("storage-class", "STANDARD")),
    ]
    algorithm = upload_algorithm(upload)
    if algorithm:
        children.append(xml.el("ChecksumAlgorithm", algorithm))
        children.append(xml.el("ChecksumType", upload.meta.checksum_type or "COMPOSITE"))
    for part in page.parts:
        fields = [
            xml.el("PartNumber", part.part_number),
            xml.el("LastModified", xml.iso8601(part.last_modified)),
            xml.el("ETag", part.etag),
            xml.el("Size", part.size),
        ]
        fields.extend(xml.el("Checksum" + alg, v) for alg, v in part.checksums.items())
        children.append(xml.node("Part", fields))
    return xml_response(xml.document("ListPartsResult", children))


def _owners(ctx: Ctx, upload: UploadInfo) -> tuple[str, str]:
    """<Initiator> and <Owner> of an upload: who started it, and who will own the object."""
    state = ctx.access.bucket
    if state is None:
        who = owner(ctx)
        return who.replace("<Owner>", "<Initiator>").replace("</Owner>", "</Initiator>"), who
    initiator, owner_id = upload_owners(state, upload.meta.extra)
    return xml.node("Initiator", [xml.el("ID", initiator)]), owner(ctx, owner_id)


async def list_multipart_uploads(ctx: Ctx) -> Response:
    encoding = ctx.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")

    def enc(value: str) -> str:
        return quote(value, safe="/") if encoding else value

    max_uploads = int_param(ctx, "max-uploads", 1000, 0, 1000)
    key_marker = ctx.query.get("key-marker", "")
    id_marker = ctx.query.get("upload-id-marker", "") if key_marker else ""
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    page = await ctx.store.list_uploads(
        ctx.bucket_name,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=id_marker,
        max_uploads=max_uploads,
    )
    children = [
        xml.el("Bucket", ctx.bucket_name),
        xml.el("KeyMarker", enc(key_marker)),
        xml.el("UploadIdMarker", id_marker),
        xml.el("NextKeyMarker", enc(page.next_key_marker or "")),
        xml.el("NextUploadIdMarker", page.next_upload_id_marker or ""),
        xml.el("MaxUploads", max_uploads),
        xml.el("IsTruncated", "true" if page.is_truncated else "false"),
        xml.el("Prefix", enc(prefix)),
    ]
    if delimiter:
        children.append(xml.el("Delimiter", enc(delimiter)))
    if encoding:
        children.append(xml.el("EncodingType", "url"))
    for upload in page.uploads:
        fields = [
            xml.el("Key", enc(upload.key)),
            xml.el("UploadId", upload.upload_id),
            *_owners(ctx, upload),
            xml.el("StorageClass", upload.meta.extra.get("storage-class", "STANDARD")),
            xml.el("Initiated", xml.iso8601(upload.initiated)),
        ]
        algorithm = upload_algorithm(upload)
        if algorithm:
            fields.append(xml.el("ChecksumAlgorithm", algorithm))
            fields.append(xml.el("ChecksumType", upload.meta.checksum_type or "COMPOSITE"))
        children.append(xml.node("Upload", fields))
    children.extend(xml.node("CommonPrefixes", [xml.el("Prefix", enc(p))]) for p in page.common_prefixes)
    return xml_response(xml.document("ListMultipartUploadsResult", children))
