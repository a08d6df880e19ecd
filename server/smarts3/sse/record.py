"""What an encrypted object keeps about its encryption, in its metadata's `extra` slot.

One compact JSON value under EXTRA_KEY: the mode, the wrapped data key, the id of the key
that wrapped it, the object id; for SSE-KMS the key name, context and bucket-key flag; for
SSE-C the customer key's MD5 and a salted HMAC of the key. Never a key itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace

from smarts3.sse.cipher import ChunkCipher
from smarts3.sse.keys import Keyring, UnwrapFailed, unwrap, wrap

EXTRA_KEY = "sse"
SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_C = "SSE-C"
DEFAULT_KMS = ""  # SSE-KMS without a key id: AWS's "aws/s3" key, here wrapped by the master key


class MissingKey(Exception):
    """The key that wrapped a data key is not in the keyring (any more)."""


@dataclass(frozen=True, slots=True)
class Record:
    mode: str  # SSE_S3, SSE_KMS or SSE_C
    wrapped: bytes
    kek_id: str  # master key id (SSE-S3, default KMS), KMS key name, or "" (SSE-C)
    object_id: bytes
    kms_key: str = DEFAULT_KMS
    context: str = ""  # SSE-KMS encryption context as sent (base64 JSON)
    bucket_key: bool = False
    key_md5: str = ""  # SSE-C: base64 MD5 of the customer key, as the client sends it
    salt: bytes = b""
    key_hmac: bytes = b""

    @property
    def master_wrapped(self) -> bool:
        return self.mode == SSE_S3 or (self.mode == SSE_KMS and self.kms_key == DEFAULT_KMS)

    def encode(self) -> str:
        doc: dict[str, object] = {
            "m": self.mode,
            "w": _b64(self.wrapped),
            "k": self.kek_id,
            "o": _b64(self.object_id),
        }
        if self.mode == SSE_KMS:
            doc.update(kms=self.kms_key, ctx=self.context, bk=self.bucket_key)
        if self.mode == SSE_C:
            doc.update(md5=self.key_md5, s=_b64(self.salt), h=_b64(self.key_hmac))
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Record:
        d = json.loads(text)
        return cls(
            mode=d["m"],
            wrapped=base64.b64decode(d["w"]),
            kek_id=d["k"],
            object_id=base64.b64decode(d["o"]),
            kms_key=d.get("kms", DEFAULT_KMS),
            context=d.get("ctx", ""),
            bucket_key=bool(d.get("bk", False)),
            key_md5=d.get("md5", ""),
            salt=base64.b64decode(d.get("s", "")),
            key_hmac=base64.b64decode(d.get("h", "")),
        )

    def cipher(self, data_key: bytes) -> ChunkCipher:
        return ChunkCipher(data_key, self.object_id, md5_etag=self.mode == SSE_S3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def customer_key_hmac(salt: bytes, key: bytes) -> bytes:
    return hmac.new(salt, b"sse-c\0" + key, hashlib.sha256).digest()


def _kek(keyring: Keyring, mode: str, kms_key: str, kek_id: str) -> bytes:
    table = keyring.kms if mode == SSE_KMS and kms_key != DEFAULT_KMS else keyring.master
    try:
        return table[kek_id]
    except KeyError:
        raise MissingKey(kek_id) from None


def new_record(
    keyring: Keyring,
    mode: str,
    *,
    kms_key: str = DEFAULT_KMS,
    context: str = "",
    bucket_key: bool = False,
    customer_key: bytes = b"",
    key_md5: str = "",
) -> tuple[Record, bytes]:
    """A fresh data key for one object or upload, and the record that keeps it wrapped."""
    data_key = secrets.token_bytes(32)
    if mode == SSE_C:
        salt = secrets.token_bytes(16)
        rec = Record(
            SSE_C,
            wrap(customer_key, data_key),
            "",
            secrets.token_bytes(16),
            key_md5=key_md5,
            salt=salt,
            key_hmac=customer_key_hmac(salt, customer_key),
        )
        return rec, data_key
    kek_id = keyring.newest if mode == SSE_S3 or kms_key == DEFAULT_KMS else kms_key
    kek = _kek(keyring, mode, kms_key, kek_id)
    rec = Record(mode, wrap(kek, data_key), kek_id, secrets.token_bytes(16), kms_key, context, bucket_key)
    return rec, data_key


def data_key(keyring: Keyring, rec: Record, customer_key: bytes = b"") -> bytes:
    """Unwrap the record's data key (raises MissingKey, UnwrapFailed)."""
    kek = customer_key if rec.mode == SSE_C else _kek(keyring, rec.mode, rec.kms_key, rec.kek_id)
    return unwrap(kek, rec.wrapped)


def customer_key_matches(rec: Record, customer_key: bytes) -> bool:
    return hmac.compare_digest(customer_key_hmac(rec.salt, customer_key), rec.key_hmac)


def rewrapped(keyring: Keyring, rec: Record) -> Record | None:
    """The record with its data key wrapped by the newest master key, or None when it already is
    (or is not master-wrapped)."""
    if not rec.master_wrapped or rec.kek_id == keyring.newest:
        return None
    key = data_key(keyring, rec)
    return replace(rec, wrapped=wrap(keyring.master[keyring.newest], key), kek_id=keyring.newest)


__all__ = ["MissingKey", "Record", "UnwrapFailed", "customer_key_matches", "data_key", "new_record", "rewrapped"]
