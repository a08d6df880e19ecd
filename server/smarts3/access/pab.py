"""Public access block: the four flags, per bucket (in its `extra`) and server-wide (a setting).

The flags in force for a bucket are the server's OR the bucket's own: a bucket can add blocks,
never lift the server's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from functools import lru_cache

from smarts3.s3 import xml
from smarts3.s3.errors import S3Error

PAB_KEY = "public-access-block"  # where a bucket's own configuration lives in its `extra` (JSON)
_XML_NAMES = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True, slots=True)
class Block:
    block_public_acls: bool = False  # refuse requests that set a public ACL
    ignore_public_acls: bool = False  # public ACL grants allow nothing
    block_public_policy: bool = False  # refuse PutBucketPolicy with a public policy
    restrict_public_buckets: bool = False  # a public policy allows only the owner and granted credentials

    def __or__(self, other: Block) -> Block:
        if other == NONE:  # the common case, per request: no bucket configuration
            return self
        return Block(
            self.block_public_acls or other.block_public_acls,
            self.ignore_public_acls or other.ignore_public_acls,
            self.block_public_policy or other.block_public_policy,
            self.restrict_public_buckets or other.restrict_public_buckets,
        )


NONE = Block()
ALL = Block(True, True, True, True)


def from_setting(value: str) -> Block:
    """`all`, `none`, or a comma-separated list of flag names (XML or snake_case spelling)."""
    text = value.strip()
    if text.lower() in ("all", "true"):
        return ALL
    if text.lower() in ("", "none", "false"):
        return NONE
    wanted = {_flag(part) for part in text.split(",") if part.strip()}
    return Block(**{f.name: f.name in wanted for f in fields(Block)})


def _flag(name: str) -> str:
    cleaned = name.strip().replace("_", "").replace("-", "").lower()
    for f, xml_name in zip(fields(Block), _XML_NAMES, strict=True):
        if cleaned == xml_name.lower():
            return f.name
    raise ValueError(f"unknown public access block flag {name.strip()!r}; known: {', '.join(_XML_NAMES)}, all, none")


def stored(extra: Mapping[str, str]) -> Block | None:
    text = extra.get(PAB_KEY)
    return None if text is None else _loads(text)


@lru_cache(maxsize=1024)
def _loads(text: str) -> Block:
    try:
        return Block(**{k: bool(v) for k, v in json.loads(text).items()})
    except (ValueError, TypeError):
        return ALL  # unreadable: fail closed


def dumps(block: Block) -> str:
    return json.dumps({f.name: getattr(block, f.name) for f in fields(Block)})


def parse_xml(data: bytes) -> Block:
    """A PublicAccessBlockConfiguration document; an absent flag is false, as in S3."""
    root = xml.expect_root(xml.parse(data), "PublicAccessBlockConfiguration")
    values: dict[str, bool] = {}
    for child in root:
        name = xml.local(child.tag)
        if name not in _XML_NAMES or len(child):
            raise S3Error("MalformedXML")
        text = (child.text or "").strip().lower()
        if text not in ("true", "false"):
            raise S3Error("MalformedXML")
        values[name] = text == "true"
    return Block(*(values.get(name, False) for name in _XML_NAMES))


def to_xml(block: Block) -> bytes:
    flags = [xml.el(name, "true" if on else "false") for name, on in zip(_XML_NAMES, astuple(block), strict=True)]
    return xml.document("PublicAccessBlockConfiguration", flags)
