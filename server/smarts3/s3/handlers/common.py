"""Small pieces shared by handlers of several families."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from smarts3.auth.chunked import BodyDecoder
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.storage.base import ObjectInfo


def ensure_still_readable(ctx: Ctx, bucket: str, key: str, info: ObjectInfo) -> None:
    """A read that only the object's own ACL allowed must serve a version whose ACL still does
    (an overwrite with a private ACL may land between authorization and the read)."""
    if not ctx.access.still_readable(bucket, key, info.meta.extra):
        raise S3Error("AccessDenied")


def owner(ctx: Ctx, owner_id: str | None = None) -> str:
    """<Owner> of what a request lists: the bucket owner's canonical id unless told (no
    DisplayName: S3 stopped sending it)."""
    bucket = ctx.access.bucket
    return xml.node("Owner", [xml.el("ID", owner_id or (bucket.owner if bucket else ctx.owner_id))])


def int_param(ctx: Ctx, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; S3 clamps the upper end silently."""
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise S3Error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            fields={"ArgumentName": name, "ArgumentValue": raw},
        ) from None
    if value < low:
        raise S3Error(
            "InvalidArgument",
            f"Argument {name} must be an integer between {low} and {high}",
            fields={"ArgumentName": name, "ArgumentValue": raw},
        )
    return min(value, high)


_TAG_BYTES = 8


def _tag(scope: str, key: bytes) -> bytes:
    # Tamper evidence, not secrecy: a forged token can only do what start-after does.
    return hashlib.blake2b(scope.encode() + b"\0" + key, digest_size=_TAG_BYTES).digest()


def encode_token(scope: str, key: str) -> str:
    """An opaque continuation token resuming after `key` within `scope` (a bucket, or "" for buckets)."""
    raw = key.encode("utf-8")
    return base64.urlsafe_b64encode(_tag(scope, raw) + raw).decode("ascii")


def decode_token(scope: str, token: str) -> str:
    """The key a continuation token resumes after; InvalidArgument for any other string."""
    try:
        sealed = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        tag, raw = sealed[:_TAG_BYTES], sealed[_TAG_BYTES:]
        if len(tag) == _TAG_BYTES and hmac.compare_digest(tag, _tag(scope, raw)):
            return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        pass
    raise S3Error(
        "InvalidArgument", "The continuation token provided is incorrect", fields={"ArgumentName": "continuation-token"}
    )


async def read_xml(ctx: Ctx) -> bytes:
    # Through the decoder, as object bodies: a signed payload digest or chunk chain is checked here too.
    return await xml.read_capped(aiter(BodyDecoder(ctx.raw_body(), ctx.auth)), ctx.limits.max_xml_bytes)


def tag_set_xml(root: str, tags: dict[str, str] | object) -> bytes:
    assert isinstance(tags, dict)
    items = [xml.node("Tag", [xml.el("Key", k), xml.el("Value", v)]) for k, v in tags.items()]
    return xml.document(root, [xml.node("TagSet", items)])


def parse_tag_set(data: bytes) -> list[tuple[str, str]]:
    root = xml.expect_root(xml.parse(data), "Tagging")
    tag_set = xml.child(root, "TagSet")
    if tag_set is None:
        raise S3Error("MalformedXML")
    pairs = []
    for tag in xml.children(tag_set, "Tag"):
        key = xml.child_text(tag, "Key")
        value = xml.child_text(tag, "Value")
        if key is None or value is None:
            raise S3Error("MalformedXML")
        pairs.append((key, value))
    return pairs
