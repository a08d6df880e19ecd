"""Server-side encryption on the wire: request headers → a sealing plan, records → headers.

Handlers call plan_write (PUT, CopyObject destination, CreateMultipartUpload),
upload_cipher (UploadPart), cipher_for/check_read (GET, HEAD, copy sources) and
response_headers. The keys and the sealed format live in smarts3.sse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace

from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error, not_implemented
from smarts3.sse import record as rec
from smarts3.sse.cipher import ChunkCipher
from smarts3.sse.keys import UnwrapFailed
from smarts3.sse.policy import SsePolicy
from smarts3.storage.base import BodyCipher, ObjectInfo, ObjectMeta, ObjectReader, UploadInfo

log = logging.getLogger("smarts3.sse")

BUCKET_KEY = "sse-config"  # a bucket's default encryption, JSON in its `extra`
H = "x-amz-server-side-encryption"
C = "x-amz-server-side-encryption-customer-"
COPY_C = "x-amz-copy-source-server-side-encryption-customer-"


@dataclass(frozen=True, slots=True)
class Sealing:
    """How a new object (or upload) is sealed: the record to keep, the cipher to write with."""

    record: rec.Record
    cipher: ChunkCipher


def _policy(ctx: Ctx) -> SsePolicy:
    if ctx.sse is None:
        raise not_implemented("Server-side encryption")
    return ctx.sse


def _customer_key(ctx: Ctx, prefix: str) -> tuple[bytes, str] | None:
    """(key, key MD5) from SSE-C headers under `prefix`, checked as AWS checks them; None when absent."""
    algorithm = ctx.headers.get(prefix + "algorithm")
    raw_key = ctx.headers.get(prefix + "key")
    md5 = ctx.headers.get(prefix + "key-md5")
    if algorithm is None and raw_key is None and md5 is None:
        return None
    policy = _policy(ctx)
    if not ctx.secure and not policy.allow_http_sse_c:
        raise S3Error(
            "InvalidRequest",
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a "
            "secure connection.",
        )
    if algorithm is None:
        raise S3Error(
            "InvalidArgument",
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid "
            "encryption algorithm.",
            fields={"ArgumentName": prefix + "algorithm", "ArgumentValue": "null"},
        )
    if algorithm != "AES256":
        raise S3Error(
            "InvalidEncryptionAlgorithmError",
            "The encryption request you specified is not valid. Supported value: AES256.",
            fields={"ArgumentName": prefix + "algorithm", "ArgumentValue": algorithm},
        )
    if raw_key is None:
        raise S3Error(
            "InvalidArgument",
            "Requests specifying Server Side Encryption with Customer provided keys must provide an "
            "appropriate secret key.",
            fields={"ArgumentName": prefix + "key", "ArgumentValue": "null"},
        )
    try:
        key = base64.b64decode(raw_key, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise S3Error(
            "InvalidArgument",
            "The secret key was invalid for the specified algorithm.",
            fields={"ArgumentName": prefix + "key", "ArgumentValue": "null"},
        )
    actual = base64.b64encode(hashlib.md5(key).digest()).decode()  # noqa: S324 - the protocol's check
    if md5 is None or md5 != actual:
        raise S3Error(
            "InvalidArgument",
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            fields={"ArgumentName": prefix + "key", "ArgumentValue": "null"},
        )
    return key, actual


def _kms_name(policy: SsePolicy, key_id: str) -> str:
    """The keyring name a KMS key id (bare, alias/, key/ or an ARN) refers to; "" for aws/s3."""
    tail = key_id.split(":", 5)[5] if key_id.startswith("arn:") and key_id.count(":") >= 5 else key_id
    name = tail.removeprefix("key/").removeprefix("alias/")
    if tail in ("alias/aws/s3", "aws/s3"):
        return rec.DEFAULT_KMS
    if name not in policy.keyring.kms:
        raise S3Error("KMS.NotFoundException", f"Invalid keyId {key_id}", status=400)
    return name


ARN_KEY = "aws:s3:arn"


def _context(value: str | None) -> dict[str, str]:
    """The pairs of an x-amz-server-side-encryption-context header (base64 of a JSON object of
    strings); a bad header is AWS's 400 InvalidArgument."""
    if value is None:
        return {}
    try:
        doc = json.loads(base64.b64decode(value, validate=True))
        if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
            raise ValueError
    except (binascii.Error, ValueError):
        raise S3Error(
            "InvalidArgument",
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string "
            "holding JSON which represents a string-string map",
            fields={"ArgumentName": H + "-context"},
        ) from None
    return doc


