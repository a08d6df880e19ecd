"""Flexible checksums of multipart uploads: what parts must carry and what the object gets.

An upload declares one algorithm and a type. COMPOSITE: the object's checksum is the hash of
the part checksums the client listed ("-N"), so every part must carry one. FULL_OBJECT (CRCs
only): the parts' CRCs combine into the CRC of the whole body.
"""

from __future__ import annotations

from smarts3 import checksums
from smarts3.s3.body import checksum_plan
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.storage.base import PartInfo, UploadInfo


def upload_algorithm(upload: UploadInfo) -> str | None:
    return next(iter(upload.meta.checksums), None)


def require_part_checksum(ctx: Ctx, upload: UploadInfo) -> None:
    """A COMPOSITE upload is built from the part checksums the client vouches for, so S3 refuses a
    part that carries none; for FULL_OBJECT it computes the part's CRC itself."""
    algorithm = upload_algorithm(upload)
    if algorithm is None or upload.meta.checksum_type != "COMPOSITE":
        return
    if checksum_plan(ctx.headers, tuple(ctx.auth.trailer_names)).algorithm is None:
        raise S3Error(
            "InvalidRequest",
            f"Checksum Type mismatch occurred, expected checksum Type: {algorithm.lower()}, actual checksum Type: null",
        )


def check_checksum_type(ctx: Ctx, upload: UploadInfo) -> None:
    # An upload that declared no algorithm has no mode to contradict (the header is then ignored).
    sent = ctx.headers.get("x-amz-checksum-type", "").strip().upper()
    declared = upload.meta.checksum_type if upload_algorithm(upload) else None
    if sent and declared and sent != declared:
        raise S3Error(
            "InvalidRequest",
            f"The upload was created using the {declared} checksum mode. "
            "The complete request must use the same checksum mode.",
        )


def check_part_checksums(upload: UploadInfo, part: PartInfo, sums: dict[str, str], fields: dict[str, str]) -> None:
    """Each listed part's checksums must be the stored ones; COMPOSITE uploads must list them.

    A composite checksum is built from the part checksums the client vouches for, so S3
    refuses a part without one; a full-object CRC is verified on the whole, so there it is optional.
    """
    algorithm = upload_algorithm(upload)
    if algorithm and upload.meta.checksum_type == "COMPOSITE" and algorithm not in sums:
        raise S3Error(
            "InvalidPart",
            f"The upload was created using a {algorithm.lower()} checksum. The complete request must include "
            f"the checksum for each part. It was missing for part {part.part_number} in the request.",
            fields=fields,
        )
    for alg, value in sums.items():
        if part.checksums.get(alg) != value.strip():
            raise S3Error(
                "InvalidPart",
                f"The {alg} checksum of part {part.part_number} does not match the uploaded part.",
                fields=fields,
            )


def final_checksums(ctx: Ctx, upload: UploadInfo, parts: list[PartInfo]) -> dict[str, str]:
    algorithm = upload_algorithm(upload)
    if algorithm is None:
        return {}
    values = [p.checksums.get(algorithm) for p in parts]
    if any(v is None for v in values):
        raise S3Error("InvalidPart", f"A part is missing its {algorithm} checksum.")
    present = [v for v in values if v is not None]
    if upload.meta.checksum_type == "FULL_OBJECT":
        value = checksums.full_object_crc(algorithm, list(zip(present, [p.size for p in parts], strict=True)))
    else:
        value = checksums.composite_checksum(algorithm, present)
    sent = ctx.headers.get(checksums.header_name(algorithm))
    if sent is not None and sent != value:
        raise S3Error("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    return {algorithm: value}
