"""Bucket logging: server access log records, in S3's format, delivered to the target bucket.

The access-log middleware hands every finished request to `Delivery.observe` (synchronous,
no I/O): a request on a bucket whose logging is known to be off costs one dict lookup. A
request on a bucket not looked up lately waits in `pending` until the background task has
read the bucket's configuration (every second at most). Records are delivered as one object per
source bucket every `flush_interval` seconds, or sooner once `flush_records` wait, named as S3
names them: `TargetPrefix + YYYY-mm-DD-HH-MM-SS-UniqueString`, or with PartitionedPrefix
`TargetPrefix + AccountId/Region/SourceBucket/YYYY/MM/DD/YYYY-MM-DD-HH-MM-SS-UniqueString`.

Each worker process delivers its own objects (the unique string keeps them apart). Records
live in memory until delivered: a crash loses at most the records of one batch (up to
`flush_records`, or `flush_interval` seconds of traffic); a clean shutdown delivers them.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote

import anyio
from starlette.types import Scope

from smarts3.middleware.traffic import Traffic
from smarts3.s3.handlers.logging_config import LoggingTarget, stored_target
from smarts3.storage.base import ObjectMeta, StorageError, Store

log = logging.getLogger("smarts3.bucketlogging")

CONFIG_TTL = 5.0  # seconds a bucket's logging configuration is trusted before it is read again
RESOLVE_EVERY = 1.0  # seconds between reads of the configurations of newly seen buckets
_PENDING_CAP = 10_000  # records waiting for their bucket's configuration; beyond, the oldest go

# The resource part of S3's operation name (REST.<METHOD>.<RESOURCE>), by sub-resource.
_RESOURCES = {
    "uploads": "UPLOADS", "uploadId": "UPLOAD", "delete": "MULTI_OBJECT_DELETE", "tagging": "TAGGING",
    "acl": "ACL", "versioning": "VERSIONING", "location": "LOCATION", "lifecycle": "LIFECYCLE",
    "logging": "LOGGING_STATUS", "cors": "CORS", "versions": "BUCKETVERSIONS",
    "object-lock": "OBJECT_LOCK_CONFIGURATION",
    "retention": "RETENTION", "legal-hold": "LEGAL_HOLD", "attributes": "OBJECT_ATTRIBUTES", "policy": "BUCKETPOLICY",
    "website": "WEBSITE", "encryption": "ENCRYPTION", "replication": "REPLICATION", "notification": "NOTIFICATION",
}
_SIGNATURE_PARAMS = ("X-Amz-Signature", "Signature")


@dataclass(slots=True)
class Raw:
    """What one request leaves for its record; formatted only when it is delivered."""

    time: float
    remote: str | None
    access_key: str | None
    request_id: str | None
    operation: str
    bucket: str
    key: str | None
    method: str
    target: str
    http_version: str
    status: int
    error_code: str | None
    bytes_sent: int
    object_size: int | None
    total_ms: int
    turnaround_ms: int | None
    referer: str | None
    user_agent: str | None
    version_id: str | None
    signature: str | None
    auth_type: str | None
    host: str | None
    tls: str | None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _redacted_query(query: bytes) -> str:
    # The signature of a presigned URL is a credential for its lifetime: never written out.
    parts = []
    for part in query.decode("latin-1").split("&"):
        name = part.split("=", 1)[0]
        parts.append(f"{name}=REDACTED" if name in _SIGNATURE_PARAMS else part)
    return "&".join(parts)


def _resource(scope: Scope, key: str | None) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    names = [p.split("=", 1)[0] for p in query.split("&") if p]
    for name in names:
        if name in _RESOURCES:
            resource = _RESOURCES[name]
            return f"OBJECT_{resource}" if key and name == "tagging" else resource
    if key:
        return "PART" if "partNumber" in names else "OBJECT"
    return "BUCKET"


def _auth(scope: Scope, headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    authorization = _header(headers, b"authorization") or ""
    if authorization.startswith("AWS4-"):
        return "SigV4", "AuthHeader"
    if authorization.startswith("AWS "):
        return "SigV2", "AuthHeader"
    query = scope.get("query_string", b"")
    if b"X-Amz-Signature=" in query:
        return "SigV4", "QueryString"
    if b"Signature=" in query:
        return "SigV2", "QueryString"
    return None, None


def _object_size(operation: str, traffic: Traffic) -> int | None:
    response = traffic.headers
    content_range = _header(response, b"content-range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    if operation in ("GetObject", "HeadObject") and traffic.status == 200:
        length = _header(response, b"content-length")
        return int(length) if length and length.isdigit() else None
    if operation in ("PutObject", "UploadPart"):
        return traffic.received
    return None


def raw_record(scope: Scope, traffic: Traffic, start: float, status: int) -> Raw:
    state = scope["state"]
    now = time.perf_counter()
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    target = raw_path.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + _redacted_query(scope["query_string"])
    client = scope.get("client")
    signature, auth_type = _auth(scope, headers)
    tls = scope.get("extensions", {}).get("tls") if scope.get("scheme") == "https" else None
    key: str | None = state.get("key")
    answered = traffic.response_started or now
    operation = state.get("operation") or "-"
    return Raw(
        time=time.time() - (now - start),
        remote=client[0] if client else None,
        access_key=state.get("access_key"),
        request_id=state.get("request_id"),
        operation=f"REST.{scope['method']}.{_resource(scope, key)}",
        bucket=state["bucket"],
        key=key,
        method=scope["method"],
        target=target,
        http_version=scope.get("http_version", "1.1"),
        status=status,
        error_code=state.get("error_code"),
        bytes_sent=traffic.sent,
        object_size=_object_size(operation, traffic),
        total_ms=round((now - start) * 1000),
        turnaround_ms=round((answered - (traffic.request_done or start)) * 1000) if traffic.response_started else None,
        referer=_header(headers, b"referer"),
        user_agent=_header(headers, b"user-agent"),
        version_id=_header(traffic.headers, b"x-amz-version-id"),
        signature=signature,
        auth_type=auth_type,
        host=_header(headers, b"host"),
        tls=str(tls.get("tls_version")) if isinstance(tls, dict) and tls.get("tls_version") else None,
    )


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _quoted(value: str | None) -> str:
    if value is None:
        return '"-"'
    clean = "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\x{ord(c):02X}" for c in value)
    return f'"{clean}"'


def format_record(r: Raw, owner_id: str) -> str:
    """One line of S3's server access log format (fields as S3 documents them, "-" when none)."""
    requester = hashlib.sha256(r.access_key.encode()).hexdigest() if r.access_key else None
    fields = [
        owner_id,
        r.bucket,
        time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(r.time)),
        _dash(r.remote),
        _dash(requester),
        _dash(r.request_id),
        r.operation,
        _dash(quote(r.key, safe="/") if r.key else None),
        _quoted(f"{r.method} {r.target} HTTP/{r.http_version}"),
        str(r.status),
        _dash(r.error_code),
        _dash(r.bytes_sent or None),
        _dash(r.object_size),
        str(r.total_ms),
        _dash(r.turnaround_ms),
        _quoted(r.referer),
        _quoted(r.user_agent),
        _dash(r.version_id),
        _dash(r.request_id),  # host id: ours is the request id (x-amz-id-2)
        _dash(r.signature),
        "-",  # cipher suite: not reported by the server
        _dash(r.auth_type),
        _dash(r.host),
        _dash(r.tls),
        "-",  # access point ARN: no access points
        "-",  # ACL required: ACLs only ever widen access here
    ]
    return " ".join(fields)


