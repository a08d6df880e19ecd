"""BodyDecoder: aws-chunked framing, chunk and trailer signatures, digests, streaming."""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
import hmac
import io
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum

from smarts3 import checksums
from smarts3.auth.chunked import MAX_CHUNK_SIZE, MAX_HELD, MAX_TRAILER_BYTES, BodyDecoder
from smarts3.auth.credentials import StaticCredentials
from smarts3.auth.types import AuthError, AuthResult, ChunkSigning, PayloadMode, RequestView
from smarts3.auth.verify import authenticate

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDS = StaticCredentials({AKID: SECRET})
EMPTY = hashlib.sha256(b"").hexdigest()
KIB = 1024


# --- an independent aws-chunked encoder (its own HMAC code, not smarts3's) -------------------


@dataclass
class Signer:
    key: bytes
    seed: str
    amz_date: str
    scope: str


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def derive_key(secret: str, date: str, region: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def iter_chunked(
    pieces: Iterator[bytes] | Sequence[bytes],
    *,
    signer: Signer | None = None,
    trailers: Sequence[tuple[str, str]] | None = None,
) -> Iterator[bytes]:
    """Frame `pieces` as aws-chunked: signed when `signer`, trailers when given."""
    previous = signer.seed if signer else ""

    def header(data: bytes) -> bytes:
        nonlocal previous
        if signer is None:
            return f"{len(data):x}\r\n".encode()
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                signer.amz_date,
                signer.scope,
                previous,
                EMPTY,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        previous = hmac.new(signer.key, sts.encode(), hashlib.sha256).hexdigest()
        return f"{len(data):x};chunk-signature={previous}\r\n".encode()

    for data in pieces:
        if data:
            yield header(data) + data + b"\r\n"
    yield header(b"")
    if trailers is None:
        yield b"\r\n"
        return
    canonical = "".join(f"{name}:{value}\n" for name, value in trailers)
    yield canonical.replace("\n", "\r\n").encode()
    if signer is not None:
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                signer.amz_date,
                signer.scope,
                previous,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        signature = hmac.new(signer.key, sts.encode(), hashlib.sha256).hexdigest()
        yield f"x-amz-trailer-signature:{signature}\r\n".encode()
    yield b"\r\n"


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


async def _source(pieces: Sequence[bytes] | Iterator[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def decode(auth: AuthResult, pieces: Sequence[bytes] | Iterator[bytes]) -> tuple[bytes, dict[str, str], list[bytes]]:
    """Run a decoder over `pieces`; return the payload, the trailers and the yielded pieces."""

    async def run() -> tuple[bytes, dict[str, str], list[bytes]]:
        decoder = BodyDecoder(_source(pieces), auth)
        out = [piece async for piece in decoder]
        assert decoder.finished
        return b"".join(out), decoder.trailers, out

    return asyncio.run(run())


def decode_error(auth: AuthResult, pieces: Sequence[bytes]) -> tuple[AuthError, bytes]:
    """The AuthError a body raises, and what was yielded before it."""
    got: list[bytes] = []

    async def run() -> None:
        async for piece in BodyDecoder(_source(pieces), auth):
            got.append(piece)

    with pytest.raises(AuthError) as info:
        asyncio.run(run())
    return info.value, b"".join(got)


# --- the AWS documentation's chunked example --------------------------------------------------

AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def aws_example() -> tuple[AuthResult, bytes]:
    """The S3 docs' 'Example: PUT Object' (chunked): its request, as authenticate sees it."""
    signed = (
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class"
    )
    req = RequestView(
        "PUT",
        b"/examplebucket/chunkObject.txt",
        b"",
        {
            "host": "s3.amazonaws.com",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "authorization": (
                f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,"
                f"SignedHeaders={signed},Signature={AWS_SEED}"
            ),
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            "content-length": "66824",
        },
    )
    auth = authenticate(req, CREDS, now=calendar.timegm((2013, 5, 24, 0, 0, 0)))
    sig1, sig2, sig3 = AWS_CHUNK_SIGNATURES
    body = (
        f"10000;chunk-signature={sig1}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={sig2}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={sig3}\r\n\r\n".encode()
    )
    return auth, body


def test_aws_example_request_authenticates() -> None:
    auth, body = aws_example()
    assert auth.payload is PayloadMode.STREAMING_SIGNED
    assert auth.chunk_signing is not None
    assert auth.chunk_signing.seed_signature == AWS_SEED
    assert auth.chunk_signing.scope == "20130524/us-east-1/s3/aws4_request"
    assert len(body) == 66824  # the example's Content-Length: our framing is the documented one


@pytest.mark.parametrize("piece_size", [1, 7, 8 * KIB - 1, 64 * KIB, 66824])
def test_aws_example_body(piece_size: int) -> None:
    auth, body = aws_example()
    data, trailers, _ = decode(auth, split(body, piece_size))
    assert data == b"a" * 66560
    assert trailers == {}


def test_aws_example_is_also_what_our_encoder_makes() -> None:
    _, body = aws_example()
    signer = Signer(
        derive_key(SECRET, "20130524", "us-east-1"),
        AWS_SEED,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
    )
    assert b"".join(iter_chunked([b"a" * 65536, b"a" * 1024], signer=signer)) == body


def test_aws_example_tampered() -> None:
    auth, body = aws_example()
    flipped = bytearray(body)
    flipped[10_000] ^= 1  # inside the first chunk's data
    err, yielded = decode_error(auth, split(bytes(flipped), 4096))
    assert err.code == "SignatureDoesNotMatch"
    # Passed on unproven (the consumer discards it on the raise), but never past the bad chunk.
    assert len(yielded) == 65536

    second = body.index(b"\r\n400;") + 200  # inside the second chunk's data
    flipped = bytearray(body)
    flipped[second] ^= 1
    err, yielded = decode_error(auth, split(bytes(flipped), 4096))
    assert err.code == "SignatureDoesNotMatch"
    assert len(yielded) == 65536 + 1024  # raised at the end of the second chunk, before the last

    bad_sig = body.replace(AWS_CHUNK_SIGNATURES[2].encode(), b"0" * 64)
    assert decode_error(auth, [bad_sig])[0].code == "SignatureDoesNotMatch"
    no_sig = body.replace(f";chunk-signature={AWS_CHUNK_SIGNATURES[1]}".encode(), b"")
    assert decode_error(auth, [no_sig])[0].code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b[: len(b) - 60], "IncompleteBody"),  # final chunk cut off
        (lambda b: b[:30000], "IncompleteBody"),  # inside a chunk
        (lambda b: b + b"junk", "InvalidRequest"),  # data after the end
        (lambda b: b.replace(b"10000;", b"1000g;", 1), "InvalidRequest"),  # bad hex size
        (lambda b: b.replace(b"10000;", b"1000;", 1), "InvalidRequest"),  # size disagrees
        (lambda b: b.replace(b"\r\n400;", b"\n400;", 1), "InvalidRequest"),  # missing CR
    ],
)
def test_aws_example_malformed(mutate: Any, code: str) -> None:
    auth, body = aws_example()
    err, _ = decode_error(auth, split(mutate(body), 1000))
    assert err.code == code
    assert err.status == 400


