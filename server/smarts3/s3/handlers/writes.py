"""Request headers shared by every operation that creates an object."""

from __future__ import annotations

from collections.abc import Mapping

from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error, not_implemented
from smarts3.s3.headers import parse_tag_header, stored_headers, user_metadata
from smarts3.storage.base import ObjectMeta, WriteCondition

STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
    }
)


def refuse_unsupported(headers: Mapping[str, str]) -> None:
    """Headers that ask for features smarts3 does not have must not be ignored."""
    if "x-amz-website-redirect-location" in headers:
        raise not_implemented("Website redirects")


def storage_class(headers: Mapping[str, str]) -> dict[str, str]:
    value = headers.get("x-amz-storage-class")
    if value is None or value == "STANDARD":
        return {}
    if value not in STORAGE_CLASSES:
        raise S3Error(
            "InvalidStorageClass",
            "The storage class you specified is not valid",
            fields={"StorageClassRequested": value},
        )
    return {"storage-class": value}


def new_meta(ctx: Ctx, checksums: Mapping[str, str] | None = None) -> ObjectMeta:
    """Metadata for a new object from the request headers."""
    tags = parse_tag_header(ctx.headers["x-amz-tagging"]) if "x-amz-tagging" in ctx.headers else {}
    return ObjectMeta(
        headers=stored_headers(ctx.headers),
        user=user_metadata(ctx.headers),
        tags=tags,
        checksums=dict(checksums or {}),
        checksum_type="FULL_OBJECT" if checksums else None,
        extra=object_extra(ctx.headers, ctx.access.object_extra),
    )


def object_extra(headers: Mapping[str, str], acl: Mapping[str, str]) -> dict[str, str]:
    """Storage class, and the owner and ACL authorization settled (Decision.object_extra): kept
    with the object, interpreted above storage."""
    return {**storage_class(headers), **acl}


def write_condition(headers: Mapping[str, str]) -> WriteCondition | None:
    none_match = headers.get("if-none-match")
    match = headers.get("if-match")
    if none_match is None and match is None:
        return None
    # Decided against the current version inside the commit (storage check_condition):
    # If-Match: * needs the key to exist (else 404 NoSuchKey, as for an ETag), If-None-Match
    # with an ETag refuses (412) only when the current object has that ETag.
    star = none_match is not None and none_match.strip() == "*"
    return WriteCondition(
        if_none_match_star=star,
        if_match=None if match is None else ("*" if match.strip() == "*" else _quoted(match)),
        if_none_match=None if none_match is None or star else _quoted(none_match),
    )


def _quoted(value: str) -> str:
    return '"' + value.strip().removeprefix("W/").strip('"') + '"'


def result_headers(etag: str, checksums: Mapping[str, str], checksum_type: str | None) -> dict[str, str]:
    out = {"etag": etag}
    for alg, value in checksums.items():
        out["x-amz-checksum-" + alg.lower()] = value
    if checksums and checksum_type:
        out["x-amz-checksum-type"] = checksum_type
    return out


def check_part_number(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise S3Error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            fields={"ArgumentName": "partNumber", "ArgumentValue": raw or ""},
        )
    return int(raw)
