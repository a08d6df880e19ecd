"""GetObjectAttributes: HeadObject and ListParts of a completed object in one XML answer."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from smarts3.s3 import sse, xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import ensure_still_readable
from smarts3.s3.headers import check_read_preconditions, not_modified_headers
from smarts3.s3.part_reads import is_multipart
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import ObjectInfo

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def requested_attributes(headers: Mapping[str, str]) -> set[str]:
    names = {name.strip() for name in headers.get("x-amz-object-attributes", "").split(",") if name.strip()}
    if not names:
        raise S3Error(
            "InvalidRequest",
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        )
    unknown = sorted(names - set(ATTRIBUTES))
    if unknown:
        raise S3Error(
            "InvalidArgument",
            "Invalid attribute name specified.",
            fields={"ArgumentName": "x-amz-object-attributes", "ArgumentValue": unknown[0]},
        )
    return names


def _header_int(headers: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = headers.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise S3Error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            fields={"ArgumentName": name, "ArgumentValue": raw},
        )
    return min(int(raw), high)


async def _object_info(ctx: Ctx) -> ObjectInfo:
    """The object the request is about: the one place that resolves `versionId`."""
    version = ctx.query.get("versionId")
    if version is not None and version != "null":
        raise S3Error(
            "InvalidArgument",
            "Invalid version id specified",
            fields={"ArgumentName": "versionId", "ArgumentValue": version},
        )
    return await ctx.store.head_object(ctx.bucket_name, ctx.key_name)


def _checksum_xml(info: ObjectInfo) -> list[str]:
    if not info.meta.checksums:
        return []
    fields = [xml.el("Checksum" + alg, value) for alg, value in info.meta.checksums.items()]
    if info.meta.checksum_type:
        fields.append(xml.el("ChecksumType", info.meta.checksum_type))
    return [xml.node("Checksum", fields)]


def _parts_xml(info: ObjectInfo, marker: int, max_parts: int) -> list[str]:
    """ObjectParts of a multipart object; S3 lists the parts only when they carry checksums."""
    if not is_multipart(info):
        return []  # a single PUT has no parts to describe
    count = len(info.part_sizes)
    fields = [xml.el("PartsCount", count)]
    if info.part_checksums and any(info.part_checksums):
        numbers = list(range(marker + 1, count + 1))
        page, truncated = numbers[:max_parts], len(numbers) > max_parts
        fields += [
            xml.el("PartNumberMarker", marker),
            xml.el("NextPartNumberMarker", page[-1] if page else marker),
            xml.el("MaxParts", max_parts),
            xml.el("IsTruncated", "true" if truncated else "false"),
        ]
        for number in page:
            part = [xml.el("PartNumber", number), xml.el("Size", info.part_sizes[number - 1])]
            part += [xml.el("Checksum" + alg, v) for alg, v in info.part_checksums[number - 1].items()]
            fields.append(xml.node("Part", part))
    return [xml.node("ObjectParts", fields)]


async def get_object_attributes(ctx: Ctx) -> Response:
    wanted = requested_attributes(ctx.headers)
    max_parts = _header_int(ctx.headers, "x-amz-max-parts", MAX_PARTS, MAX_PARTS)
    marker = _header_int(ctx.headers, "x-amz-part-number-marker", 0, 10000)
    info = await _object_info(ctx)
    ensure_still_readable(ctx, ctx.bucket_name, ctx.key_name, info)
    sse.check_read(ctx, info)  # SSE-C: the key, as for HEAD
    status = check_read_preconditions(ctx.headers, info)
    if status == 304:
        return empty(304, not_modified_headers(info))
    if status == 412:
        raise S3Error("PreconditionFailed", fields={"Condition": "If-Match"})
    children: list[str] = []
    if "ETag" in wanted:
        children.append(xml.el("ETag", info.etag.strip('"')))  # unquoted here, unlike everywhere else
    if "Checksum" in wanted:
        children += _checksum_xml(info)
    if "ObjectParts" in wanted:
        children += _parts_xml(info, marker, max_parts)
    if "StorageClass" in wanted:
        children.append(xml.el("StorageClass", info.meta.extra.get("storage-class", "STANDARD")))
    if "ObjectSize" in wanted:
        children.append(xml.el("ObjectSize", info.size))
    headers = {"last-modified": xml.http_date(info.last_modified)}
    return xml_response(xml.document("GetObjectAttributesResponse", children), headers=headers)
