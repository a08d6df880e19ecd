"""Put/GetBucketLogging: where a bucket's server access log records are delivered.

The configuration is kept as JSON in the bucket's `extra`; accesslog_delivery.py reads it
and writes the records. The target must exist, be in the same region, and be writable by
the caller, else InvalidTargetBucketForLogging as S3 answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from xml.etree.ElementTree import Element

from starlette.responses import Response

from smarts3.access.actions import Action
from smarts3.s3 import xml
from smarts3.s3.body import verify_required_digest
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import NoSuchBucket

EXTRA_KEY = "logging"
DATE_SOURCES = ("EventTime", "DeliveryTime")


@dataclass(frozen=True, slots=True)
class LoggingTarget:
    bucket: str
    prefix: str
    partitioned: bool = False
    date_source: str = "EventTime"  # PartitionedPrefix only


def stored_target(extra: Mapping[str, str]) -> LoggingTarget | None:
    text = extra.get(EXTRA_KEY)
    if text is None:
        return None
    try:
        return LoggingTarget(**json.loads(text))
    except (TypeError, ValueError):
        return None


def _invalid_target(message: str) -> S3Error:
    return S3Error("InvalidTargetBucketForLogging", message)


def _leaf(parent: Element, name: str) -> str | None:
    found = xml.children(parent, name)
    if len(found) > 1 or (found and len(found[0])):
        raise S3Error("MalformedXML")
    return (found[0].text or "") if found else None


def _key_format(element: Element | None) -> tuple[bool, str]:
    if element is None:
        return False, "EventTime"
    kinds = list(element)
    if len(kinds) != 1:
        raise S3Error("MalformedXML")
    (kind,) = kinds
    name = xml.local(kind.tag)
    if name == "SimplePrefix" and not len(kind):
        return False, "EventTime"
    if name != "PartitionedPrefix":
        raise S3Error("MalformedXML")
    source = _leaf(kind, "PartitionDateSource") or "EventTime"
    if source not in DATE_SOURCES:
        raise S3Error("MalformedXML")
    return True, source


def parse_status(data: bytes) -> LoggingTarget | None:
    root = xml.expect_root(xml.parse(data), "BucketLoggingStatus")
    enabled = xml.children(root, "LoggingEnabled")
    if any(xml.local(c.tag) != "LoggingEnabled" for c in root) or len(enabled) > 1:
        raise S3Error("MalformedXML")
    if not enabled:
        return None  # an empty BucketLoggingStatus switches logging off
    (element,) = enabled
    allowed = {"TargetBucket", "TargetPrefix", "TargetGrants", "TargetObjectKeyFormat"}
    if any(xml.local(c.tag) not in allowed for c in element):
        raise S3Error("MalformedXML")
    bucket, prefix = _leaf(element, "TargetBucket"), _leaf(element, "TargetPrefix")
    if not bucket or prefix is None:
        raise S3Error("MalformedXML")
    if len(xml.children(element, "TargetObjectKeyFormat")) > 1:
        raise S3Error("MalformedXML")
    partitioned, source = _key_format(xml.child(element, "TargetObjectKeyFormat"))
    return LoggingTarget(bucket, prefix, partitioned, source)


async def put_bucket_logging(ctx: Ctx) -> Response:
    body = await read_xml(ctx)
    verify_required_digest(ctx.headers, body)
    target = parse_status(body)
    source = await ctx.store.get_bucket(ctx.bucket_name)
    if target is None:
        await ctx.store.update_bucket_extra(source.name, {EXTRA_KEY: None})
        return empty(200)
    try:
        destination = await ctx.store.get_bucket(target.bucket)
    except NoSuchBucket:
        raise _invalid_target("The target bucket for logging does not exist") from None
    if destination.region != source.region:
        raise _invalid_target("Cross S3 location logging not allowed.")
    if ctx.principal is None or not ctx.principal.may(Action.WRITE, destination.name):
        raise _invalid_target(
            "You must give the log-delivery group WRITE and READ_ACP permissions to the target bucket"
        )
    await ctx.store.update_bucket_extra(source.name, {EXTRA_KEY: json.dumps(asdict(target))})
    return empty(200)


async def get_bucket_logging(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    target = stored_target(info.extra)
    if target is None:
        return xml_response(xml.document("BucketLoggingStatus", []))
    if target.partitioned:
        key_format = xml.node("PartitionedPrefix", [xml.el("PartitionDateSource", target.date_source)])
    else:
        key_format = "<SimplePrefix></SimplePrefix>"
    enabled = xml.node("LoggingEnabled", [
        xml.el("TargetBucket", target.bucket),
        xml.el("TargetPrefix", target.prefix),
        xml.node("TargetObjectKeyFormat", [key_format]),
    ])
    return xml_response(xml.document("BucketLoggingStatus", [enabled]))
