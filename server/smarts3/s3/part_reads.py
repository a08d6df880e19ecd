"""GET/HEAD with `partNumber`: which bytes a part read sends, and the headers that describe it.

S3 treats a part read as a ranged read of that part (206 with Content-Range). An object from a
single PUT has exactly one part, the whole body, and no parts count; a multipart object
(its ETag ends in -N) reports `x-amz-mp-parts-count`, even when it was built from one part.
"""

from __future__ import annotations

from smarts3.s3.errors import S3Error
from smarts3.s3.ranges import content_range
from smarts3.storage.base import ObjectInfo


def is_multipart(info: ObjectInfo) -> bool:
    return "-" in info.etag  # hex MD5 for a PUT or copy of one, "<hex>-N" once assembled from parts


def part_read(info: ObjectInfo, number: int, *, checksums: bool) -> tuple[int, int, dict[str, str]]:
    """(start, end, headers) for part `number` of `info`; `checksums`: x-amz-checksum-mode is ENABLED."""
    multipart = is_multipart(info)
    if not multipart and number > 1:
        raise S3Error("InvalidPart", fields={"PartNumber": str(number)})
    sizes = info.part_sizes if multipart else (info.size,)
    if number > len(sizes):
        raise S3Error(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            status=416,
            fields={"PartNumberRequested": str(number), "ActualPartCount": str(len(sizes))},
        )
    start = sum(sizes[: number - 1])
    end = start + sizes[number - 1]
    headers = {"content-range": content_range(start, end, info.size) if end > start else f"bytes */{info.size}"}
    if multipart:
        headers["x-amz-mp-parts-count"] = str(len(sizes))
    if checksums:
        # A checksum always describes exactly the bytes sent: the part's own, or the whole object's.
        if multipart:
            found = info.part_checksums[number - 1] if len(info.part_checksums) >= number else {}
        else:
            found = info.meta.checksums
        for alg, value in found.items():
            headers["x-amz-checksum-" + alg.lower()] = value
        if found and not multipart and info.meta.checksum_type:
            headers["x-amz-checksum-type"] = info.meta.checksum_type
    return start, end, headers