def object_key(target: LoggingTarget, source_bucket: str, region: str, owner_id: str, event_time: float) -> str:
    now = time.time()
    unique = secrets.token_hex(8).upper()
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now))
    if not target.partitioned:
        return f"{target.prefix}{stamp}-{unique}"
    day = time.gmtime(event_time if target.date_source == "EventTime" else now)
    return (f"{target.prefix}{owner_id}/{region}/{source_bucket}/"
            f"{day.tm_year:04d}/{day.tm_mon:02d}/{day.tm_mday:02d}/{stamp}-{unique}")


class Delivery:
    def __init__(self, store: Store, owner_id: str, region: str, flush_interval: float, flush_records: int) -> None:
        self.store = store
        self.owner_id = owner_id
        self.region = region
        self.flush_interval = flush_interval
        self.flush_records = flush_records
        self._targets: dict[str, tuple[float, LoggingTarget | None]] = {}
        self._pending: dict[str, list[Raw]] = {}
        self._batches: dict[str, list[Raw]] = {}
        self._waiting = 0
        self._wake = anyio.Event()

    def observe(self, scope: Scope, traffic: Traffic, start: float, status: int) -> None:
        """Called by the access-log middleware for every finished request; no I/O here."""
        state = scope.get("state", {})
        bucket = state.get("bucket")
        if not bucket:
            return
        if state.get("operation") == "PutBucketLogging":
            self._targets.pop(bucket, None)  # this worker follows a change at once, others within CONFIG_TTL
        known = self._targets.get(bucket)
        fresh = known is not None and known[0] > time.monotonic()
        if fresh and known is not None and known[1] is None:
            return
        record = raw_record(scope, traffic, start, status)
        queue = self._batches if fresh else self._pending
        queue.setdefault(bucket, []).append(record)
        self._waiting += 1
        if not fresh and self._waiting > _PENDING_CAP:
            self._pending[bucket].pop(0)
            self._waiting -= 1
        if self._waiting >= self.flush_records or not fresh:
            self._wake.set()

    async def _target(self, bucket: str) -> LoggingTarget | None:
        try:
            info = await self.store.get_bucket(bucket)
        except StorageError:
            target = None
        else:
            target = stored_target(info.extra)
        self._targets[bucket] = (time.monotonic() + CONFIG_TTL, target)
        return target

    async def _resolve(self) -> None:
        pending, self._pending = self._pending, {}
        for bucket, records in pending.items():
            if await self._target(bucket) is None:
                self._waiting -= len(records)
            else:
                self._batches.setdefault(bucket, []).extend(records)

    async def flush(self) -> int:
        """Deliver every waiting record; returns how many objects were written."""
        await self._resolve()
        batches, self._batches = self._batches, {}
        written = 0
        for bucket, records in batches.items():
            self._waiting -= len(records)
            target = await self._target(bucket)
            if target is None:
                continue  # logging was switched off meanwhile
            body = "".join(format_record(r, self.owner_id) + "\n" for r in records).encode()
            key = object_key(target, bucket, self.region, self.owner_id, records[0].time)
            try:
                async with self.store.object_writer(target.bucket, key) as writer:
                    await writer.write(body)
                    await writer.flush()
                    await writer.commit(ObjectMeta(headers={"content-type": "text/plain"}))
            except StorageError as exc:
                log.warning("access log delivery to %s failed, %d record(s) dropped: %s",
                            target.bucket, len(records), exc)
                continue
            written += 1
        return written

    async def run(self) -> None:
        """The background task: resolve new buckets every second, deliver every flush_interval."""
        next_flush = time.monotonic() + self.flush_interval
        while True:
            with anyio.move_on_after(min(RESOLVE_EVERY, max(0.0, next_flush - time.monotonic()))):
                await self._wake.wait()
            self._wake = anyio.Event()
            try:
                if self._waiting >= self.flush_records or time.monotonic() >= next_flush:
                    next_flush = time.monotonic() + self.flush_interval
                    await self.flush()
                elif self._pending:
                    await self._resolve()
            except Exception:
                log.exception("access log delivery failed")
