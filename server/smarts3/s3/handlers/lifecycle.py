"""Put/Get/DeleteBucketLifecycleConfiguration, and the x-amz-expiration header of objects a
rule expires. The configuration is kept as JSON in the bucket's `extra`; the sweeper
(lifecycle/execute.py) carries the rules out."""

from __future__ import annotations

import time
from functools import lru_cache

from starlette.responses import Response

from smarts3.lifecycle import rules as lc
from smarts3.s3 import xml
from smarts3.s3.body import verify_required_digest
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.lifecycle_xml import parse_configuration, render_configuration
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import ObjectInfo

# S3 answers with the default it applies to transitions; ours are no-ops, the header is for clients.
_MINIMUM_SIZE = {"x-amz-transition-default-minimum-object-size": "all_storage_classes_128K"}


async def put_bucket_lifecycle_configuration(ctx: Ctx) -> Response:
    body = await read_xml(ctx)
    verify_required_digest(ctx.headers, body)
    rules = parse_configuration(body)
    await ctx.store.update_bucket_extra(ctx.bucket_name, {lc.EXTRA_KEY: lc.dumps(rules)})
    _in_force.pop(ctx.bucket_name, None)
    return empty(200, _MINIMUM_SIZE)


async def get_bucket_lifecycle_configuration(ctx: Ctx) -> Response:
    info = await ctx.store.get_bucket(ctx.bucket_name)
    rules = _cached(info.extra.get(lc.EXTRA_KEY))
    if rules is None:
        raise S3Error(
            "NoSuchLifecycleConfiguration",
            "The lifecycle configuration does not exist",
            status=404,
            fields={"BucketName": info.name},
        )
    return xml_response(render_configuration(rules), headers=_MINIMUM_SIZE)


async def delete_bucket_lifecycle(ctx: Ctx) -> Response:
    await ctx.store.update_bucket_extra(ctx.bucket_name, {lc.EXTRA_KEY: None})
    _in_force.pop(ctx.bucket_name, None)
    return empty(204)


@lru_cache(maxsize=256)
def _cached(text: str | None) -> lc.Rules | None:
    # Parsed once per distinct stored configuration: GET/HEAD/PUT of objects ask on every request.
    if text is None:
        return None
    try:
        return lc.loads(text)
    except ValueError:
        return None


# Bucket → (read at, rules): the header is asked for on every GET/HEAD/PUT, and a bucket read
# costs tens of microseconds. This worker forgets an entry when it changes the configuration;
# other workers follow within _TTL seconds.
_in_force: dict[str, tuple[float, lc.Rules | None]] = {}
_TTL = 1.0
_MAX_CACHED = 10_000


async def _rules_of(ctx: Ctx, bucket: str) -> lc.Rules | None:
    now = time.monotonic()
    cached = _in_force.get(bucket)
    if cached is not None and now - cached[0] < _TTL:
        return cached[1]
    info = await ctx.store.get_bucket(bucket)
    rules = _cached(info.extra.get(lc.EXTRA_KEY))
    if len(_in_force) >= _MAX_CACHED:
        _in_force.clear()
    _in_force[bucket] = (now, rules)
    return rules


async def expiration_header(ctx: Ctx, info: ObjectInfo) -> dict[str, str]:
    """x-amz-expiration for the current version of an object an Expiration rule applies to."""
    if ctx.query.get("versionId") is not None:
        return {}
    rules = await _rules_of(ctx, info.bucket)
    if not rules:
        return {}
    found = lc.current_expiry(rules, info.key, info.size, info.meta.tags, info.last_modified, lc.day_seconds())
    if found is None:
        return {}
    at, rule_id = found
    return {"x-amz-expiration": f'expiry-date="{xml.http_date(at)}", rule-id="{_quoted(rule_id)}"'}


def _quoted(value: str) -> str:
    # A header carries latin-1 without control characters; a rule id is free text.
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in value)
