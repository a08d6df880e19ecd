"""Object Lock: the bucket's configuration and default retention, per-version retention and
legal hold, the lock headers of PUT/COPY/CreateMultipartUpload, and the rule that refuses
to remove a locked version.

Storage keeps the lock state without interpreting it: the bucket's in BucketInfo.extra, a
version's in ObjectMeta.extra (so each version has its own, and a copy or a new version
starts without one). The refusal is decided inside the delete's transaction (the `keep`
callback of Store.delete_versions), on the version as it is then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from starlette.responses import Response

from smarts3.access.actions import Action
from smarts3.s3 import xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import read_xml
from smarts3.s3.handlers.versions import version_header, version_param
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import BucketInfo, ObjectInfo

# BucketInfo.extra
LOCK_ENABLED = "object-lock"  # "Enabled"
LOCK_DEFAULT = "object-lock-default"  # "<MODE> <n> <Days|Years>"
# ObjectMeta.extra (per version)
MODE = "lock-mode"  # GOVERNANCE or COMPLIANCE
UNTIL = "lock-until"  # ISO 8601 UTC, as S3 returns it
HOLD = "legal-hold"  # "ON" or "OFF" (absent: never set)

MODES = ("GOVERNANCE", "COMPLIANCE")
_DAY = 86400.0


def _missing_configuration() -> S3Error:
    return S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")


def lock_enabled(bucket: BucketInfo) -> bool:
    return bucket.extra.get(LOCK_ENABLED) == "Enabled"


def _parse_date(value: str, argument: str) -> float:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise S3Error(
            "InvalidArgument", f"The {argument} is not a valid date.", fields={"ArgumentName": argument}
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _retention(mode: str, until: float) -> dict[str, str | None]:
    if mode not in MODES:
        raise S3Error(
            "InvalidArgument", "Unknown wormMode directive.", fields={"ArgumentName": "x-amz-object-lock-mode"}
        )
    if until <= time.time():
        raise S3Error("InvalidArgument", "The retain until date must be in the future!")
    return {MODE: mode, UNTIL: xml.iso8601(until)}


async def lock_extra(ctx: Ctx) -> dict[str, str | None]:
    """Lock state for a version being written (PUT, COPY, CreateMultipartUpload): the
    x-amz-object-lock-* headers, else the bucket's default retention."""
    headers = ctx.headers
    mode = headers.get("x-amz-object-lock-mode")
    date = headers.get("x-amz-object-lock-retain-until-date")
    hold = headers.get("x-amz-object-lock-legal-hold")
    asked = mode is not None or date is not None or hold is not None
    bucket = await ctx.bucket_info()
    if not lock_enabled(bucket):
        if asked:
            raise _missing_configuration()
        return {}
    out: dict[str, str | None] = {}
    if (mode is None) != (date is None):
        raise S3Error(
            "InvalidArgument",
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )
    if mode is not None and date is not None:
        out.update(_retention(mode, _parse_date(date, "x-amz-object-lock-retain-until-date")))
    elif LOCK_DEFAULT in bucket.extra:
        default_mode, amount, unit = bucket.extra[LOCK_DEFAULT].split()
        out.update({MODE: default_mode, UNTIL: xml.iso8601(time.time() + int(amount) * _days(unit) * _DAY)})
    if hold is not None:
        if hold not in ("ON", "OFF"):
            raise S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'")
        out[HOLD] = hold
    return out


def _days(unit: str) -> int:
    return 365 if unit == "Years" else 1


def _bypass(ctx: Ctx) -> bool:
    """GOVERNANCE gives way to x-amz-bypass-governance-retention from a caller with admin access."""
    asked = ctx.headers.get("x-amz-bypass-governance-retention", "").lower() == "true"
    return asked and ctx.principal is not None and ctx.principal.may(Action.ADMIN, ctx.bucket_name)


def _retained(extra: Mapping[str, str], now: float) -> str | None:
    """The retention mode in force on a version, if any."""
    until = extra.get(UNTIL)
    if until is None or _parse_date(until, "RetainUntilDate") <= now:
        return None
    return extra.get(MODE)


def keep_locked(ctx: Ctx) -> Callable[[ObjectInfo], bool]:
    """For Store.delete_versions: True (keep) for a version under legal hold or retention."""
    bypass = _bypass(ctx)

    def keep(version: ObjectInfo) -> bool:
        extra = version.meta.extra
        if extra.get(HOLD) == "ON":
            return True
        mode = _retained(extra, time.time())
        return mode == "COMPLIANCE" or (mode == "GOVERNANCE" and not bypass)

    return keep


def locked_error() -> S3Error:
    return S3Error("AccessDenied", "Access Denied because object protected by object lock.")


# --- bucket configuration ---------------------------------------------------------------


