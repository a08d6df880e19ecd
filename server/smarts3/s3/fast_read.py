"""GET and HEAD of an object, the plain case, without the generic dispatcher's detours.

Most small reads are the same request: GET or HEAD of a key, signed with SigV4 in the
Authorization header, no query, no header that changes the answer. `plain_headers` says in one
pass over the headers whether a request is that (anything outside `PLAIN_HEADERS` is not: Range,
the conditionals, SSE-C keys, Origin, expected-owner, a body...), and `serve`
answers it with the same helpers as objects_read.py (so the same headers in the same order) as
raw ASGI messages, skipping classification, the handler context's detours and the Response
objects. `serve` gives up, having sent nothing, on whatever it meets that is not plain either:
a refused or failed signature, an authorization refusal, an object read only through its own ACL,
an encrypted object, any error. The generic path then answers the request from the start,
exactly as for any other request, so a refusal or an error is never answered here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from starlette.types import Receive, Scope, Send

from smarts3.access.facts import RequestFacts
from smarts3.auth.types import RequestView
from smarts3.auth.verify import authenticate
from smarts3.s3 import addressing, sse
from smarts3.s3.context import Ctx
from smarts3.s3.handlers.lifecycle import expiration_header
from smarts3.s3.handlers.objects_read import plan
from smarts3.s3.operations import Op
from smarts3.s3.responses import ObjectStream
from smarts3.storage.base import BodyCipher, ObjectInfo, ObjectReader

if TYPE_CHECKING:
    from smarts3.s3.dispatch import S3App

# Request headers that do not change how a plain read is answered. Any other header, and any
# repeated one, sends the request down the generic path.
PLAIN_HEADERS: Final = frozenset(
    {
        "host",
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-checksum-mode",  # read by objects_read.plan; boto3 sends it on every GetObject
        "user-agent",
        "x-amz-user-agent",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "accept",
        "accept-encoding",
        "connection",
        "keep-alive",
    }
)
_V4: Final = "AWS4-HMAC-SHA256 "
log = logging.getLogger("smarts3.s3")
_SMALL: Final = 1024 * 1024  # as ObjectStream: above this a body needs its disconnect watcher

served = 0  # requests this process answered here (tests read it to see the fast path taken)


def plain_headers(scope: Scope, limit: int) -> dict[str, str] | None:
    """The request's headers (as dispatch reads them) if it is a plain GET/HEAD; else None."""
    if scope["method"] not in ("GET", "HEAD") or scope.get("query_string"):
        return None
    headers: dict[str, str] = {}
    size = 0
    for raw_name, raw_value in scope["headers"]:
        size += len(raw_name) + len(raw_value) + 4
        name = raw_name.decode("latin-1").lower()
        if name not in PLAIN_HEADERS or name in headers:
            return None
        headers[name] = raw_value.decode("latin-1").strip()
    if size > limit or not headers.get("authorization", "").startswith(_V4):
        return None
    return headers


class _NotPlain(Exception):
    """The object needs what only the generic path does (decryption)."""


def _unencrypted(info: ObjectInfo) -> BodyCipher | None:
    if sse.record_of(info.meta) is not None:
        raise _NotPlain
    return None


