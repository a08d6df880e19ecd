"""AWS Signature Version 4, the pieces S3 signs: pure functions, no I/O.

Canonicalization follows what the AWS SDKs sign for S3 (botocore's
`S3SigV4Auth`): the path is URI-encoded once per segment, never normalized
(`//`, `.` and `..` are part of a key), and the query is sorted by encoded
name, then value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Final
from urllib.parse import quote, unquote_to_bytes

from smarts3.auth.query import Query

ALGORITHM: Final = "AWS4-HMAC-SHA256"
CHUNK_ALGORITHM: Final = "AWS4-HMAC-SHA256-PAYLOAD"
TRAILER_ALGORITHM: Final = "AWS4-HMAC-SHA256-TRAILER"
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()


def uri_encode(data: bytes, *, keep_slash: bool = False) -> str:
    """Percent-encode all but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~)."""
    return quote(data, safe="/" if keep_slash else "")


def canonical_uri(raw_path: bytes) -> str:
    """The path as AWS canonicalizes it for S3: decoded once, then re-encoded.

    Clients differ in what they leave unescaped on the wire (`!`, `*`, `'`,
    `(`, `)`, `=`...), but all sign the same AWS encoding of the key, so the
    decode/encode round trip makes those wire forms agree. `%2F` becomes `/`,
    as it does for AWS. No dot-segment or slash normalization: S3 keys keep them.
    """
    if not raw_path:
        return "/"
    if _UNRESERVED_PATH.fullmatch(raw_path):  # decoding and encoding again would give it back
        return raw_path.decode("ascii")
    return uri_encode(unquote_to_bytes(raw_path), keep_slash=True)


_UNRESERVED_PATH: Final = re.compile(rb"[A-Za-z0-9/_.~-]*")


def canonical_query(query: Query, *, exclude: Collection[str] = ()) -> str:
    """Decoded names and values, AWS-encoded (space as %20), sorted; `a` becomes `a=`.

    `+` is a literal plus, as the server reads it: the SDKs encode spaces as
    %20, and a `+` they sent unescaped is what they signed as %2B.
    """
    encoded = sorted(
        (uri_encode(p.name.encode("utf-8")), uri_encode(p.value.encode("utf-8")))
        for p in query.params
        if p.name not in exclude
    )
    return "&".join(f"{n}={v}" for n, v in encoded)


def raw_canonical_query(query: Query, *, exclude: Collection[str] = ()) -> str:
    """The query as sent, only sorted: what a client that signs its own wire form signs.

    botocore signs the query string of its presigned URLs this way; it equals
    `canonical_query` whenever the client escaped per AWS rules. Since names
    and values cannot hold a raw `&` or a name a raw `=`, the string still
    determines the decoded pairs that are served.
    """
    pairs = sorted((p.raw_name, p.raw_value or "") for p in query.params if p.name not in exclude)
    return "&".join(f"{n}={v}" for n, v in pairs)


def trim_header_value(value: str) -> str:
    """Trimall: strip, and collapse each run of whitespace to one space."""
    return " ".join(value.split())


def utf8_reading(value: str) -> str | None:
    """The header value read as UTF-8, when it differs from the latin-1 reading it arrived as.

    Servers decode header bytes as latin-1 (the ASGI servers do), which keeps every byte. Some
    clients (the Go and Java SDKs, browsers) send non-ASCII text as raw UTF-8 bytes and sign
    those bytes; botocore sends latin-1 bytes and signs the UTF-8 of the text. Both readings
    are tried; each is a one-to-one reading of the bytes as sent, so neither widens what a
    signature covers. None: ASCII, or not valid UTF-8, so there is only one reading.
    """
    if value.isascii():
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """`name:value\\n` per signed header, in the given (sorted) order.

    `headers` has lower-case names; a signed header that is absent counts as
    empty, which can only match if the client signed it empty.
    """
    return "".join(f"{name}:{trim_header_value(headers.get(name, ''))}\n" for name in signed_headers)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        (
            method.upper(),
            uri,
            query,
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope, sha256_hex(canonical_request)))


def chunk_string_to_sign(amz_date: str, scope: str, previous_signature: str, chunk_sha256: str) -> str:
    """What one aws-chunked chunk signs; `chunk_sha256` is the hex digest of its data."""
    return "\n".join((CHUNK_ALGORITHM, amz_date, scope, previous_signature, EMPTY_SHA256, chunk_sha256))


def trailer_string_to_sign(amz_date: str, scope: str, previous_signature: str, trailer_sha256: str) -> str:
    """What the trailer chunk signs; `trailer_sha256` covers the `name:value\\n` lines."""
    return "\n".join((TRAILER_ALGORITHM, amz_date, scope, previous_signature, trailer_sha256))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


# Four HMACs per request otherwise; keys change once a day per credential.
@lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning for a scope; `date` is YYYYMMDD."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, "aws4_request")


def sign(key: bytes, string: str) -> str:
    """Lower-case hex HMAC-SHA256 (hmac.digest: the one-shot C path, several times cheaper than hmac.new)."""
    return hmac.digest(key, string.encode("utf-8"), "sha256").hex()


def signatures_equal(expected: str, given: str) -> bool:
    """Constant-time comparison that tolerates any text in `given`."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))