def test_decoded_length_must_match() -> None:
    auth, body = aws_example()
    err, _ = decode_error(replace(auth, decoded_length=66559), [body])
    assert err.code in ("InvalidRequest", "IncompleteBody")
    err, _ = decode_error(replace(auth, decoded_length=66561), [body])
    assert err.code == "IncompleteBody"


def test_final_crlf_may_be_missing() -> None:
    auth, body = aws_example()
    assert decode(auth, [body[:-2]])[0] == b"a" * 66560


def test_oversized_signed_chunk_rejected() -> None:
    auth, _ = aws_example()
    body = b"1000001;chunk-signature=" + b"0" * 64 + b"\r\n"
    err, _ = decode_error(replace(auth, decoded_length=1 << 30), [body])
    assert (err.code, err.status) == ("InvalidRequest", 400)


def test_overlong_chunk_header_rejected() -> None:
    auth, _ = aws_example()
    err, _ = decode_error(auth, [b"1" * 10_000])
    assert err.code == "InvalidRequest"


# --- signed requests from botocore, then our own chunks --------------------------------------


class StreamingSigner(S3SigV4Auth):
    """botocore's SigV4 signer, declaring a streaming payload instead of hashing it."""

    def __init__(self, payload: str) -> None:
        super().__init__(Credentials(AKID, SECRET), "s3", "us-west-2")
        self._payload = payload

    def payload(self, request: Any) -> str:
        return self._payload


