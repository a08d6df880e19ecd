"""Bucket CORS: Put/Get/DeleteBucketCors, the preflight OPTIONS, and the headers of actual requests.

A bucket's own configuration is kept as JSON in its `extra` slot. The rules
in force for a bucket are its own configuration if it has one, else the rules
the declared file gives it, else the global policy from the settings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from xml.etree.ElementTree import Element

from starlette.responses import Response

from smarts3 import cors
from smarts3.config.declared import CorsRule
from smarts3.s3 import xml
from smarts3.s3.body import verify_required_digest
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import NoSuchBucket, StorageError, Store

log = logging.getLogger("smarts3.s3")

CORS_KEY = "cors"  # where a bucket's own configuration lives in its `extra`

_NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
_NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)  # sic: "evalution" is S3's spelling
_RULE_ELEMENTS = frozenset({"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds"})
_DIGITS = re.compile(r"[0-9]+")
_MAX_AGE = 2**31 - 1
_MAX_ID = 255


# --- the configuration document ---------------------------------------------------------------


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _value(element: Element) -> str:
    if len(element):
        raise S3Error("MalformedXML")
    return element.text or ""


def _single(values: list[str]) -> str | None:
    if len(values) > 1:
        raise S3Error("MalformedXML")
    return values[0] if values else None


def _parse_rule(element: Element) -> cors.Rule:
    if not _blank(element.text):
        raise S3Error("MalformedXML")
    fields: dict[str, list[str]] = {name: [] for name in _RULE_ELEMENTS}
    for child in element:
        name = xml.local(child.tag)
        if name not in _RULE_ELEMENTS or not _blank(child.tail):
            raise S3Error("MalformedXML")
        fields[name].append(_value(child))
    if not fields["AllowedOrigin"] or not fields["AllowedMethod"]:
        raise S3Error("MalformedXML")
    max_age = _single(fields["MaxAgeSeconds"])
    if max_age is not None and (not _DIGITS.fullmatch(max_age) or int(max_age) > _MAX_AGE):
        raise S3Error("MalformedXML")
    rule_id = _single(fields["ID"])
    if rule_id is not None and len(rule_id) > _MAX_ID:
        raise S3Error("MalformedXML")
    return cors.Rule(
        allowed_origins=tuple(fields["AllowedOrigin"]),
        allowed_methods=tuple(fields["AllowedMethod"]),
        allowed_headers=tuple(fields["AllowedHeader"]),
        expose_headers=tuple(fields["ExposeHeader"]),
        max_age_seconds=None if max_age is None else int(max_age),
        id=rule_id,
    )


def parse_configuration(data: bytes) -> cors.Rules:
    """A CORSConfiguration document as rules: MalformedXML for its shape, then InvalidRequest per rule."""
    root = xml.expect_root(xml.parse(data), "CORSConfiguration")
    if not _blank(root.text):
        raise S3Error("MalformedXML")
    rules = []
    for child in root:
        if xml.local(child.tag) != "CORSRule" or not _blank(child.tail):
            raise S3Error("MalformedXML")
        rules.append(_parse_rule(child))
    if not 1 <= len(rules) <= cors.MAX_RULES:
        raise S3Error("MalformedXML")
    for rule in rules:
        problem = cors.rule_problem(rule)
        if problem:
            raise S3Error("InvalidRequest", problem)
    return tuple(rules)


def render_configuration(rules: cors.Rules) -> bytes:
    """GetBucketCors' document, elements in the order S3 writes them."""
    items = []
    for rule in rules:
        children = [] if rule.id is None else [xml.el("ID", rule.id)]
        children += [xml.el("AllowedMethod", m) for m in rule.allowed_methods]
        children += [xml.el("AllowedOrigin", o) for o in rule.allowed_origins]
        children += [xml.el("AllowedHeader", h) for h in rule.allowed_headers]
        if rule.max_age_seconds is not None:
            children.append(xml.el("MaxAgeSeconds", rule.max_age_seconds))
        children += [xml.el("ExposeHeader", h) for h in rule.expose_headers]
        items.append(xml.node("CORSRule", children))
    return xml.document("CORSConfiguration", items)


