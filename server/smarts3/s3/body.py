"""Object bodies in: decode, verify and stream into a store writer.

Signature, Content-MD5 and x-amz-checksum-* checks run while the body streams
and are decided before the caller commits, so a body that fails any of them is
never visible (the writer discards its temp file when the commit is skipped).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from smarts3 import checksums
from smarts3.auth.chunked import BodyDecoder
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.storage.base import BodyWriter

_BY_HEADER = {checksums.header_name(alg): alg for alg in checksums.ALGORITHMS}


@dataclass(frozen=True, slots=True)
class ChecksumPlan:
    """Which checksum the client declared, and its value when sent up front."""

    algorithm: str | None
    expected: str | None  # base64; None when it arrives in a trailer


def checksum_plan(headers: Mapping[str, str], trailer_names: tuple[str, ...] = ()) -> ChecksumPlan:
    sent = [name for name in headers if name in _BY_HEADER]
    trailed = [name for name in trailer_names if name in _BY_HEADER]
    if len(sent) + len(trailed) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header")
    declared = headers.get("x-amz-sdk-checksum-algorithm")
    if sent:
        alg = _BY_HEADER[sent[0]]
        value = headers[sent[0]]
        try:
            checksums.decode_checksum(alg, value)
        except ValueError:
            raise S3Error("InvalidRequest", f"Value for {sent[0]} header is invalid.") from None
        _same_algorithm(declared, alg)
        return ChecksumPlan(alg, value)
    if trailed:
        alg = _BY_HEADER[trailed[0]]
        _same_algorithm(declared, alg)
        return ChecksumPlan(alg, None)
    if declared:
        alg = declared.upper()
        if alg not in checksums.ALGORITHMS:
            raise S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
        return ChecksumPlan(alg, None)
    return ChecksumPlan(None, None)


def _same_algorithm(declared: str | None, alg: str) -> None:
    # AWS documents a value header that disagrees with x-amz-sdk-checksum-algorithm as BadDigest.
    if declared and declared.strip().upper() != alg:
        raise S3Error(
            "BadDigest",
            f"The {alg} checksum was sent, but x-amz-sdk-checksum-algorithm names {declared.strip().upper()}.",
        )


def content_md5(headers: Mapping[str, str]) -> bytes | None:
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidDigest") from None
    if len(digest) != 16:
        raise S3Error("InvalidDigest")
    return digest


def declared_size(ctx: Ctx, limit: int) -> int | None:
    """The body size the client announced, checked against `limit` up front."""
    raw = ctx.auth.decoded_length
    if raw is None and "content-length" not in ctx.headers and "transfer-encoding" not in ctx.headers:
        raise S3Error("MissingContentLength")  # no length and no chunked framing: AWS refuses, 411
    if raw is None and "content-length" in ctx.headers and not ctx.auth.payload.chunked:
        try:
            raw = int(ctx.headers["content-length"])
        except ValueError:
            raise S3Error("InvalidArgument", "Invalid Content-Length.") from None
    if raw is not None and raw > limit:
        raise S3Error(
            "EntityTooLarge",
            fields={"ProposedSize": str(raw), "MaxSizeAllowed": str(limit)},
        )
    return raw


async def receive_into(ctx: Ctx, writer: BodyWriter, limit: int, *, required: str | None = None) -> dict[str, str]:
    """Stream the request body into `writer`; returns the verified checksums.

    `required` names an algorithm whose checksum is computed even when the
    client sent none (a part of an upload that declared one). Raises before
    returning when any digest, signature or length check fails.
    """
    md5 = content_md5(ctx.headers)
    expected_size = declared_size(ctx, limit)
    plan = checksum_plan(ctx.headers, tuple(ctx.auth.trailer_names))
    if required and plan.algorithm is None:
        plan = ChecksumPlan(required, None)
    elif required and plan.algorithm != required:
        raise S3Error(
            "InvalidRequest",
            f"Checksum Type mismatch occurred, expected checksum Type: "
            f"{required.lower()}, actual checksum Type: {(plan.algorithm or '').lower()}",
        )
    hasher = checksums.new_hasher(plan.algorithm) if plan.algorithm else None
    decoder = BodyDecoder(ctx.raw_body(), ctx.auth)
    total = 0
    async for chunk in decoder:
        total += len(chunk)
        if total > limit:
            raise S3Error("EntityTooLarge", fields={"MaxSizeAllowed": str(limit)})
        if hasher is not None:
            hasher.update(chunk)
        await writer.write(chunk)
    await writer.flush()
    if expected_size is not None and total != expected_size:
        raise S3Error("IncompleteBody")
    if md5 is not None and md5 != writer.md5:
        raise S3Error(
            "BadDigest",
            fields={
                "ExpectedDigest": base64.b64encode(md5).decode(),
                "CalculatedDigest": base64.b64encode(writer.md5).decode(),
            },
        )
    if hasher is None or plan.algorithm is None:
        return {}
    computed = hasher.b64()
    expected = plan.expected
    if expected is None:
        name = checksums.header_name(plan.algorithm)
        expected = decoder.trailers.get(name)
        if expected is None and name in ctx.auth.trailer_names:
            raise S3Error("InvalidRequest", f"The {plan.algorithm} trailer is missing.")
    if expected is not None and expected != computed:
        raise S3Error("BadDigest", f"The {plan.algorithm} you specified did not match the calculated checksum.")
    return {plan.algorithm: computed}


def verify_required_digest(headers: Mapping[str, str], body: bytes) -> None:
    """For the XML requests where S3 demands Content-MD5 or an x-amz-checksum-* header
    (DeleteObjects, PutBucketCors): one must be present, and it must match."""
    md5 = content_md5(headers)
    plan = checksum_plan(headers)
    if md5 is None and plan.expected is None:
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5")
    if md5 is not None and md5 != hashlib.md5(body).digest():  # noqa: S324 - S3's digest
        raise S3Error("BadDigest")
    if plan.algorithm and plan.expected is not None:
        hasher = checksums.new_hasher(plan.algorithm)
        hasher.update(body)
        if hasher.b64() != plan.expected:
            raise S3Error("BadDigest", f"The {plan.algorithm} you specified did not match the calculated checksum.")
