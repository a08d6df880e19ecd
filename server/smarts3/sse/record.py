"""What an encrypted object keeps about its encryption, in its metadata's `extra` slot.

One compact JSON value under EXTRA_KEY: the mode, the wrapped data key, the id of the key
that wrapped it, the object id; for SSE-KMS the key name, context and bucket-key flag; for
SSE-C the customer key's MD5 and a salted HMAC of the key. Never a key itself.

Versions of the record ("v"): 1 (absent) wraps the data key with AES key wrap (RFC 3394),
which authenticates nothing else. 2 wraps it with AES-256-GCM whose associated data is the
mode, the layer and the whole KMS encryption context ("ec", canonical JSON), as KMS binds a
context to a ciphertext: a record edited to another context no longer unwraps. Version 1
records stay readable; new records are version 2. DSSE-KMS keeps a second wrapped data key
("w2") for its second layer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smarts3.sse.cipher import ChunkCipher, DualChunkCipher
from smarts3.sse.keys import Keyring, UnwrapFailed, unwrap, wrap

EXTRA_KEY = "sse"
SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_DSSE = "aws:kms:dsse"  # two independent layers, each with its own KMS-wrapped data key
KMS_MODES = (SSE_KMS, SSE_DSSE)
SSE_C = "SSE-C"
VERSION = 2
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
    version: int = 1
    enc_context: str = ""  # v2, KMS modes: the whole encryption context (canonical JSON), bound as AAD
    wrapped2: bytes = b""  # DSSE-KMS: the second layer's wrapped data key

    @property
    def master_wrapped(self) -> bool:
        return self.mode == SSE_S3 or (self.mode in KMS_MODES and self.kms_key == DEFAULT_KMS)

    @property
    def layers(self) -> tuple[bytes, ...]:
        return (self.wrapped, self.wrapped2) if self.mode == SSE_DSSE else (self.wrapped,)

    def encode(self) -> str:
        doc: dict[str, object] = {
            "m": self.mode,
            "w": _b64(self.wrapped),
            "k": self.kek_id,
            "o": _b64(self.object_id),
        }
        if self.version != 1:
            doc["v"] = self.version
        if self.mode in KMS_MODES:
            doc.update(kms=self.kms_key, ctx=self.context, bk=self.bucket_key)
            if self.version != 1:
                doc["ec"] = self.enc_context
        if self.mode == SSE_DSSE:
            doc["w2"] = _b64(self.wrapped2)
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
            version=int(d.get("v", 1)),
            enc_context=d.get("ec", ""),
            wrapped2=base64.b64decode(d.get("w2", "")),
        )

    def cipher(self, data_key: bytes, *more: bytes) -> ChunkCipher:
        if self.mode == SSE_DSSE:
            return DualChunkCipher(data_key, more[0], self.object_id)
        return ChunkCipher(data_key, self.object_id, md5_etag=self.mode == SSE_S3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def customer_key_hmac(salt: bytes, key: bytes) -> bytes:
    return hmac.new(salt, b"sse-c\0" + key, hashlib.sha256).digest()


def _aad(mode: str, layer: int, enc_context: str) -> bytes:
    return b"smarts3-sse-v2\0" + mode.encode() + b"\0" + bytes([layer]) + enc_context.encode()


def _wrap(rec: Record, kek: bytes, layer: int, key: bytes) -> bytes:
    if rec.version == 1:
        return wrap(kek, key)
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(kek).encrypt(nonce, key, _aad(rec.mode, layer, rec.enc_context))


def _unwrap(rec: Record, kek: bytes, layer: int, wrapped: bytes) -> bytes:
    if rec.version == 1:
        return unwrap(kek, wrapped)
    if len(kek) != 32 or len(wrapped) != 12 + 32 + 16:
        raise UnwrapFailed("wrapped data key of the wrong size")
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], _aad(rec.mode, layer, rec.enc_context))
    except InvalidTag:
        raise UnwrapFailed("the wrapped data key does not open with this key and context") from None


def canonical_context(pairs: dict[str, str]) -> str:
    """The form an encryption context is bound in: the same pairs give the same bytes."""
    return json.dumps(pairs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _kek(keyring: Keyring, mode: str, kms_key: str, kek_id: str) -> bytes:
    table = keyring.kms if mode in KMS_MODES and kms_key != DEFAULT_KMS else keyring.master
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
    enc_context: str = "",
) -> tuple[Record, list[bytes]]:
    """Fresh data keys for one object or upload (two for DSSE-KMS, one per layer), and the
    record that keeps them wrapped."""
    keys = [secrets.token_bytes(32) for _ in range(2 if mode == SSE_DSSE else 1)]
    if mode == SSE_C:
        salt = secrets.token_bytes(16)
        rec = Record(
            SSE_C,
            b"",
            "",
            secrets.token_bytes(16),
            key_md5=key_md5,
            salt=salt,
            key_hmac=customer_key_hmac(salt, customer_key),
            version=VERSION,
        )
        return _with_keys(rec, customer_key, keys), keys
    kek_id = keyring.newest if mode == SSE_S3 or kms_key == DEFAULT_KMS else kms_key
    kek = _kek(keyring, mode, kms_key, kek_id)
    rec = Record(
        mode,
        b"",
        kek_id,
        secrets.token_bytes(16),
        kms_key,
        context,
        bucket_key,
        version=VERSION,
        enc_context=enc_context if mode in KMS_MODES else "",
    )
    return _with_keys(rec, kek, keys), keys


def _with_keys(rec: Record, kek: bytes, keys: list[bytes]) -> Record:
    wrapped = [_wrap(rec, kek, layer, key) for layer, key in enumerate(keys)]
    return replace(rec, wrapped=wrapped[0], wrapped2=wrapped[1] if len(wrapped) > 1 else b"")


def data_keys(keyring: Keyring, rec: Record, customer_key: bytes = b"") -> list[bytes]:
    """Unwrap the record's data keys, one per layer (raises MissingKey, UnwrapFailed)."""
    kek = customer_key if rec.mode == SSE_C else _kek(keyring, rec.mode, rec.kms_key, rec.kek_id)
    return [_unwrap(rec, kek, layer, wrapped) for layer, wrapped in enumerate(rec.layers)]


def data_key(keyring: Keyring, rec: Record, customer_key: bytes = b"") -> bytes:
    """Unwrap the record's (first) data key (raises MissingKey, UnwrapFailed)."""
    return data_keys(keyring, rec, customer_key)[0]


def open_cipher(keyring: Keyring, rec: Record, customer_key: bytes = b"") -> ChunkCipher:
    """The cipher a record's body opens with (raises MissingKey, UnwrapFailed)."""
    return rec.cipher(*data_keys(keyring, rec, customer_key))


def customer_key_matches(rec: Record, customer_key: bytes) -> bool:
    return hmac.compare_digest(customer_key_hmac(rec.salt, customer_key), rec.key_hmac)


def rewrapped(keyring: Keyring, rec: Record) -> Record | None:
    """The record with its data key wrapped by the newest master key, or None when it already is
    (or is not master-wrapped)."""
    if not rec.master_wrapped or rec.kek_id == keyring.newest:
        return None
    keys = data_keys(keyring, rec)
    return _with_keys(replace(rec, kek_id=keyring.newest), keyring.master[keyring.newest], keys)


__all__ = [
    "MissingKey",
    "Record",
    "UnwrapFailed",
    "canonical_context",
    "customer_key_matches",
    "data_key",
    "data_keys",
    "new_record",
    "open_cipher",
    "rewrapped",
]