async def serve(app: S3App, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> bool:
    """Answer a plain read (True), or send nothing and leave it to the generic path (False)."""
    if app.sse is not None and app.sse.force:
        # Every object is encrypted: trying here would only authenticate, authorize and read
        # the row once more before the generic path does it all again.
        return False
    try:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = addressing.resolve(raw_path, headers.get("host", ""), app.endpoint_names)
        if not target.bucket or not target.key or await _encrypts_by_default(app, target.bucket):
            return False
        prepared = await _prepare(app, scope, receive, headers, target)
    except Exception:  # the generic path answers it, errors included, as it answers everything
        return False
    if prepared is None:
        return False
    ctx, info, reader = prepared
    request_id = ctx.request_id.encode()
    try:
        status, start, end, out = plan(ctx, info, {})
        out.update(await expiration_header(ctx, info))
        # Encoded here: a value latin-1 cannot carry is the generic path's error to answer.
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out.items()]
    except Exception:
        if reader is not None:
            await reader.close()
        return False
    raw.append((b"content-length", str(end - start).encode()))
    raw.append((b"x-amz-request-id", request_id))
    raw.append((b"x-amz-id-2", request_id))
    global served
    served += 1
    state = scope["state"]
    state.update(bucket=ctx.bucket, key=ctx.key, operation=ctx.op.value)
    state["access_key"] = state.get("access_key") or ctx.auth.access_key
    try:
        await _send(scope, receive, send, status, raw, reader, start, end)
    except Exception:
        # As the generic path once the head may be out: logged, and a broken connection.
        log.exception("unexpected error [request_id=%s]", ctx.request_id)
        state["error_code"] = "InternalError"
        raise
    return True


async def _send(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    raw: list[tuple[bytes, bytes]],
    reader: ObjectReader | None,
    start: int,
    end: int,
) -> None:
    if reader is None:  # HEAD
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b""})
        return
    if end - start > _SMALL:
        stream = ObjectStream(reader, start, end, status=status, headers={})
        stream.raw_headers = raw
        await stream(scope, receive, send)  # closes the reader
        return
    try:
        await send({"type": "http.response.start", "status": status, "headers": raw})
        remaining = end - start
        async for chunk in reader.iter_range(start, end):
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            if remaining <= 0:
                break
        else:
            await send({"type": "http.response.body", "body": b""})
    finally:
        await reader.close()


async def _encrypts_by_default(app: S3App, bucket: str) -> bool:
    """The bucket has a default encryption (PutBucketEncryption), so its objects are most likely
    encrypted: as under `encryption.force`, trying here would read them twice. From the
    authorizer's per-second cache of the bucket; an object of another kind is answered the
    same by the generic path, so a state a second old costs time, never a wrong answer."""
    extra = await app.authorizer.bucket_extra(bucket)
    return extra is not None and sse.BUCKET_KEY in extra


async def _prepare(
    app: S3App, scope: Scope, receive: Receive, headers: dict[str, str], target: addressing.Target
) -> tuple[Ctx, ObjectInfo, ObjectReader | None] | None:
    """Authenticated, authorized and read; None (or an exception) where the request is not plain."""
    authorizer = app.authorizer
    if authorizer.anonymous_is_root:
        return None
    if not target.bucket or not target.key:
        return None
    view = RequestView(scope["method"], scope.get("raw_path") or b"", b"", headers)
    auth = authenticate(view, authorizer.principals, vhost_bucket=target.bucket if target.vhost else None)
    get = scope["method"] == "GET"
    op = Op.GET_OBJECT if get else Op.HEAD_OBJECT
    secure = scope.get("scheme") == "https"
    client = scope.get("client") or (None,)
    facts = RequestFacts(client[0], secure, auth.signature_version, view.query, headers)
    decision = await authorizer.check(auth.access_key, op, target.bucket, target.key, headers, facts)
    if decision.acl_gated:
        return None  # read through the object's own ACL: the handler re-checks the version it serves
    ctx = Ctx(
        scope["state"]["request_id"],
        op,
        target.bucket,
        target.key,
        view.query,
        headers,
        auth,
        decision.principal,
        app.store,
        receive,
        app.region,
        app.limits,
        app.owner_id,
        decision,
        authorizer=authorizer,
        facts=facts,
        sse=app.sse,
        secure=secure,
    )
    if not get:
        info = await app.store.head_object(target.bucket, target.key, None)
        if sse.record_of(info.meta) is not None:
            return None
        return ctx, info, None
    try:
        reader = await app.store.open_object(target.bucket, target.key, None, cipher_for=_unencrypted)
    except _NotPlain:
        return None
    if sse.record_of(reader.info.meta) is not None:  # an inline body is opened without cipher_for
        await reader.close()
        return None
    return ctx, reader.info, reader
