"""The sealed body format (storage framing + smarts3.sse cipher), the keyring and key re-wrapping."""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from smarts3.sse import keys, record
from smarts3.sse.cipher import CHUNK_BYTES, ChunkCipher
from smarts3.storage.base import IntegrityError
from smarts3.storage.fs.bodies import Sealer
from smarts3.storage.fs.reader import Unsealer

C = CHUNK_BYTES


def seal(cipher: ChunkCipher, data: bytes, part: int = 1, feed: int = 100_000) -> bytes:
    sealer = Sealer(cipher, part)
    pieces = [p for i in range(0, len(data), feed) for p in sealer.feed(data[i : i + feed])]
    return b"".join(pieces + sealer.finish())


_OPEN: list[int] = []


@pytest.fixture(autouse=True)
def _close_fds() -> Iterator[None]:
    yield
    while _OPEN:
        os.close(_OPEN.pop())


def opened(
    tmp_path: Path, cipher: ChunkCipher, files: list[bytes], sizes: tuple[int, ...]
) -> tuple[Unsealer, list[int]]:
    fds = []
    for n, sealed in enumerate(files):
        path = tmp_path / f"seg{n}"
        path.write_bytes(sealed)
        fds.append(os.open(path, os.O_RDONLY))
    _OPEN.extend(fds)
    return Unsealer(cipher, fds, sizes), fds


@pytest.fixture
def cipher() -> ChunkCipher:
    return ChunkCipher(os.urandom(32), os.urandom(16), md5_etag=True)


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 17])
def test_round_trip_and_every_kind_of_range(tmp_path: Path, cipher: ChunkCipher, size: int) -> None:
    data = os.urandom(size)
    sealed = seal(cipher, data)
    chunks = max(1, -(-size // C))
    assert len(sealed) == 16 + size + 16 * chunks
    unsealer, fds = opened(tmp_path, cipher, [sealed], (size,))
    if size == 0:
        return  # nothing to read, but the file (one empty last chunk) checked out on open
    rng = random.Random(size)
    spans = [(0, size), (0, 1)] + [tuple(sorted(rng.sample(range(size + 1), 2))) for _ in range(20)]
    for start, end in spans:
        if end > start:
            assert unsealer.read(0, fds[0], size, start, end - start) == data[start:end], (start, end)


def test_any_flipped_byte_or_moved_chunk_fails(tmp_path: Path, cipher: ChunkCipher) -> None:
    data = os.urandom(3 * C)
    sealed = bytearray(seal(cipher, data))
    step = C + 16
    for offset in (3, 16 + 5, 16 + step + 100, len(sealed) - 1):  # header, chunk 0, chunk 1, last tag
        bad = bytearray(sealed)
        bad[offset] ^= 0x80
        with pytest.raises(IntegrityError):
            unsealer, fds = opened(tmp_path, cipher, [bytes(bad)], (len(data),))
            unsealer.read(0, fds[0], len(data), 0, len(data))
    swapped = sealed[:16] + sealed[16 + step : 16 + 2 * step] + sealed[16 : 16 + step] + sealed[16 + 2 * step :]
    unsealer, fds = opened(tmp_path, cipher, [bytes(swapped)], (len(data),))
    with pytest.raises(IntegrityError):
        unsealer.read(0, fds[0], len(data), 0, C)
    # Dropping the last chunk (and claiming the shorter size) fails: chunk 1 was not sealed as last.
    unsealer, fds = opened(tmp_path, cipher, [bytes(sealed[: 16 + 2 * step])], (2 * C,))
    with pytest.raises(IntegrityError):
        unsealer.read(0, fds[0], 2 * C, C, C)
    other = ChunkCipher(os.urandom(32), os.urandom(16), md5_etag=True)  # another object's key
    with pytest.raises(IntegrityError):
        unsealer, fds = opened(tmp_path, other, [bytes(sealed)], (len(data),))
        unsealer.read(0, fds[0], len(data), 0, 10)


def test_parts_must_stay_in_order(tmp_path: Path, cipher: ChunkCipher) -> None:
    one, two = os.urandom(1000), os.urandom(2000)
    files = [seal(cipher, one, part=1), seal(cipher, two, part=3)]
    unsealer, fds = opened(tmp_path, cipher, files, (1000, 2000))
    assert unsealer.read(1, fds[1], 2000, 0, 2000) == two
    with pytest.raises(IntegrityError):
        opened(tmp_path, cipher, files[::-1], (2000, 1000))


def test_etag_is_the_md5_only_for_sse_s3() -> None:
    md5 = bytes(range(16))
    assert ChunkCipher(os.urandom(32), os.urandom(16), md5_etag=True).etag(md5) == md5.hex()
    other = ChunkCipher(os.urandom(32), os.urandom(16), md5_etag=False).etag(md5)
    assert other != md5.hex() and len(other) == 32


def b64() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_keyring_sources_order_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"masterKeys": [{"id": "a", "key": b64()}], "kmsKeys": [{"id": "app", "key": b64()}]}))
    ring = keys.load(path, f"b:{b64()}", tmp_path)
    assert list(ring.master) == ["a", "b"] and ring.newest == "b" and list(ring.kms) == ["app"]
    for text, needle in (
        ("not json", "not JSON"),
        (json.dumps({"masterKeys": [{"id": "a", "key": "short"}]}), "not base64"),
        (json.dumps({"masterKeys": [{"id": "a", "key": base64.b64encode(b"x" * 16).decode()}]}), "32 bytes"),
        (json.dumps({"masterKeys": [{"id": "a", "key": b64()}, {"id": "a", "key": b64()}]}), "given twice"),
        (json.dumps({"masterKeys": []}), "no masterKeys"),
    ):
        path.write_text(text)
        assert any(needle in p for p in keys.problems(path, None)), text
    generated = keys.load(None, None, tmp_path / "sys")
    assert generated.generated and keys.load(None, None, tmp_path / "sys").master == generated.master
    assert (tmp_path / "sys" / keys.GENERATED_FILE).stat().st_mode & 0o777 == 0o600