def encryption_context(ctx: Ctx, pairs: Mapping[str, str], bucket_key: bool) -> str:
    """The whole context a KMS data key is bound to: the client's pairs plus the default S3
    appends, aws:s3:arn, the object's ARN (the bucket's with a bucket key), as AWS documents."""
    arn = f"arn:aws:s3:::{ctx.bucket_name}" + ("" if bucket_key else f"/{ctx.key_name}")
    if pairs.get(ARN_KEY, arn) != arn:
        raise S3Error(
            "InvalidArgument",
            f"The encryption context key {ARN_KEY} is reserved: its value must be the object's ARN",
            fields={"ArgumentName": H + "-context"},
        )
    return rec.canonical_context({**pairs, ARN_KEY: arn})


def requested(headers: Mapping[str, str]) -> bool:
    """Whether the request asks for encryption of what it writes."""
    return any(h == H or (h.startswith(H + "-") and not h.startswith("x-amz-copy-source")) for h in headers)


async def plan_write(ctx: Ctx) -> Sealing | None:
    """The sealing of an object or upload this request creates: its headers, else the bucket's
    default encryption, else the server-wide setting; None for a plain body."""
    headers = ctx.headers
    algorithm = headers.get(H)
    customer = _customer_key(ctx, C)
    kms_id = headers.get(H + "-aws-kms-key-id")
    bucket_key = headers.get(H + "-bucket-key-enabled", "").lower() == "true"
    if customer is not None and algorithm is not None:
        raise S3Error(
            "InvalidArgument",
            "Server Side Encryption with Customer provided key is incompatible with the encryption method "
            "specified",
            fields={"ArgumentName": H, "ArgumentValue": algorithm},
        )
    if algorithm is not None and algorithm not in (rec.SSE_S3, *rec.KMS_MODES):
        raise S3Error(
            "InvalidArgument",
            "The encryption method specified is not supported",
            fields={"ArgumentName": H, "ArgumentValue": algorithm},
        )
    if algorithm not in rec.KMS_MODES and (kms_id is not None or H + "-context" in headers):
        raise S3Error(
            "InvalidArgument",
            "Server Side Encryption with AWS KMS managed key requires HTTP header "
            "x-amz-server-side-encryption : aws:kms",
            fields={"ArgumentName": H, "ArgumentValue": algorithm or "null"},
        )
    if customer is not None:
        key, md5 = customer
        record, keys = rec.new_record(_policy(ctx).keyring, rec.SSE_C, customer_key=key, key_md5=md5)
        return Sealing(record, record.cipher(*keys))
    raw_context = headers.get(H + "-context")
    pairs = _context(raw_context)
    if algorithm is None:
        default = await bucket_default(ctx)
        if default is not None:
            algorithm, kms_id, bucket_key = default
        elif ctx.sse is not None and ctx.sse.force:
            algorithm = rec.SSE_S3
        else:
            return None
    policy = _policy(ctx)
    kms = _kms_name(policy, kms_id) if algorithm in rec.KMS_MODES and kms_id else rec.DEFAULT_KMS
    bucket_key = bucket_key and algorithm == rec.SSE_KMS  # AWS: no bucket keys with DSSE-KMS
    bound = encryption_context(ctx, pairs, bucket_key) if algorithm in rec.KMS_MODES else ""
    record, keys = rec.new_record(
        policy.keyring, algorithm, kms_key=kms, context=raw_context or "", bucket_key=bucket_key, enc_context=bound
    )
    if record.master_wrapped:
        policy.master_key_used()
    return Sealing(record, record.cipher(*keys))


async def bucket_default(ctx: Ctx) -> tuple[str, str | None, bool] | None:
    """(algorithm, KMS key id, bucket key) of the bucket's default encryption, if it has one."""
    raw = (await ctx.bucket_info()).extra.get(BUCKET_KEY)
    if raw is None:
        return None
    doc = json.loads(raw)
    return doc["alg"], doc.get("kms") or None, bool(doc.get("bk"))


def sealed_meta(meta: ObjectMeta, sealing: Sealing | None) -> ObjectMeta:
    if sealing is None:
        return meta
    return replace(meta, extra={**meta.extra, rec.EXTRA_KEY: sealing.record.encode()})


def record_of(meta: ObjectMeta) -> rec.Record | None:
    raw = meta.extra.get(rec.EXTRA_KEY)
    return None if raw is None else rec.Record.decode(raw)


