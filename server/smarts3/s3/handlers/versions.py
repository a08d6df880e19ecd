"""Versioning: Get/PutBucketVersioning, ListObjectVersions, and the versionId parameter and
x-amz-version-id header every object operation shares."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from starlette.responses import Response

from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error, not_implemented
from smarts3.s3.handlers.common import int_param, read_xml
from smarts3.s3.handlers.listing import _encoder, entry_owner, owners_differ
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import NoSuchVersion, ObjectInfo, VersionEntry

# What storage hands out (storage/fs/versioning.py): "null", or 32 hex digits. Anything else
# cannot name a version, which S3 answers 400 InvalidArgument rather than 404 NoSuchVersion.
_VERSION_ID = re.compile(r"^(null|[0-9a-f]{32})$")


def invalid_version(value: str, argument: str = "versionId") -> S3Error:
    return S3Error(
        "InvalidArgument",
        "Invalid version id specified",
        fields={"ArgumentName": argument, "ArgumentValue": value},
    )


def checked_version(value: str | None, argument: str = "versionId") -> str | None:
    if value is not None and not _VERSION_ID.match(value):
        raise invalid_version(value, argument)
    return value


def version_param(ctx: Ctx) -> str | None:
    """The request's versionId (None: the current version)."""
    return checked_version(ctx.query.get("versionId"))


def version_header(info: ObjectInfo) -> dict[str, str]:
    """x-amz-version-id for a version of a bucket that has (had) versioning; nothing otherwise."""
    return {} if info.version_id is None else {"x-amz-version-id": info.version_id}


async def get_bucket_versioning(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    # A bucket that never had versioning answers an empty configuration, as S3 does.
    children = [xml.el("Status", info.versioning)] if info.versioning else []
    return xml_response(xml.document("VersioningConfiguration", children))


async def put_bucket_versioning(ctx: Ctx) -> Response:
    root = xml.expect_root(xml.parse(await read_xml(ctx)), "VersioningConfiguration")
    status = xml.child_text(root, "Status")
    mfa = xml.child_text(root, "MfaDelete")
    if mfa == "Enabled" or "x-amz-mfa" in ctx.headers:
        raise not_implemented("MFA delete")
    if mfa not in (None, "Disabled") or status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML")
    # "object-lock": objectlock.LOCK_ENABLED (that module builds on this one).
    if status != "Enabled" and (await ctx.store.get_bucket(ctx.bucket_name)).extra.get("object-lock") == "Enabled":
        raise S3Error(
            "InvalidBucketState",
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
        )
    await ctx.store.set_bucket_versioning(ctx.bucket_name, status)
    return empty(200)


def _version_xml(e: VersionEntry, enc: Callable[[str], str], who: str) -> str:
    # One f-string per entry, as listing._contents: a page holds 1,000 of them.
    head = (
        # Version ids are "null" or hex (storage makes them): nothing to escape.
        f"<Key>{xml.text(enc(e.key))}</Key><VersionId>{e.version_id}</VersionId>"
        f"<IsLatest>{'true' if e.is_latest else 'false'}</IsLatest>"
        f"<LastModified>{xml.iso8601(e.last_modified)}</LastModified>"
    )
    if e.marker:
        return f"<DeleteMarker>{head}{who}</DeleteMarker>"
    algos = ""
    if e.checksum_algorithms:
        algos = "".join(f"<ChecksumAlgorithm>{xml.text(a)}</ChecksumAlgorithm>" for a in e.checksum_algorithms)
    if e.checksum_type:
        algos += f"<ChecksumType>{xml.text(e.checksum_type)}</ChecksumType>"
    return (
        f"<Version>{head}<ETag>{xml.etag_text(e.etag)}</ETag><Size>{e.size:d}</Size>"
        f"<StorageClass>STANDARD</StorageClass>{who}{algos}</Version>"
    )


async def list_object_versions(ctx: Ctx) -> Response:
    enc = _encoder(ctx)
    q: Mapping[str, str] = ctx.query
    max_keys = int_param(ctx, "max-keys", 1000, 0, 1000)
    key_marker = q.get("key-marker", "")
    version_marker = checked_version(q.get("version-id-marker") or None, "version-id-marker") or ""
    if version_marker and not key_marker:
        raise S3Error(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            fields={"ArgumentName": "version-id-marker", "ArgumentValue": version_marker},
        )
    if max_keys == 0:
        await ctx.store.get_bucket(ctx.bucket_name)
    try:
        page = await ctx.store.list_object_versions(
            ctx.bucket_name,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            key_marker=key_marker,
            version_id_marker=version_marker,
            max_keys=max_keys,
            with_extra=owners_differ(ctx),
        )
    except NoSuchVersion:
        raise invalid_version(version_marker, "version-id-marker") from None
    children = [
        xml.el("Name", ctx.bucket_name),
        xml.el("Prefix", enc(q.get("prefix", ""))),
        xml.el("KeyMarker", enc(key_marker)),
        xml.el("VersionIdMarker", version_marker),
        xml.el("MaxKeys", max_keys),
    ]
    if q.get("delimiter"):
        children.append(xml.el("Delimiter", enc(q["delimiter"])))
    children.append(xml.el("IsTruncated", "true" if page.is_truncated else "false"))
    if page.is_truncated and page.next_key_marker is not None:
        children.append(xml.el("NextKeyMarker", enc(page.next_key_marker)))
        if page.next_version_id_marker is not None:
            children.append(xml.el("NextVersionIdMarker", page.next_version_id_marker))
    if "encoding-type" in q:
        children.append(xml.el("EncodingType", "url"))
    who = entry_owner(ctx)  # each version's own owner
    children.extend(_version_xml(e, enc, who(e)) for e in page.entries)
    children.extend(
        xml.node("CommonPrefixes", [xml.el("Prefix", enc(p))]) for p in page.common_prefixes
    )
    return xml_response(xml.document("ListVersionsResult", children))