def test_rewrap_keeps_the_data_key_and_skips_what_is_current() -> None:
    old = keys.Keyring({"k1": os.urandom(32)})
    rec, (data_key,) = record.new_record(old, record.SSE_S3)
    assert rec.kek_id == "k1"
    new = keys.Keyring({**old.master, "k2": os.urandom(32)})
    moved = record.rewrapped(new, rec)
    assert moved is not None and moved.kek_id == "k2" and moved.object_id == rec.object_id
    assert record.data_key(keys.Keyring({"k2": new.master["k2"]}), moved) == data_key
    assert record.rewrapped(new, moved) is None
    customer = os.urandom(32)
    sse_c, _ = record.new_record(new, record.SSE_C, customer_key=customer, key_md5="m")
    assert record.rewrapped(new, sse_c) is None  # customer keys are not ours to re-wrap
    assert record.customer_key_matches(sse_c, customer) and not record.customer_key_matches(sse_c, os.urandom(32))
    assert record.Record.decode(sse_c.encode()) == sse_c


def test_dsse_needs_both_layers_and_binds_the_context(tmp_path: Path) -> None:
    from smarts3.sse.cipher import DualChunkCipher

    ring = keys.Keyring({"m": os.urandom(32)}, {"app": os.urandom(32)})
    rec, (k1, k2) = record.new_record(ring, record.SSE_DSSE, kms_key="app", enc_context='{"aws:s3:arn":"a"}')
    assert k1 != k2 and rec.wrapped != rec.wrapped2
    assert record.Record.decode(rec.encode()) == rec
    assert record.data_keys(ring, rec) == [k1, k2]
    dual = record.open_cipher(ring, rec)
    assert isinstance(dual, DualChunkCipher) and dual.tag_size == 32
    data = os.urandom(2 * C + 5)
    sealed = seal(dual, data)
    assert len(sealed) == 16 + len(data) + 3 * 32
    unsealer, fds = opened(tmp_path, dual, [sealed], (len(data),))
    assert unsealer.read(0, fds[0], len(data), C - 3, 10) == data[C - 3 : C + 7]
    # Either layer's key alone, or the layers swapped, opens nothing.
    for wrong in (DualChunkCipher(k1, os.urandom(32), rec.object_id), DualChunkCipher(k2, k1, rec.object_id)):
        with pytest.raises(IntegrityError):
            unsealer, fds = opened(tmp_path, wrong, [sealed], (len(data),))
            unsealer.read(0, fds[0], len(data), 0, 10)
    # A record whose context (or layer) was changed does not unwrap.
    from dataclasses import replace

    for bad in (replace(rec, enc_context='{"aws:s3:arn":"b"}'), replace(rec, wrapped=rec.wrapped2)):
        with pytest.raises(record.UnwrapFailed):
            record.data_keys(ring, bad)


def test_version_1_records_still_open_and_rewrap_keeps_their_version() -> None:
    """A record as the code before version 2 wrote it (RFC 3394 key wrap, no "v", no context)."""
    old_ring = keys.Keyring({"k1": os.urandom(32)})
    data_key = os.urandom(32)
    v1 = json.dumps({"m": "AES256", "w": base64.b64encode(keys.wrap(old_ring.master["k1"], data_key)).decode(),
                     "k": "k1", "o": base64.b64encode(os.urandom(16)).decode()})
    rec = record.Record.decode(v1)
    assert rec.version == 1 and record.data_key(old_ring, rec) == data_key
    assert rec.encode() == v1.replace(" ", "")  # re-encoded as it was: no "v" appears
    ring = keys.Keyring({**old_ring.master, "k2": os.urandom(32)})
    moved = record.rewrapped(ring, rec)
    assert moved is not None and moved.version == 1 and moved.kek_id == "k2"
    assert record.data_key(keys.Keyring({"k2": ring.master["k2"]}), moved) == data_key
    new, _ = record.new_record(ring, record.SSE_S3)
    assert new.version == 2 and json.loads(new.encode())["v"] == 2
