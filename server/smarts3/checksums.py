"""Streaming checksums for S3's x-amz-checksum-* family.

A leaf module: stdlib and `awscrt.checksums` only. CRC digests are the
big-endian bytes of the integer, which is what AWS base64-encodes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from awscrt import checksums as _crt

ALGORITHMS: Final = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
CRC_ALGORITHMS: Final = ("CRC32", "CRC32C", "CRC64NVME")

_Update = Callable[[bytes, int], int]
_Combine = Callable[[int, int, int], int]

# algorithm -> (update(data, previous), combine(crc1, crc2, len2), digest size)
_CRCS: Final[dict[str, tuple[_Update, _Combine, int]]] = {
    "CRC32": (_crt.crc32, _crt.combine_crc32, 4),
    "CRC32C": (_crt.crc32c, _crt.combine_crc32c, 4),
    "CRC64NVME": (_crt.crc64nvme, _crt.combine_crc64nvme, 8),
}
_DIGEST_SIZES: Final = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


class Hasher(Protocol):
    algorithm: str

    def update(self, data: bytes | bytearray | memoryview) -> None: ...

    def digest(self) -> bytes: ...

    def b64(self) -> str: ...


def normalize(alg: str) -> str:
    """The canonical upper-case name, or ValueError for an unknown algorithm."""
    name = alg.strip().upper()
    if name not in _DIGEST_SIZES:
        raise ValueError(f"unsupported checksum algorithm: {alg!r}")
    return name


def header_name(alg: str) -> str:
    return "x-amz-checksum-" + normalize(alg).lower()


def digest_size(alg: str) -> int:
    return _DIGEST_SIZES[normalize(alg)]


class _CrcHasher:
    __slots__ = ("_size", "_update", "_value", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._update, _, self._size = _CRCS[algorithm]
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        # awscrt reads any buffer object without copying, despite its `bytes` hint.
        self._value = self._update(data, self._value)  # type: ignore[arg-type]

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


class _HashlibHasher:
    __slots__ = ("_h", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm.lower())

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()

    def b64(self) -> str:
        return base64.b64encode(self._h.digest()).decode("ascii")


def new_hasher(alg: str) -> Hasher:
    name = normalize(alg)
    if name in _CRCS:
        return _CrcHasher(name)
    return _HashlibHasher(name)


def decode_checksum(alg: str, b64value: str) -> bytes:
    """The raw digest behind a header value; ValueError if it cannot be one."""
    name = normalize(alg)
    try:
        raw = base64.b64decode(b64value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {name} checksum is not valid base64") from None
    if len(raw) != _DIGEST_SIZES[name]:
        raise ValueError(f"the {name} checksum must be {_DIGEST_SIZES[name]} bytes, got {len(raw)}")
    return raw


def composite_checksum(alg: str, part_b64_values: Sequence[str]) -> str:
    """S3's COMPOSITE multipart checksum: hash of the concatenated part digests, '-N'."""
    hasher = new_hasher(alg)
    for value in part_b64_values:
        hasher.update(decode_checksum(alg, value))
    return f"{hasher.b64()}-{len(part_b64_values)}"


def full_object_crc(alg: str, parts: Sequence[tuple[str, int]]) -> str:
    """The whole object's CRC from per-part (base64 CRC, part size), in part order.

    This is S3's FULL_OBJECT multipart checksum; only CRCs combine this way.
    """
    name = normalize(alg)
    if name not in _CRCS:
        raise ValueError(f"{name} cannot be combined into a full-object checksum")
    _, combine, size = _CRCS[name]
    value = 0
    for b64value, length in parts:
        if length < 0:
            raise ValueError("part size must not be negative")
        part = int.from_bytes(decode_checksum(name, b64value), "big")
        value = combine(value, part, length)
    return base64.b64encode(value.to_bytes(size, "big")).decode("ascii")
