"""The S3 endpoint: classify → authenticate → one handler → response.

Every response carries x-amz-request-id. Errors are rendered here and only
here: S3Error and mapped storage/auth errors as S3 XML, anything unexpected as
InternalError XML with the traceback logged under the request id.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from smarts3.access.authorize import Authorizer, Decision
from smarts3.access.facts import RequestFacts
from smarts3.auth.types import AuthError, AuthResult, RequestView
from smarts3.auth.verify import authenticate, unverified
from smarts3.s3 import addressing, fast_read
from smarts3.s3.context import ClientGone, Ctx, Limits
from smarts3.s3.drain import BodyTracker
from smarts3.s3.errors import S3Error, from_exception, not_implemented
from smarts3.s3.handlers import (
    acl,
    attributes,
    buckets,
    cors,  # CORS
    encryption,
    lifecycle,
    listing,
    logging_config,
    multipart,
    objectlock,
    objects_read,
    objects_write,
    ownership,
    policy,
    post_object,
    service,
    tagging,
    versions,
)
from smarts3.s3.headers import refuse_encryption_on_read
from smarts3.s3.operations import Op, Unclassified, classify
from smarts3.s3.responses import ObjectStream
from smarts3.sse.policy import SsePolicy
from smarts3.storage.base import Store

log = logging.getLogger("smarts3.s3")

# Request ids: a random per-process prefix and a counter (os.urandom per request is measurable).
_ID_PREFIX = f"{secrets.randbits(24):06X}{os.getpid() & 0xFFFF:04X}"
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFF:08X}"


_WRITES = frozenset({"PUT", "DELETE", "POST"})

Handler = Callable[[Ctx], Awaitable[Response | ObjectStream]]

HANDLERS: dict[Op, Handler] = {
    Op.LIST_BUCKETS: service.list_buckets,
    Op.CREATE_BUCKET: buckets.create_bucket,
    Op.HEAD_BUCKET: buckets.head_bucket,
    Op.DELETE_BUCKET: buckets.delete_bucket,
    Op.GET_BUCKET_LOCATION: buckets.get_bucket_location,
    Op.GET_BUCKET_VERSIONING: versions.get_bucket_versioning,
    Op.PUT_BUCKET_VERSIONING: versions.put_bucket_versioning,
    Op.GET_BUCKET_TAGGING: buckets.get_bucket_tagging,
    Op.PUT_BUCKET_TAGGING: buckets.put_bucket_tagging,
    Op.DELETE_BUCKET_TAGGING: buckets.delete_bucket_tagging,
    Op.LIST_OBJECTS: listing.list_objects,
    Op.LIST_OBJECTS_V2: listing.list_objects_v2,
    Op.LIST_OBJECT_VERSIONS: versions.list_object_versions,
    Op.GET_OBJECT_LOCK_CONFIGURATION: objectlock.get_object_lock_configuration,
    Op.PUT_OBJECT_LOCK_CONFIGURATION: objectlock.put_object_lock_configuration,
    Op.GET_OBJECT_RETENTION: objectlock.get_object_retention,
    Op.PUT_OBJECT_RETENTION: objectlock.put_object_retention,
    Op.GET_OBJECT_LEGAL_HOLD: objectlock.get_object_legal_hold,
    Op.PUT_OBJECT_LEGAL_HOLD: objectlock.put_object_legal_hold,
    Op.GET_OBJECT: objects_read.get_object,
    Op.HEAD_OBJECT: objects_read.head_object,
    Op.GET_OBJECT_ATTRIBUTES: attributes.get_object_attributes,
    Op.PUT_OBJECT: objects_write.put_object,
    Op.COPY_OBJECT: objects_write.copy_object,
    Op.DELETE_OBJECT: objects_write.delete_object,
    Op.DELETE_OBJECTS: objects_write.delete_objects,
    Op.GET_OBJECT_TAGGING: tagging.get_object_tagging,
    Op.PUT_OBJECT_TAGGING: tagging.put_object_tagging,
    Op.DELETE_OBJECT_TAGGING: tagging.delete_object_tagging,
    Op.CREATE_MULTIPART_UPLOAD: multipart.create_multipart_upload,
    Op.UPLOAD_PART: multipart.upload_part,
    Op.UPLOAD_PART_COPY: multipart.upload_part_copy,
    Op.COMPLETE_MULTIPART_UPLOAD: multipart.complete_multipart_upload,
    Op.ABORT_MULTIPART_UPLOAD: multipart.abort_multipart_upload,
    Op.LIST_PARTS: multipart.list_parts,
    Op.LIST_MULTIPART_UPLOADS: multipart.list_multipart_uploads,
    Op.GET_BUCKET_ACL: acl.get_bucket_acl,
    Op.PUT_BUCKET_ACL: acl.put_bucket_acl,
    Op.GET_OBJECT_ACL: acl.get_object_acl,
    Op.PUT_OBJECT_ACL: acl.put_object_acl,
    Op.GET_BUCKET_OWNERSHIP_CONTROLS: ownership.get_bucket_ownership_controls,
    Op.PUT_BUCKET_OWNERSHIP_CONTROLS: ownership.put_bucket_ownership_controls,
    Op.DELETE_BUCKET_OWNERSHIP_CONTROLS: ownership.delete_bucket_ownership_controls,
    Op.GET_BUCKET_CORS: cors.get_bucket_cors,  # CORS
    Op.PUT_BUCKET_CORS: cors.put_bucket_cors,  # CORS
    Op.DELETE_BUCKET_CORS: cors.delete_bucket_cors,  # CORS
    Op.GET_BUCKET_LIFECYCLE: lifecycle.get_bucket_lifecycle_configuration,
    Op.PUT_BUCKET_LIFECYCLE: lifecycle.put_bucket_lifecycle_configuration,
    Op.DELETE_BUCKET_LIFECYCLE: lifecycle.delete_bucket_lifecycle,
    Op.GET_BUCKET_LOGGING: logging_config.get_bucket_logging,
    Op.PUT_BUCKET_LOGGING: logging_config.put_bucket_logging,
    Op.GET_BUCKET_ENCRYPTION: encryption.get_bucket_encryption,
    Op.PUT_BUCKET_ENCRYPTION: encryption.put_bucket_encryption,
    Op.DELETE_BUCKET_ENCRYPTION: encryption.delete_bucket_encryption,
    Op.GET_BUCKET_POLICY: policy.get_bucket_policy,
    Op.PUT_BUCKET_POLICY: policy.put_bucket_policy,
    Op.DELETE_BUCKET_POLICY: policy.delete_bucket_policy,
    Op.GET_BUCKET_POLICY_STATUS: policy.get_bucket_policy_status,
    Op.GET_PUBLIC_ACCESS_BLOCK: policy.get_public_access_block,
    Op.PUT_PUBLIC_ACCESS_BLOCK: policy.put_public_access_block,
    Op.DELETE_PUBLIC_ACCESS_BLOCK: policy.delete_public_access_block,
    Op.POST_OBJECT: post_object.post_object,  # authorizes the form's signer itself, once the form is read
    # Op.CORS_PREFLIGHT is answered by S3App.cors before authentication (it is never signed).
}


def _headers(scope: Scope, limit: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    size = 0
    for raw_name, raw_value in scope["headers"]:
        size += len(raw_name) + len(raw_value) + 4
        if size > limit:
            raise S3Error(
                "RequestHeaderSectionTooLarge",
                "Your request header section exceeds the maximum allowed size.",
                fields={"MaxSizeAllowed": str(limit)},
            )
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1").strip()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


class S3App:
    def __init__(
        self,
        store: Store,
        authorizer: Authorizer,
        *,
        region: str,
        base_domain: str | None,
        owner_id: str,
        extra_base_domains: tuple[str, ...] = (),
        limits: Limits,
        cors_policy: cors.CorsPolicy | None = None,  # CORS
        sse: SsePolicy | None = None,
    ) -> None:
        self.sse = sse
        self.store = store
        self.authorizer = authorizer
        self.region = region
        self.base_domain = base_domain
        # Hosts read as "<bucket>.<name>"; SigV2/SigV4 verify against the same resolution (vhost_bucket).
        self.endpoint_names = addressing.endpoint_names(base_domain, extra_base_domains)
        self.owner_id = owner_id
        self.limits = limits
        self.cors = cors_policy or cors.CorsPolicy(store)  # CORS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        plain = fast_read.plain_headers(scope, self.limits.max_header_bytes)
        if plain is not None and await fast_read.serve(self, scope, receive, send, plain):
            return
        extra = [(b"x-amz-request-id", request_id.encode()), (b"x-amz-id-2", request_id.encode())]
        started = False
        body = receive = BodyTracker(receive)
        headers: Mapping[str, str] = {}

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *extra]
                if message["status"] >= 400:
                    await body.drain_if_small(headers)  # see drain.py: the client can then read this answer
            await send(message)

        bucket = key = None
        try:
            headers = _headers(scope, self.limits.max_header_bytes)
            target = addressing.resolve(
                scope.get("raw_path") or scope["path"].encode(), headers.get("host", ""), self.endpoint_names
            )
            bucket, key = target.bucket, target.key
            scope["state"].update(bucket=bucket, key=key)
            # The one parse of the query: classification, both signature versions and handlers read view.query.
            view = RequestView(scope["method"], scope.get("raw_path") or b"", scope.get("query_string", b""), headers)
            query = view.query
            try:
                op = classify(scope["method"], bucket, key, query, headers)
            except Unclassified:
                raise S3Error(
                    "MethodNotAllowed",
                    fields={"Method": scope["method"], "ResourceType": "OBJECT" if key else "BUCKET"},
                ) from None
            scope["state"]["operation"] = op.value
            if op is Op.CORS_PREFLIGHT:  # CORS: unsigned, no authorization; the bucket's rules decide
                await (await self.cors.preflight(bucket or "", key, headers))(scope, receive, send_with_id)
                return
            extra += await self.cors.actual_headers(bucket, scope["method"], headers)  # CORS: sent on errors too
            auth = self._authenticate(view, bucket if target.vhost else None, scope)
            scope["state"]["access_key"] = scope["state"].get("access_key") or auth.access_key
            client = scope.get("client") or (None,)
            facts = RequestFacts(client[0], scope.get("scheme") == "https", auth.signature_version, query, headers)
            if op is Op.POST_OBJECT and auth.access_key is None:
                decision = Decision(None)  # the credentials are in the form, which the handler reads
            else:
                decision = await self.authorizer.check(auth.access_key, op, bucket, key, headers, facts)
            if op in (Op.GET_OBJECT, Op.HEAD_OBJECT):
                refuse_encryption_on_read(headers)
            handler = HANDLERS.get(op)
            if handler is None:
                raise not_implemented(op.value)
            ctx = Ctx(
                request_id,
                op,
                bucket,
                key,
                query,
                headers,
                auth,
                decision.principal,
                self.store,
                receive,
                self.region,
                self.limits,
                self.owner_id,
                decision,
                authorizer=self.authorizer,
                facts=facts,
                sse=self.sse,
                secure=scope.get("scheme") == "https",
            )
            try:
                response = await handler(ctx)
                await response(scope, receive, send_with_id)
            finally:
                if key is None and bucket is not None and scope["method"] in _WRITES:
                    # The bucket's ACL, ownership, policy or existence may have changed: this worker's
                    # next request reads its access state again (authorize.ACCESS_TTL for the others).
                    self.authorizer.forget(bucket)
        except ClientGone:
            scope["state"]["error_code"] = "ClientDisconnected"
        except Exception as exc:
            if isinstance(exc, AuthError) and exc.access_key:
                # The key id a refused signature claimed (never the signature): who tried, in the access log.
                scope["state"].setdefault("access_key", exc.access_key)
            error = from_exception(exc, bucket or "", key or "")
            if error is None:
                log.exception("unexpected error [request_id=%s]", request_id)
                error = S3Error("InternalError")
            scope["state"]["error_code"] = error.code
            if started:
                # Headers are out: the only honest signal left is a broken connection.
                raise
            await self._send_error(scope, send_with_id, error, request_id)

    def _authenticate(self, view: RequestView, vhost_bucket: str | None, scope: Scope) -> AuthResult:
        if not self.authorizer.anonymous_is_root:
            return authenticate(view, self.authorizer.principals, vhost_bucket=vhost_bucket)
        # --auth none: any signature, or none, acts as root (the development mode of LocalStack
        # and moto, where AWS_ACCESS_KEY_ID=test works); a key that verifies acts as itself.
        try:
            auth = authenticate(view, self.authorizer.principals, vhost_bucket=vhost_bucket)
        except AuthError as exc:
            scope["state"]["access_key"] = exc.access_key  # the log names the key the client claimed
            auth = unverified(view)
        if auth.access_key is None:
            auth = dataclasses.replace(auth, access_key=self.authorizer.root().access_key)
        return auth

    @staticmethod
    async def _send_error(scope: Scope, send: Send, error: S3Error, request_id: str) -> None:
        body = b"" if scope["method"] == "HEAD" else error.to_xml(request_id, scope.get("path", ""))
        headers = [(k.encode(), v.encode()) for k, v in error.headers.items()]
        headers.append((b"content-type", b"application/xml"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