def streaming_request(payload: str, length: int, trailer: str | None = None) -> tuple[AuthResult, Signer | None]:
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(length)}
    if trailer:
        headers["X-Amz-Trailer"] = trailer
    request = AWSRequest(method="PUT", url="http://localhost:9000/bucket/big.bin", headers=headers)
    StreamingSigner(payload).add_auth(request)
    prepared = request.prepare()
    lower = {k.lower(): v for k, v in prepared.headers.items()}
    lower["host"] = "localhost:9000"
    auth = authenticate(RequestView("PUT", b"/bucket/big.bin", b"", lower), CREDS)
    if auth.chunk_signing is None:
        return auth, None
    seed = lower["authorization"].rsplit("Signature=", 1)[1]
    amz_date = lower["x-amz-date"]
    signer = Signer(
        derive_key(SECRET, amz_date[:8], "us-west-2"),
        seed,
        amz_date,
        f"{amz_date[:8]}/us-west-2/s3/aws4_request",
    )
    return auth, signer


PAYLOAD = os.urandom(300_001)


@pytest.mark.parametrize("piece_size", [1, 7, 64 * KIB])
def test_streaming_signed(piece_size: int) -> None:
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", len(PAYLOAD))
    assert auth.payload is PayloadMode.STREAMING_SIGNED
    body = b"".join(iter_chunked(split(PAYLOAD, 64 * KIB), signer=signer))
    data, trailers, _ = decode(auth, split(body, piece_size))
    assert data == PAYLOAD
    assert trailers == {}


@pytest.mark.parametrize("piece_size", [1, 7, 64 * KIB])
def test_streaming_signed_trailer(piece_size: int) -> None:
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", len(PAYLOAD), "x-amz-checksum-crc32")
    assert auth.payload is PayloadMode.STREAMING_SIGNED_TRAILER
    assert auth.trailer_names == ("x-amz-checksum-crc32",)
    trailers = [("x-amz-checksum-crc32", crc32_b64(PAYLOAD))]
    body = b"".join(iter_chunked(split(PAYLOAD, 8 * KIB), signer=signer, trailers=trailers))
    data, got, _ = decode(auth, split(body, piece_size))
    assert data == PAYLOAD
    assert got == {"x-amz-checksum-crc32": crc32_b64(PAYLOAD)}
    hasher = checksums.new_hasher("CRC32")
    hasher.update(data)
    assert got["x-amz-checksum-crc32"] == hasher.b64()


def test_streaming_signed_trailer_tampered() -> None:
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", 5, "x-amz-checksum-crc32")
    good = [("x-amz-checksum-crc32", crc32_b64(b"hello"))]
    body = b"".join(iter_chunked([b"hello"], signer=signer, trailers=good))
    assert decode(auth, [body])[0] == b"hello"

    changed = body.replace(crc32_b64(b"hello").encode(), crc32_b64(b"jello").encode())
    assert decode_error(auth, [changed])[0].code == "SignatureDoesNotMatch"
    unsigned = b"".join(iter_chunked([b"hello"], signer=signer, trailers=good))
    unsigned = unsigned[: unsigned.index(b"x-amz-trailer-signature")] + b"\r\n"
    assert decode_error(auth, [unsigned])[0].code == "SignatureDoesNotMatch"

    undeclared = [("x-amz-checksum-sha256", "x"), *good]
    body = b"".join(iter_chunked([b"hello"], signer=signer, trailers=undeclared))
    err = decode_error(auth, [body])[0]
    assert (err.code, err.status) == ("InvalidRequest", 400)

    body = b"".join(iter_chunked([b"hello"], signer=signer, trailers=[]))
    assert decode_error(auth, [body])[0].code == "InvalidRequest"  # declared, never sent


def test_wrong_seed_fails_first_chunk() -> None:
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 5)
    assert signer is not None
    signer.seed = "0" * 64
    body = b"".join(iter_chunked([b"hello"], signer=signer))
    assert decode_error(auth, [body])[0].code == "SignatureDoesNotMatch"


def test_reordered_chunks_fail() -> None:
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 10)
    frames = list(iter_chunked([b"aaaaa", b"bbbbb"], signer=signer))
    body = frames[1] + frames[0] + b"".join(frames[2:])
    assert decode_error(auth, [body])[0].code == "SignatureDoesNotMatch"


# --- unsigned trailer: bodies made by botocore itself -----------------------------------------


