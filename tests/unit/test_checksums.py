from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from botocore import httpchecksum

from smarts3 import checksums

CHECK = b"123456789"  # the standard CRC check input


@pytest.mark.parametrize(
    ("alg", "value"),
    [
        ("CRC32", 0xCBF43926),
        ("CRC32C", 0xE3069283),
        ("CRC64NVME", 0xAE8B14860A799888),
    ],
)
def test_crc_check_values(alg: str, value: int) -> None:
    hasher = checksums.new_hasher(alg)
    hasher.update(CHECK)
    size = checksums.digest_size(alg)
    assert hasher.digest() == value.to_bytes(size, "big")
    assert hasher.b64() == base64.b64encode(value.to_bytes(size, "big")).decode()


@pytest.mark.parametrize("alg", ["SHA1", "SHA256"])
def test_sha_digests(alg: str) -> None:
    hasher = checksums.new_hasher(alg)
    hasher.update(CHECK)
    assert hasher.digest() == hashlib.new(alg.lower(), CHECK).digest()


@pytest.mark.parametrize(
    ("alg", "botocore_cls"),
    [
        ("CRC32", httpchecksum.CrtCrc32Checksum),
        ("CRC32C", httpchecksum.CrtCrc32cChecksum),
        ("CRC64NVME", httpchecksum.CrtCrc64NvmeChecksum),
        ("SHA1", httpchecksum.Sha1Checksum),
        ("SHA256", httpchecksum.Sha256Checksum),
    ],
)
def test_matches_botocore_in_pieces(alg: str, botocore_cls: type) -> None:
    data = os.urandom(200_003)
    ours = checksums.new_hasher(alg)
    view = memoryview(data)
    for start in range(0, len(data), 7919):  # odd piece size, memoryview input
        ours.update(view[start : start + 7919])
    theirs = botocore_cls()
    theirs.update(data)
    assert ours.b64() == theirs.b64digest()


def test_accepts_bytearray_and_is_incremental() -> None:
    hasher = checksums.new_hasher("crc32")
    hasher.update(bytearray(b"1234"))
    hasher.update(b"56789")
    assert int.from_bytes(hasher.digest(), "big") == zlib.crc32(CHECK)


def test_algorithms_and_header_names() -> None:
    assert checksums.ALGORITHMS == ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
    assert [checksums.header_name(a) for a in checksums.ALGORITHMS] == [
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ]
    assert checksums.header_name("crc32c") == "x-amz-checksum-crc32c"
    with pytest.raises(ValueError, match="unsupported"):
        checksums.new_hasher("MD5")


def _b64(alg: str, data: bytes) -> str:
    hasher = checksums.new_hasher(alg)
    hasher.update(data)
    return hasher.b64()


@pytest.mark.parametrize("alg", checksums.ALGORITHMS)
def test_decode_checksum(alg: str) -> None:
    value = _b64(alg, b"x")
    assert checksums.decode_checksum(alg, value) == base64.b64decode(value)
    with pytest.raises(ValueError, match="not valid base64"):
        checksums.decode_checksum(alg, "not base64!")
    with pytest.raises(ValueError, match="bytes, got"):
        checksums.decode_checksum(alg, base64.b64encode(b"\0" * 3).decode())
    too_long = base64.b64encode(base64.b64decode(value) + b"\0").decode()
    with pytest.raises(ValueError, match="bytes, got"):
        checksums.decode_checksum(alg, too_long)


@pytest.mark.parametrize("alg", checksums.ALGORITHMS)
def test_composite_checksum(alg: str) -> None:
    parts = [os.urandom(1000), os.urandom(5), b""]
    values = [_b64(alg, p) for p in parts]
    raw = b"".join(base64.b64decode(v) for v in values)
    assert checksums.composite_checksum(alg, values) == f"{_b64(alg, raw)}-3"


def test_composite_rejects_bad_part() -> None:
    with pytest.raises(ValueError, match="CRC32"):
        checksums.composite_checksum("CRC32", ["AAAAAA=="[:-2]])


@pytest.mark.parametrize("alg", checksums.CRC_ALGORITHMS)
def test_full_object_crc_equals_crc_of_whole(alg: str) -> None:
    parts = [os.urandom(5 * 1024 * 1024), b"", os.urandom(1), os.urandom(123_457)]
    combined = checksums.full_object_crc(alg, [(_b64(alg, p), len(p)) for p in parts])
    assert combined == _b64(alg, b"".join(parts))


def test_full_object_crc_single_and_empty() -> None:
    assert checksums.full_object_crc("CRC32", [(_b64("CRC32", b"abc"), 3)]) == _b64("CRC32", b"abc")
    assert checksums.full_object_crc("CRC32", []) == _b64("CRC32", b"")


def test_full_object_crc_rejects_sha() -> None:
    with pytest.raises(ValueError, match="full-object"):
        checksums.full_object_crc("SHA256", [(_b64("SHA256", b"a"), 1)])
    with pytest.raises(ValueError, match="negative"):
        checksums.full_object_crc("CRC32", [(_b64("CRC32", b"a"), -1)])
