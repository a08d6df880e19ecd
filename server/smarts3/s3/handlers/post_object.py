"""PostObject: a browser form upload (`POST /bucket`, multipart/form-data), streamed.

The form's fields come first and are held (at most MAX_PRE_DATA bytes); once the `file`
part begins, the form is authenticated (auth.post), checked against its policy document
(s3.post_policy) and authorized as a PutObject of the form's key, and the file's bytes go
to the object writer as they arrive. Nothing is visible until the whole body is read and
the length and checksums hold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import replace
from urllib.parse import quote, urlencode, urlsplit

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.responses import Response

from smarts3 import checksums
from smarts3.access.facts import RequestFacts
from smarts3.auth.chunked import BodyDecoder
from smarts3.auth.post import form_signer
from smarts3.auth.types import AuthError
from smarts3.s3 import post_policy, xml
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.common import parse_tag_set
from smarts3.s3.handlers.writes import new_meta, refuse_unsupported, result_headers
from smarts3.s3.headers import MAX_OBJECT_TAGS, validate_tags
from smarts3.s3.operations import Op
from smarts3.s3.responses import empty, xml_response
from smarts3.storage.base import ObjectMeta, ObjectWriter

MAX_PRE_DATA = 20 * 1024  # S3: the fields before the file, together
_SUCCESS_STATUSES = {"200": 200, "201": 201, "204": 204}
# Form fields stored like the request headers of a PutObject.
_HEADER_FIELDS = ("content-type", "cache-control", "content-disposition", "content-encoding", "expires",
                  "x-amz-storage-class", "x-amz-website-redirect-location")


def _malformed() -> S3Error:
    return S3Error("MalformedPOSTRequest")


class _Form:
    """Collects parser callbacks as events; the handler drains them between body chunks."""

    def __init__(self, boundary: bytes) -> None:
        self.events: list[tuple[str, bytes]] = []
        self._header_name = b""
        self._header_value = b""
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self.events.append(("begin", b"")),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": lambda: self.events.append(("headers_done", b"")),
                "on_part_data": lambda data, start, end: self.events.append(("data", bytes(data[start:end]))),
                "on_part_end": lambda: self.events.append(("end", b"")),
                "on_end": lambda: self.events.append(("done", b"")),
            },
        )

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self.events.append(("header", self._header_name.lower() + b"\0" + self._header_value))
        self._header_name = self._header_value = b""


class _Upload:
    """The file part: written as it arrives, hashed for any x-amz-checksum-* field, size-bounded."""

    def __init__(self, writer: ObjectWriter, limit: int, sums: Mapping[str, str]) -> None:
        self.writer = writer
        self.limit = limit
        self.size = 0
        self.expected = dict(sums)
        self.hashers = {alg: checksums.new_hasher(alg) for alg in sums}

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise S3Error("EntityTooLarge", fields={"MaxSizeAllowed": str(self.limit)})
        for hasher in self.hashers.values():
            hasher.update(data)
        await self.writer.write(data)

    def verified_sums(self) -> dict[str, str]:
        out = {}
        for alg, hasher in self.hashers.items():
            got = hasher.b64()
            if got != self.expected[alg]:
                raise S3Error("BadDigest", f"The {alg} you specified did not match the calculated checksum.")
            out[alg] = got
        return out


def _boundary(ctx: Ctx) -> bytes:
    content_type = ctx.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise S3Error(
            "PreconditionFailed",
            "Bucket POST must be of the enclosure-type multipart/form-data",
            fields={"Condition": "Bucket POST must be of the enclosure-type multipart/form-data"},
        )
    return boundary


def _checksum_fields(fields: Mapping[str, str]) -> dict[str, str]:
    sums = {}
    for name, value in fields.items():
        if name.startswith("x-amz-checksum-") and name != "x-amz-checksum-algorithm":
            alg = name.removeprefix("x-amz-checksum-").upper()
            if alg not in checksums.ALGORITHMS:
                raise S3Error("InvalidRequest", f"Invalid checksum field {name}.")
            sums[alg] = value
    if len(sums) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are "
                      "not allowed.")
    return sums


async def _begin(
    ctx: Ctx, fields: dict[str, str], filename: str, stack: AsyncExitStack
) -> tuple[Ctx, _Upload, int, ObjectMeta]:
    """Authenticate, check the policy, authorize, validate the metadata: then open the writer.
    Returns the request as a PutObject would have been, the upload, the policy's minimum
    length and the object's metadata (checksums still to come)."""
    assert ctx.authorizer is not None
    raw_key = fields.get("key")
    if raw_key is None:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please "
                      "check the order of the fields.", fields={"ArgumentName": "key"})
    try:
        access_key, version = form_signer(fields, ctx.authorizer.principals)
    except AuthError:
        if not ctx.authorizer.anonymous_is_root:
            raise
        access_key, version = None, 0  # --auth none: any signature, or none, acts as root
    if access_key is None and ctx.auth.access_key is not None:
        # An unsigned form in a request signed in its headers: the request's signer acts.
        access_key, version = ctx.auth.access_key, ctx.auth.signature_version
    policy = post_policy.parse(fields["policy"]) if "policy" in fields else None
    if access_key is not None and policy is None:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'policy'.",
                      fields={"ArgumentName": "policy"})
    if policy is not None:
        policy.check(fields, ctx.bucket_name, dt.datetime.now(dt.UTC))
    key = raw_key.replace("${filename}", filename.replace("\\", "/").rsplit("/", 1)[-1])
    if not key:
        raise S3Error("InvalidArgument", "Key is empty", fields={"ArgumentName": "key"})
    if len(key.encode()) > 1024:
        raise S3Error("KeyTooLongError")
    headers = {name: fields[name] for name in _HEADER_FIELDS if name in fields}
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    headers |= {name: value for name, value in fields.items() if name.startswith("x-amz-meta-")}
    refuse_unsupported({**headers, **{n: v for n, v in fields.items() if n.startswith("x-amz-server-side")}})
    tags = validate_tags(parse_tag_set(fields["tagging"].encode()), MAX_OBJECT_TAGS) if "tagging" in fields else {}
    # A policy sees the form's tags as s3:RequestObjectTag/<key>, as it sees a PutObject's x-amz-tagging.
    seen = {**headers, "x-amz-tagging": urlencode(tags)} if tags else headers
    facts = dataclasses.replace(ctx.facts or RequestFacts(), signature_version=version, query={}, headers=seen)
    decision = await ctx.authorizer.check(access_key, Op.POST_OBJECT, ctx.bucket, key, headers, facts)
    put = replace(ctx, key=key, headers=headers, principal=decision.principal, access=decision)
    meta = replace(new_meta(put), tags=tags)  # a bad acl, storage class or metadata: refused before any byte
    sums = _checksum_fields(fields)
    writer = await stack.enter_async_context(ctx.store.object_writer(ctx.bucket_name, key))
    low, high = policy.length_range if policy is not None and policy.length_range else (0, ctx.limits.max_object_size)
    return put, _Upload(writer, min(high, ctx.limits.max_object_size), sums), low, meta