@pytest.mark.parametrize("piece_size", [1, 7, 64 * KIB])
def test_unsigned_trailer_from_botocore(piece_size: int) -> None:
    wrapper = AwsChunkedWrapper(
        io.BytesIO(PAYLOAD),
        checksum_cls=CrtCrc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=64 * KIB,
    )
    body = wrapper.read()
    auth, _ = streaming_request("STREAMING-UNSIGNED-PAYLOAD-TRAILER", len(PAYLOAD), "x-amz-checksum-crc32")
    assert auth.payload is PayloadMode.STREAMING_UNSIGNED_TRAILER
    data, trailers, _ = decode(auth, split(body, piece_size))
    assert data == PAYLOAD
    assert trailers == {"x-amz-checksum-crc32": crc32_b64(PAYLOAD)}


def test_unsigned_trailer_rejects_signature_and_junk() -> None:
    auth, _ = streaming_request("STREAMING-UNSIGNED-PAYLOAD-TRAILER", 5, "x-amz-checksum-crc32")
    good = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + crc32_b64(b"hello").encode() + b"\r\n\r\n"
    assert decode(auth, [good])[1] == {"x-amz-checksum-crc32": crc32_b64(b"hello")}
    signed = good[:-2] + b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n\r\n"
    assert decode_error(auth, [signed])[0].code == "InvalidRequest"
    assert decode_error(auth, [good + b"x"])[0].code == "InvalidRequest"
    assert decode_error(auth, [good.replace(b"hello", b"hell")])[0].code in (
        "InvalidRequest",
        "IncompleteBody",
    )
    long_line = good[:-2] + b"x-amz-checksum-crc32:" + b"A" * 20_000 + b"\r\n\r\n"
    assert decode_error(auth, [long_line])[0].code == "InvalidRequest"


def test_unsigned_trailer_passes_large_pieces_through() -> None:
    auth, _ = streaming_request("STREAMING-UNSIGNED-PAYLOAD-TRAILER", len(PAYLOAD))
    body = b"".join(iter_chunked(split(PAYLOAD, 1024 * KIB), trailers=[]))
    pieces = split(body, 64 * KIB)
    data, _, out = decode(auth, pieces)
    assert data == PAYLOAD
    assert len(out) <= len(pieces) + 1  # slices of what arrived, never byte by byte
    assert any(piece is original for piece in out for original in pieces)  # zero-copy


# --- plain bodies -----------------------------------------------------------------------------


def test_unsigned_passthrough() -> None:
    auth = AuthResult(None, 0, PayloadMode.UNSIGNED)
    pieces = [b"a", b"", b"bc" * 1000]
    data, trailers, out = decode(auth, pieces)
    assert data == b"a" + b"bc" * 1000
    assert out == pieces
    assert trailers == {}


def test_signed_digest() -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    auth = AuthResult(AKID, 4, PayloadMode.SIGNED, expected_sha256=digest)
    assert decode(auth, split(PAYLOAD, 7919))[0] == PAYLOAD

    wrong = replace(auth, expected_sha256=hashlib.sha256(b"x").hexdigest())
    err, yielded = decode_error(wrong, split(PAYLOAD, 7919))
    assert (err.code, err.status) == ("XAmzContentSHA256Mismatch", 400)
    assert "x-amz-content-sha256" in err.message
    assert yielded == PAYLOAD  # raised at the end, before a normal finish


# --- memory stays flat ------------------------------------------------------------------------