async def get_object_lock_configuration(ctx: Ctx) -> Response:
    bucket = await ctx.bucket_info()
    if not lock_enabled(bucket):
        raise S3Error("ObjectLockConfigurationNotFoundError", fields={"BucketName": bucket.name})
    children = [xml.el("ObjectLockEnabled", "Enabled")]
    if LOCK_DEFAULT in bucket.extra:
        mode, amount, unit = bucket.extra[LOCK_DEFAULT].split()
        retention = xml.node("DefaultRetention", [xml.el("Mode", mode), xml.el(unit, amount)])
        children.append(xml.node("Rule", [retention]))
    return xml_response(xml.document("ObjectLockConfiguration", children))


async def put_object_lock_configuration(ctx: Ctx) -> Response:
    root = xml.expect_root(xml.parse(await read_xml(ctx)), "ObjectLockConfiguration")
    if xml.child_text(root, "ObjectLockEnabled") != "Enabled":
        raise S3Error("MalformedXML")
    default: str | None = None
    rule = xml.child(root, "Rule")
    if rule is not None:
        retention = xml.child(rule, "DefaultRetention")
        if retention is None:
            raise S3Error("MalformedXML")
        mode = xml.child_text(retention, "Mode")
        days, years = xml.child_text(retention, "Days"), xml.child_text(retention, "Years")
        if mode not in MODES or (days is None) == (years is None):
            raise S3Error("MalformedXML")
        amount = days if days is not None else years
        assert amount is not None
        if not amount.strip().isdigit() or int(amount) <= 0:
            raise S3Error("InvalidArgument", "Default retention period must be a positive integer value.")
        default = f"{mode} {int(amount)} {'Days' if days is not None else 'Years'}"
    bucket = await ctx.store.get_bucket(ctx.bucket_name)
    if bucket.versioning != "Enabled":
        raise S3Error(
            "InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
        )
    await ctx.store.update_bucket_extra(ctx.bucket_name, {LOCK_ENABLED: "Enabled", LOCK_DEFAULT: default})
    return empty(200)


# --- per version ------------------------------------------------------------------------


async def _locked_bucket(ctx: Ctx) -> None:
    if not lock_enabled(await ctx.store.get_bucket(ctx.bucket_name)):
        raise _missing_configuration()


async def get_object_retention(ctx: Ctx) -> Response:
    await _locked_bucket(ctx)
    info = await ctx.store.head_object(ctx.bucket_name, ctx.key_name, version_param(ctx))
    extra = info.meta.extra
    if UNTIL not in extra:
        raise S3Error("NoSuchObjectLockConfiguration")
    children = [xml.el("Mode", extra.get(MODE, "")), xml.el("RetainUntilDate", extra[UNTIL])]
    return xml_response(xml.document("Retention", children), headers=version_header(info))


async def put_object_retention(ctx: Ctx) -> Response:
    version = version_param(ctx)
    root = xml.expect_root(xml.parse(await read_xml(ctx)), "Retention")
    mode, date = xml.child_text(root, "Mode"), xml.child_text(root, "RetainUntilDate")
    await _locked_bucket(ctx)
    if mode is None and date is None:
        change: dict[str, str | None] = {MODE: None, UNTIL: None}
        until = 0.0
    elif mode is None or date is None:
        raise S3Error("MalformedXML")
    else:
        until = _parse_date(date, "RetainUntilDate")
        change = _retention(mode, until)
    bypass = _bypass(ctx)

    def check(before: ObjectInfo) -> None:
        # Retention may always grow; COMPLIANCE never shrinks, GOVERNANCE only with the bypass.
        held = _retained(before.meta.extra, time.time())
        if held is None:
            return
        old_until = _parse_date(before.meta.extra[UNTIL], "RetainUntilDate")
        weaker = until < old_until or change.get(MODE) != held
        if weaker and (held == "COMPLIANCE" or not bypass):
            raise locked_error()

    info = await ctx.store.update_object_meta(
        ctx.bucket_name, ctx.key_name, extra=change, version_id=version, check=check
    )
    return empty(200, version_header(info))


async def get_object_legal_hold(ctx: Ctx) -> Response:
    await _locked_bucket(ctx)
    info = await ctx.store.head_object(ctx.bucket_name, ctx.key_name, version_param(ctx))
    status = info.meta.extra.get(HOLD)
    if status is None:
        raise S3Error("NoSuchObjectLockConfiguration")
    return xml_response(xml.document("LegalHold", [xml.el("Status", status)]), headers=version_header(info))


async def put_object_legal_hold(ctx: Ctx) -> Response:
    version = version_param(ctx)
    root = xml.expect_root(xml.parse(await read_xml(ctx)), "LegalHold")
    status = xml.child_text(root, "Status")
    if status not in ("ON", "OFF"):
        raise S3Error("MalformedXML")
    await _locked_bucket(ctx)
    info = await ctx.store.update_object_meta(
        ctx.bucket_name, ctx.key_name, extra={HOLD: status}, version_id=version
    )
    return empty(200, version_header(info))
