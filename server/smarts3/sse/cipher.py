"""AES-256-GCM over 64 KiB chunks: the BodyCipher storage seals bodies with (see __init__)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smarts3.storage.base import IntegrityError

CHUNK_BYTES = 64 * 1024
MAGIC = b"SSE1"
_HEADER = struct.Struct(">4sI8s")  # magic, part number, nonce prefix
_AAD = struct.Struct(">16s16sQ?")  # object id, header, chunk index, last


class ChunkCipher:
    chunk_size = CHUNK_BYTES
    header_size = _HEADER.size
    tag_size = 16

    def __init__(self, data_key: bytes, object_id: bytes, *, md5_etag: bool) -> None:
        self._aead = AESGCM(data_key)
        self._key = data_key
        self._object_id = object_id
        self._md5_etag = md5_etag  # SSE-S3 keeps the plaintext MD5; SSE-C and SSE-KMS do not (AWS)

    def new_header(self, part_number: int) -> bytes:
        return _HEADER.pack(MAGIC, part_number, secrets.token_bytes(8))

    def _nonce_aad(self, header: bytes, index: int, last: bool) -> tuple[bytes, bytes]:
        if index >= 1 << 32:
            raise ValueError("too many chunks in one body file")
        return header[8:16] + index.to_bytes(4, "big"), _AAD.pack(self._object_id, header, index, last)

    def seal(self, header: bytes, index: int, data: bytes | memoryview, last: bool) -> bytes:
        nonce, aad = self._nonce_aad(header, index, last)
        return self._aead.encrypt(nonce, data, aad)

    def open(self, header: bytes, index: int, data: bytes | memoryview, last: bool) -> bytes:
        nonce, aad = self._nonce_aad(header, index, last)
        try:
            return self._aead.decrypt(nonce, data, aad)
        except InvalidTag:
            raise IntegrityError(f"chunk {index} failed authentication") from None

    def check_headers(self, headers: Sequence[bytes]) -> None:
        previous = 0
        for header in headers:
            if len(header) != _HEADER.size:
                raise IntegrityError("sealed body file too short for its header")
            magic, part, _ = _HEADER.unpack(header)
            if magic != MAGIC or part <= previous:
                raise IntegrityError("sealed body file header out of place")
            previous = part

    def etag(self, md5: bytes) -> str:
        if self._md5_etag:
            return md5.hex()
        return hmac.new(self._key, b"etag\0" + md5, hashlib.sha256).hexdigest()[:32]


class DualChunkCipher(ChunkCipher):
    """DSSE-KMS: every chunk sealed twice, by two independent data keys (AES-256-GCM inside
    AES-256-GCM), so either key alone opens nothing. Same framing and chunking as one layer; a
    chunk carries both tags. The nonce is shared: the keys differ, and each layer's associated
    data names the layer."""

    tag_size = 32

    def __init__(self, inner_key: bytes, outer_key: bytes, object_id: bytes) -> None:
        super().__init__(inner_key, object_id, md5_etag=False)
        self._outer = AESGCM(outer_key)

    def seal(self, header: bytes, index: int, data: bytes | memoryview, last: bool) -> bytes:
        nonce, aad = self._nonce_aad(header, index, last)
        inner = self._aead.encrypt(nonce, data, aad + b"\x01")
        return self._outer.encrypt(nonce, inner, aad + b"\x02")

    def open(self, header: bytes, index: int, data: bytes | memoryview, last: bool) -> bytes:
        nonce, aad = self._nonce_aad(header, index, last)
        try:
            inner = self._outer.decrypt(nonce, data, aad + b"\x02")
            return self._aead.decrypt(nonce, inner, aad + b"\x01")
        except InvalidTag:
            raise IntegrityError(f"chunk {index} failed authentication") from None