def test_large_signed_body_in_bounded_memory() -> None:
    """32 MiB in 1 MiB signed chunks, arriving in 64 KiB pieces, never held whole."""
    total, chunk, piece = 32 * 1024 * KIB, 1024 * KIB, 64 * KIB
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", total, "x-amz-checksum-crc32")
    assert signer is not None
    count = total // chunk

    def wire() -> Iterator[bytes]:
        # Frames made lazily from one block, so the test itself stays small too.
        block = os.urandom(chunk)
        crc = 0
        empty = Signer(signer.key, signer.seed, signer.amz_date, signer.scope)
        block_sha = hashlib.sha256(block).hexdigest()
        for _ in range(count):
            sts = "\n".join(
                ["AWS4-HMAC-SHA256-PAYLOAD", empty.amz_date, empty.scope, empty.seed, EMPTY,
                 block_sha]
            )  # fmt: skip
            empty.seed = hmac.new(empty.key, sts.encode(), hashlib.sha256).hexdigest()
            crc = zlib.crc32(block, crc)
            yield f"{chunk:x};chunk-signature={empty.seed}\r\n".encode()
            yield from split(block, piece)
            yield b"\r\n"
        value = base64.b64encode(crc.to_bytes(4, "big")).decode()
        yield from iter_chunked([], signer=empty, trailers=[("x-amz-checksum-crc32", value)])

    async def run() -> tuple[int, int, dict[str, str]]:
        tracemalloc.start()
        try:
            decoder = BodyDecoder(_source(wire()), auth)
            size = 0
            async for data in decoder:
                size += len(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return size, peak, decoder.trailers

    size, peak, trailers = asyncio.run(run())
    assert size == total
    assert list(trailers) == ["x-amz-checksum-crc32"]
    assert peak < 2 * chunk + 4 * piece  # the test's block and its slices; no chunk is held whole


# --- signed chunks are verified incrementally -----------------------------------------------


def _one_chunk_wire(signer: Signer, size: int, piece: int, *, signature: str | None = None) -> Iterator[bytes]:
    """One signed chunk of `size` zero bytes in `piece`-sized arrivals, then the final chunk."""
    block = bytes(piece)
    digest = hashlib.sha256()
    for _ in range(size // piece):
        digest.update(block)
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signer.amz_date, signer.scope, signer.seed, EMPTY,
                     digest.hexdigest()])  # fmt: skip
    good = hmac.new(signer.key, sts.encode(), hashlib.sha256).hexdigest()
    yield f"{size:x};chunk-signature={signature or good}\r\n".encode()
    for _ in range(size // piece):
        yield block
    yield b"\r\n"
    yield from iter_chunked([], signer=Signer(signer.key, good, signer.amz_date, signer.scope))


def test_signed_chunk_is_passed_on_before_its_end() -> None:
    """Bytes leave as they arrive, not when the chunk's signature can be checked."""
    size, piece = 1024 * KIB, 64 * KIB
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", size)
    assert signer is not None
    pulled = 0

    async def source() -> AsyncIterator[bytes]:
        nonlocal pulled
        for data in _one_chunk_wire(signer, size, piece):
            pulled += 1
            yield data

    async def run() -> tuple[int, int]:
        first_seen_at = -1
        total = 0
        async for data in BodyDecoder(source(), auth):
            if first_seen_at < 0:
                first_seen_at = pulled
            total += len(data)
        return first_seen_at, total

    first_seen_at, total = asyncio.run(run())
    assert total == size
    assert first_seen_at <= 2  # the chunk's header and its first piece, of 16 pieces


@pytest.mark.parametrize("tampered", [False, True])
def test_largest_signed_chunk_in_bounded_memory(tampered: bool) -> None:
    """A 16 MiB chunk costs the decoder no more than a piece, and a bad one still fails at its end."""
    size, piece = MAX_CHUNK_SIZE, 64 * KIB
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", size)
    assert signer is not None

    async def run() -> tuple[int, int, AuthError | None]:
        total, error = 0, None
        tracemalloc.start()
        try:
            decoder = BodyDecoder(
                _source(_one_chunk_wire(signer, size, piece, signature="f" * 64 if tampered else None)), auth
            )
            try:
                async for data in decoder:
                    total += len(data)
            except AuthError as exc:
                error = exc
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert decoder.finished is (error is None)
        return total, peak, error

    total, peak, error = asyncio.run(run())
    assert total == size  # all of it passed on, in both cases: the check comes at the chunk's end
    assert peak < 4 * piece
    if tampered:
        assert error is not None and error.code == "SignatureDoesNotMatch"
    else:
        assert error is None


def test_small_arrivals_are_joined_up_to_max_held() -> None:
    size = 200 * KIB
    auth, signer = streaming_request("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", size)
    assert signer is not None
    data, _, out = decode(auth, list(_one_chunk_wire(signer, size, 100 * 8)))
    assert data == bytes(size)
    assert max(len(p) for p in out) <= MAX_HELD
    assert len(out) <= size // (MAX_HELD - 800) + 1


def test_trailer_section_is_bounded() -> None:
    auth, _ = streaming_request("STREAMING-UNSIGNED-PAYLOAD-TRAILER", 5, "x-amz-checksum-crc32")
    lines = b"".join(b"x-amz-meta-%d:%s\r\n" % (i, b"v" * 1000) for i in range(MAX_TRAILER_BYTES // 1000 + 2))
    body = b"5\r\nhello\r\n0\r\n" + lines + b"\r\n"
    err, _ = decode_error(auth, [body])
    assert (err.code, err.status) == ("InvalidRequest", 400)


def test_chunk_signing_is_frozen() -> None:
    # ChunkSigning is a frozen value: the decoder never mutates what verify handed over.
    signing = ChunkSigning(b"k", "s", "d", "scope")
    with pytest.raises(AttributeError):
        signing.seed_signature = "x"  # type: ignore[misc]