def response_headers(ctx: Ctx, record: rec.Record | None, *, with_context: bool = False) -> dict[str, str]:
    """The x-amz-server-side-encryption* headers describing an object, as AWS sends them."""
    if record is None:
        return {}
    if record.mode == rec.SSE_C:
        return {C + "algorithm": "AES256", C + "key-md5": record.key_md5}
    out = {H: record.mode}
    if record.mode in rec.KMS_MODES:
        out[H + "-aws-kms-key-id"] = _policy(ctx).kms_arn(ctx.region, record.kms_key)
        if record.bucket_key:
            out[H + "-bucket-key-enabled"] = "true"
        if with_context and record.context:
            out[H + "-context"] = record.context
    return out


def _unsealed(ctx: Ctx, record: rec.Record, customer_key: bytes = b"") -> ChunkCipher:
    try:
        return rec.open_cipher(_policy(ctx).keyring, record, customer_key)
    except rec.MissingKey as exc:
        log.error("encryption key %r is not in the keyring [request_id=%s]", str(exc), ctx.request_id)
    except UnwrapFailed:
        log.error("integrity error: a wrapped data key does not open [request_id=%s]", ctx.request_id)
    raise S3Error("InternalError")


def _checked_key(ctx: Ctx, record: rec.Record | None, prefix: str) -> bytes:
    """The customer key an SSE-C object is read with (b"" for other objects), as AWS checks it."""
    customer = _customer_key(ctx, prefix)
    if record is None or record.mode != rec.SSE_C:
        if customer is not None:
            raise S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.")
        return b""
    if customer is None:
        raise S3Error(
            "InvalidRequest",
            "The object was stored using a form of Server Side Encryption. The correct parameters must be "
            "provided to retrieve the object.",
        )
    if not rec.customer_key_matches(record, customer[0]):
        raise S3Error("AccessDenied")
    return customer[0]


def read_cipher(ctx: Ctx, meta: ObjectMeta, *, copy_source: bool = False) -> ChunkCipher | None:
    """The cipher a stored object opens with, after its SSE-C headers (under the copy-source
    prefix for a copy source) are checked; None for a plain object."""
    record = record_of(meta)
    key = _checked_key(ctx, record, COPY_C if copy_source else C)
    return None if record is None else _unsealed(ctx, record, key)


def cipher_for(ctx: Ctx, *, copy_source: bool = False) -> Callable[[ObjectInfo], BodyCipher | None]:
    """For Store.open_object: checks the headers against the object found, returns its cipher."""

    def choose(info: ObjectInfo) -> BodyCipher | None:
        return read_cipher(ctx, info.meta, copy_source=copy_source)

    return choose


def check_read(ctx: Ctx, info: ObjectInfo, *, copy_source: bool = False) -> None:
    """HEAD (and a copy source before it is opened): a GET's header checks, opening nothing."""
    _checked_key(ctx, record_of(info.meta), COPY_C if copy_source else C)


def upload_cipher(ctx: Ctx, upload: UploadInfo) -> ChunkCipher | None:
    """UploadPart (and UploadPartCopy): the upload's cipher; SSE-C parts must bring the same key."""
    record = record_of(upload.meta)
    customer = _customer_key(ctx, C)
    if record is None:
        if customer is not None:
            raise S3Error("InvalidRequest", "The encryption parameters are not applicable to this upload.")
        return None
    if record.mode == rec.SSE_C:
        if customer is None:
            raise S3Error(
                "InvalidRequest",
                "The multipart upload initiate requested encryption. Subsequent part requests must include "
                "the appropriate encryption parameters.",
            )
        if not rec.customer_key_matches(record, customer[0]):
            raise S3Error(
                "InvalidRequest", "The provided encryption parameters did not match the ones used originally."
            )
        return _unsealed(ctx, record, customer[0])
    return _unsealed(ctx, record)


class _Prefetched:
    """A sealed object whose first piece is already read (and authenticated): a corrupt start
    becomes a 500 before any header is sent, instead of a broken connection."""

    def __init__(self, reader: ObjectReader, rest: AsyncIterator[bytes], first: bytes, span: tuple[int, int]) -> None:
        self.info = reader.info
        self._reader = reader
        self._rest: AsyncIterator[bytes] | None = rest
        self._first = first
        self._span = span

    async def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        rest, self._rest = self._rest, None
        if rest is None or (start, end) != self._span:
            async for chunk in self._reader.iter_range(start, end):
                yield chunk
            return
        yield self._first
        async for chunk in rest:
            yield chunk

    async def close(self) -> None:
        await self._reader.close()


async def prefetched(reader: ObjectReader, start: int, end: int) -> ObjectReader:
    """The reader, with bytes [start, end) begun when the object is sealed."""
    if end <= start or record_of(reader.info.meta) is None:
        return reader
    rest = aiter(reader.iter_range(start, end))
    first = await anext(rest)
    return _Prefetched(reader, rest, first, (start, end))
