"""Decode and verify a request body as it streams, per the request's `AuthResult`.

    decoder = BodyDecoder(request.stream(), auth)
    async for piece in decoder:  # decoded payload bytes
        ...
    decoder.trailers  # {"x-amz-checksum-crc32": "...", ...}, complete once exhausted

Any failure raises AuthError from inside the iteration, so a store that
writes to a temp file and commits only after a clean end never keeps a bad
body. Bytes are passed on before they are proven: a signed chunk's bytes as
they arrive (its signature is checked at the chunk's end), a SIGNED (single
hex digest) body's until its end. So a consumer must not act on any of them
before the iteration has finished normally; in exchange nothing here holds
more than MAX_HELD bytes of a chunk, whatever the chunk size a client declares.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Final

from smarts3.auth import sigv4
from smarts3.auth.types import AuthError, AuthResult, ChunkSigning, PayloadMode

# A sanity bound on what a signed chunk may declare; memory does not grow with it.
MAX_CHUNK_SIZE: Final = 16 * 1024 * 1024
MAX_LINE: Final = 4096  # a chunk header: hex size plus `;chunk-signature=` and 64 hex
MAX_TRAILER_BYTES: Final = 16 * 1024
TRAILER_SIGNATURE: Final = "x-amz-trailer-signature"
# Small arrivals of a signed chunk are joined up to this before being passed on: one copy
# beats many trips through the consumer. The most of a chunk held here at any time.
MAX_HELD: Final = 64 * 1024
_SIGNATURE_EXT: Final = b"chunk-signature="
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_MIN_PIECE: Final = 16 * 1024


def _incomplete() -> AuthError:
    return AuthError(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
        400,
    )


def _malformed(detail: str) -> AuthError:
    return AuthError("InvalidRequest", f"Malformed aws-chunked body: {detail}", 400)


def _mismatch() -> AuthError:
    return AuthError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
    )


class _Reader:
    """Pulls lines and counted bytes out of arbitrarily split source pieces."""

    __slots__ = ("_cur", "_eof", "_it", "_pos")

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._it = source
        self._cur = b""
        self._pos = 0
        self._eof = False

    async def _fill(self) -> bool:
        """Make unread bytes available; False at end of input."""
        while self._pos >= len(self._cur):
            if self._eof:
                return False
            try:
                self._cur = bytes(await anext(self._it))
            except StopAsyncIteration:
                self._eof = True
                return False
            self._pos = 0
        return True

    async def at_eof(self) -> bool:
        return not await self._fill()

    async def readline(self, limit: int) -> bytes | None:
        """The next CRLF-terminated line without its CRLF; None at a clean end of input."""
        line = bytearray()
        while True:
            if not await self._fill():
                if not line:
                    return None
                raise _incomplete()
            cur, pos = self._cur, self._pos
            # Bounded search: a peer cannot make us scan or keep a huge "line".
            end = cur.find(b"\n", pos, pos + limit + 2 - len(line))
            if end < 0:
                line += cur[pos : pos + limit + 2]
                self._pos = len(cur)
                if len(line) > limit + 1:
                    raise _malformed("line too long")
                continue
            line += cur[pos:end]
            self._pos = end + 1
            if not line.endswith(b"\r"):
                raise _malformed("line not terminated by CRLF")
            del line[-1]
            if len(line) > limit:
                raise _malformed("line too long")
            return bytes(line)

    async def read(self, n: int) -> AsyncIterator[bytes]:
        """Exactly `n` bytes, as slices of the pieces they arrived in."""
        while n > 0:
            if not await self._fill():
                raise _incomplete()
            cur, pos = self._cur, self._pos
            take = min(n, len(cur) - pos)
            # Whole pieces pass through without a copy.
            yield cur if pos == 0 and take == len(cur) else cur[pos : pos + take]
            self._pos = pos + take
            n -= take

    async def expect_crlf(self) -> None:
        line = await self.readline(0)
        if line is None:
            raise _incomplete()


class BodyDecoder:
    """An async iterator over the decoded, verified payload of one request body."""

    def __init__(
        self,
        source: AsyncIterator[bytes],
        auth: AuthResult,
        *,
        max_chunk_size: int = MAX_CHUNK_SIZE,
    ) -> None:
        self._source = source
        self._auth = auth
        self._max_chunk = max_chunk_size
        self._trailers: dict[str, str] = {}
        self.decoded_bytes = 0
        self.finished = False

    @property
    def trailers(self) -> dict[str, str]:
        """Trailing headers (lower-case names, x-amz-trailer-signature excluded).

        Complete only once the iteration has ended normally.
        """
        return self._trailers

    def __aiter__(self) -> AsyncIterator[bytes]:
        mode = self._auth.payload
        if mode is PayloadMode.UNSIGNED:
            return self._passthrough()
        if mode is PayloadMode.SIGNED:
            return self._sha256_checked()
        return self._chunked()

    async def _passthrough(self) -> AsyncIterator[bytes]:
        async for piece in self._source:
            self.decoded_bytes += len(piece)
            yield piece
        self.finished = True

    async def _sha256_checked(self) -> AsyncIterator[bytes]:
        expected = self._auth.expected_sha256
        if expected is None:
            raise ValueError("a SIGNED payload needs expected_sha256")
        digest = hashlib.sha256()
        async for piece in self._source:
            digest.update(piece)
            self.decoded_bytes += len(piece)
            yield piece
        if not hmac.compare_digest(digest.hexdigest(), expected.lower()):
            raise AuthError(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        self.finished = True

    async def _chunked(self) -> AsyncIterator[bytes]:
        auth = self._auth
        signing = auth.chunk_signing
        signed = auth.payload in (
            PayloadMode.STREAMING_SIGNED,
            PayloadMode.STREAMING_SIGNED_TRAILER,
        )
        if signed and signing is None:
            raise ValueError("a signed streaming payload needs chunk_signing")
        verify = _ChunkVerifier(signing) if signed and signing is not None else None
        expected_total = auth.decoded_length
        reader = _Reader(aiter(self._source))

        while True:
            size = await self._chunk_header(reader, verify)
            if expected_total is not None and self.decoded_bytes + size > expected_total:
                raise _malformed("more data than x-amz-decoded-content-length")
            if verify is not None:
                # Verified incrementally: hashed and passed on as it arrives (a 16 MiB chunk
                # held whole until its end cost 16 MiB per connection); the signature is
                # checked at the chunk's end, before the iteration can finish.
                digest = hashlib.sha256()
                held = bytearray()
                async for piece in reader.read(size):
                    digest.update(piece)
                    small = len(piece) < _MIN_PIECE
                    if held and (not small or len(held) + len(piece) > MAX_HELD):
                        yield bytes(held)
                        held.clear()
                    if small:
                        held += piece
                    else:
                        yield piece
                if held:
                    yield bytes(held)
                if size:
                    await reader.expect_crlf()
                verify.check(digest.hexdigest())
            else:
                async for piece in reader.read(size):
                    yield piece
                if size:
                    await reader.expect_crlf()
            self.decoded_bytes += size
            if size == 0:
                break

        if expected_total is not None and self.decoded_bytes != expected_total:
            raise _incomplete()
        if auth.payload is PayloadMode.STREAMING_SIGNED:
            await self._end(reader)
        else:
            await self._read_trailers(reader, verify)
        self.finished = True

    async def _chunk_header(self, reader: _Reader, verify: _ChunkVerifier | None) -> int:
        line = await reader.readline(MAX_LINE)
        if line is None:
            raise _incomplete()
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
            raise _malformed("invalid chunk size")
        size = int(size_text, 16)
        if verify is not None:
            if size > self._max_chunk:
                raise _malformed(f"chunk larger than {self._max_chunk} bytes")
            ext = extensions.strip()
            if not ext.startswith(_SIGNATURE_EXT):
                raise _mismatch()
            verify.pending = ext[len(_SIGNATURE_EXT) :].decode("ascii", "replace")
        return size

    async def _end(self, reader: _Reader) -> None:
        # The final CRLF; tolerate a body that ends right after the last chunk.
        line = await reader.readline(0)
        if line is not None and not await reader.at_eof():
            raise _malformed("data after the final chunk")

    async def _read_trailers(self, reader: _Reader, verify: _ChunkVerifier | None) -> None:
        declared = set(self._auth.trailer_names)
        canonical: list[str] = []
        signature: str | None = None
        budget = MAX_TRAILER_BYTES
        while True:
            if budget <= 0:
                raise _malformed("trailers too large")
            line = await reader.readline(min(MAX_LINE, budget))
            if line is None or line == b"":  # end of trailers (EOF in place of CRLF tolerated)
                break
            budget -= len(line) + 2
            if signature is not None:
                raise _malformed("trailer after x-amz-trailer-signature")
            name_b, sep, value_b = line.partition(b":")
            name = name_b.decode("ascii", "replace").strip().lower()
            value = value_b.decode("utf-8", "replace").strip()
            if not sep or not name:
                raise _malformed("invalid trailer line")
            if name == TRAILER_SIGNATURE and verify is not None:
                signature = value
                continue
            if name not in declared:
                raise AuthError("InvalidRequest", f"The trailer {name} was not declared in x-amz-trailer", 400)
            if name in self._trailers:
                raise _malformed(f"duplicate trailer {name}")
            self._trailers[name] = value
            canonical.append(f"{name}:{value}\n")
        if line is not None and not await reader.at_eof():
            raise _malformed("data after the trailers")
        missing = declared - self._trailers.keys()
        if missing:
            raise AuthError(
                "InvalidRequest",
                f"The declared trailer {sorted(missing)[0]} was not sent",
                400,
            )
        if verify is not None:
            if signature is None:
                raise _mismatch()
            verify.check_trailer(canonical, signature)


class _ChunkVerifier:
    """The chain of chunk signatures, seeded by the request's own signature."""

    __slots__ = ("_previous", "_signing", "pending")

    def __init__(self, signing: ChunkSigning) -> None:
        self._signing = signing
        self._previous = signing.seed_signature
        self.pending = ""  # the signature the current chunk's header claims

    def _sign(self, string: str) -> str:
        return sigv4.sign(self._signing.signing_key, string)

    def check(self, chunk_sha256: str) -> None:
        s = self._signing
        expected = self._sign(sigv4.chunk_string_to_sign(s.amz_date, s.scope, self._previous, chunk_sha256))
        if not sigv4.signatures_equal(expected, self.pending):
            raise _mismatch()
        self._previous = expected

    def check_trailer(self, lines: list[str], given: str) -> None:
        s = self._signing
        candidates = ["".join(lines)]
        if len(lines) > 1:  # signers differ on order; both are the same set of trailers
            candidates.append("".join(sorted(lines)))
        for text in candidates:
            expected = self._sign(
                sigv4.trailer_string_to_sign(s.amz_date, s.scope, self._previous, sigv4.sha256_hex(text))
            )
            if sigv4.signatures_equal(expected, given):
                return
        raise _mismatch()