async def post_object(ctx: Ctx) -> Response:
    form = _Form(_boundary(ctx))
    fields: dict[str, str] = {}
    pre_data = 0
    name: str | None = None
    filename = ""
    value = bytearray()
    upload: _Upload | None = None
    put: Ctx | None = None
    meta: ObjectMeta | None = None
    minimum = 0
    in_file = False
    files = 0
    done = False
    async with AsyncExitStack() as stack:
        async for chunk in BodyDecoder(ctx.raw_body(), ctx.auth):  # checks a header-signed payload digest
            if done:
                continue  # the epilogue after the closing boundary
            try:
                form.parser.write(chunk)
            except MultipartParseError:
                raise _malformed() from None
            for kind, data in form.events:
                if kind == "begin":
                    name, filename, value, in_file = None, "", bytearray(), False
                elif kind == "header":
                    if upload is None:  # headers count too: a flood of empty fields is no cheaper
                        pre_data += len(data)
                        if pre_data > MAX_PRE_DATA:
                            raise S3Error("MaxPostPreDataLengthExceeded")
                    header, _, header_value = data.partition(b"\0")
                    if header == b"content-disposition":
                        _, params = parse_options_header(header_value)
                        name = params.get(b"name", b"").decode("utf-8", "replace").lower()
                        filename = params.get(b"filename", b"").decode("utf-8", "replace")
                elif kind == "headers_done":
                    if name is None:
                        raise _malformed()
                    if name == "file":
                        files += 1
                        if files > 1:
                            raise S3Error("IncorrectNumberOfFilesInPostRequest")
                        in_file = True
                        put, upload, minimum, meta = await _begin(ctx, fields, filename, stack)
                elif kind == "data":
                    if in_file and upload is not None:
                        await upload.write(data)
                    elif upload is None:
                        pre_data += len(data)
                        if pre_data > MAX_PRE_DATA:
                            raise S3Error("MaxPostPreDataLengthExceeded")
                        value += data
                elif kind == "end":
                    if name and not in_file and upload is None:
                        if name in fields:
                            raise S3Error("InvalidArgument", f"Field {name} appears more than once.")
                        fields[name] = value.decode("utf-8", "replace")
                    in_file = False
                elif kind == "done":
                    done = True
            form.events.clear()
        if not done:
            raise _malformed() if files else S3Error("IncorrectNumberOfFilesInPostRequest")
        if upload is None or put is None or meta is None:
            raise S3Error("IncorrectNumberOfFilesInPostRequest")
        await upload.writer.flush()
        if upload.size < minimum:
            raise S3Error("EntityTooSmall", fields={"ProposedSize": str(upload.size), "MinSizeAllowed": str(minimum)})
        sums = upload.verified_sums()
        meta = replace(meta, checksums=sums, checksum_type="FULL_OBJECT" if sums else None)
        info = await upload.writer.commit(meta)
    return _success(put, ctx.headers.get("host", ""), fields, info.etag, sums, meta.checksum_type, info.version_id)


def _success(
    put: Ctx,
    host: str,
    fields: Mapping[str, str],
    etag: str,
    sums: Mapping[str, str],
    checksum_type: str | None,
    version_id: str | None,
) -> Response:
    bucket, key = put.bucket_name, put.key_name
    scheme = "https" if put.facts is not None and put.facts.secure else "http"
    path = quote(key, safe="/") if host.startswith(f"{bucket}.") else f"{bucket}/{quote(key, safe='/')}"
    location = f"{scheme}://{host}/{path}"
    headers = {**result_headers(etag, sums, checksum_type), "location": location}
    if version_id is not None:
        headers["x-amz-version-id"] = version_id
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        query = urlencode({"bucket": bucket, "key": key, "etag": etag})
        target = f"{redirect}{'&' if urlsplit(redirect).query else '?'}{query}"
        return empty(303, {**headers, "location": target})
    status = _SUCCESS_STATUSES.get(fields.get("success_action_status", ""), 204)
    if status == 201:
        body = xml.document(
            "PostResponse",
            [xml.el("Location", location), xml.el("Bucket", bucket), xml.el("Key", key), xml.el("ETag", etag)],
        )
        return xml_response(body, 201, headers)
    return empty(status, headers)

