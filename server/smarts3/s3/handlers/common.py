"""Small pieces shared by handlers of several families."""

from __future__ import annotations

import base64
import binascii

from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error


def owner(ctx: Ctx) -> str:
    return xml.node("Owner", [xml.el("ID", ctx.owner_id), xml.el("DisplayName", "smarts3")])


def int_param(ctx: Ctx, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; S3 clamps the upper end silently."""
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      fields={"ArgumentName": name, "ArgumentValue": raw}) from None
    if value < low:
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between {low} and "
                      f"{high}", fields={"ArgumentName": name, "ArgumentValue": raw})
    return min(value, high)


def encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")


def decode_token(token: str, name: str = "continuation-token") -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      fields={"ArgumentName": name}) from None


async def read_xml(ctx: Ctx) -> bytes:
    return await xml.read_capped(ctx.raw_body(), ctx.limits.max_xml_bytes)


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