def stored_rules(extra: Mapping[str, str]) -> cors.Rules | None:
    """A bucket's own configuration, or None when it has none (or it cannot be read)."""
    text = extra.get(CORS_KEY)
    if text is None:
        return None
    try:
        return cors.loads(text)
    except ValueError:
        log.warning("ignoring an unreadable stored CORS configuration")
        return None


# --- handlers ---------------------------------------------------------------------------------


async def put_bucket_cors(ctx: Ctx) -> Response:
    body = await read_xml(ctx)
    verify_required_digest(ctx.headers, body)
    rules = parse_configuration(body)
    await ctx.store.update_bucket_extra(ctx.bucket_name, {CORS_KEY: cors.dumps(rules)})
    return empty(200)


async def get_bucket_cors(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    rules = stored_rules(info.extra)
    if rules is None:
        raise S3Error("NoSuchCORSConfiguration", fields={"BucketName": info.name})
    return xml_response(render_configuration(rules))


async def delete_bucket_cors(ctx: Ctx) -> Response:
    await ctx.store.update_bucket_extra(ctx.bucket_name, {CORS_KEY: None})
    return empty(204)


# --- evaluation for requests ------------------------------------------------------------------


class CorsPolicy:
    """The rules in force per bucket, and what they mean for a preflight or an actual request."""

    def __init__(
        self,
        store: Store,
        declared: Callable[[str], cors.Rules] | None = None,
        default: list[CorsRule] | None = None,
    ) -> None:
        self.store = store
        self.declared = declared
        self.default = cors.from_declared(default or ())

    async def rules_for(self, bucket: str) -> cors.Rules | None:
        """Own configuration, else declared rules, else the global policy; None when there are none."""
        info = await self.store.get_bucket(bucket)  # the one store read; NoSuchBucket propagates
        own = stored_rules(info.extra)
        if own is not None:
            return own
        declared = self.declared(bucket) if self.declared else ()
        return declared or self.default or None

    async def preflight(self, bucket: str, key: str | None, headers: Mapping[str, str]) -> Response:
        """OPTIONS: unsigned; 200 with the matching rule's headers, or S3's 400/403."""
        origin = headers.get("origin")
        if not origin:
            raise S3Error("BadRequest", "Insufficient information. Origin request header needed.", status=400)
        method = headers.get("access-control-request-method")
        if method not in cors.METHODS:
            shown = "null" if method is None else method
            raise S3Error("BadRequest", f"Invalid Access-Control-Request-Method: {shown}", status=400)
        where = {"Method": method, "ResourceType": "BUCKET" if key is None else "OBJECT"}
        try:
            rules = await self.rules_for(bucket)
        except NoSuchBucket:
            raise S3Error("AccessForbidden", "CORSResponse: Bucket not found", status=403, fields=where) from None
        if rules is None:
            raise S3Error("AccessForbidden", _NOT_ENABLED, status=403, fields=where)
        requested = cors.parse_request_headers(headers.get("access-control-request-headers"))
        rule = cors.match(rules, origin, method, requested)
        if rule is None:
            raise S3Error("AccessForbidden", _NOT_ALLOWED, status=403, fields=where)
        response = empty(200)
        response.raw_headers += _raw(cors.response_headers(rule, origin, requested))
        return response

    async def actual_headers(
        self, bucket: str | None, method: str, headers: Mapping[str, str]
    ) -> list[tuple[bytes, bytes]]:
        """CORS headers for a non-preflight request; empty unless it has an Origin and a rule matches."""
        origin = headers.get("origin")
        if not origin or not bucket:
            return []
        try:
            rules = await self.rules_for(bucket)
        except StorageError:  # no bucket: the handler answers that, without CORS headers
            return []
        rule = cors.match(rules or (), origin, method)
        if rule is None:
            return []
        return _raw(cors.response_headers(rule, origin))


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    # Configured values are free text; a character HTTP cannot carry must not fail the response.
    return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers]
