"""Values shared by the authentication modules and their callers."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from smarts3.auth.query import Query, QueryError, parse_query


class AuthError(Exception):
    """An authentication failure, already named as S3 names it.

    `code` is the S3 error code (SignatureDoesNotMatch, InvalidAccessKeyId,
    RequestTimeTooSkewed, AccessDenied, AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError, XAmzContentSHA256Mismatch,
    IncompleteBody, InvalidArgument, InvalidRequest, InvalidURI, MissingSecurityHeader...),
    `status` its HTTP status. Messages never contain secrets or signatures.
    `access_key` is the key id the request claimed, for the access log (authenticate sets it).
    """

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.access_key: str | None = None


class CredentialStore(Protocol):
    def secret_for(self, access_key: str) -> str | None:
        """The secret of a known access key, or None."""
        ...


@dataclass(frozen=True, slots=True)
class RequestView:
    """The parts of an HTTP request a signature covers, framework-free.

    `query` is parsed from `raw_query` here and nowhere else: the signature
    checks, the classifier and the handlers all read it. Building a view of a
    query that cannot be parsed raises AuthError (400).
    """

    method: str
    raw_path: bytes  # exactly as sent, still percent-encoded, no query
    raw_query: bytes  # exactly as sent, without the leading '?'
    # Lower-case names; repeated headers joined with ',' in arrival order.
    headers: Mapping[str, str]
    query: Query = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            query = parse_query(self.raw_query)
        except QueryError as exc:
            raise AuthError(exc.code, exc.message, 400) from None
        object.__setattr__(self, "query", query)


class PayloadMode(enum.Enum):
    UNSIGNED = "UNSIGNED-PAYLOAD"  # also: presigned URLs, SigV2, anonymous
    SIGNED = "SIGNED"  # x-amz-content-sha256 is a hex digest to check
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def chunked(self) -> bool:
        return self not in (PayloadMode.UNSIGNED, PayloadMode.SIGNED)


@dataclass(frozen=True, slots=True)
class ChunkSigning:
    """What a SigV4 streaming body needs to check its chunk signatures."""

    signing_key: bytes
    seed_signature: str
    amz_date: str  # the request's X-Amz-Date
    scope: str  # date/region/service/aws4_request


@dataclass(frozen=True, slots=True)
class AuthResult:
    access_key: str | None  # None: anonymous request
    signature_version: int  # 0 anonymous, 2 or 4
    payload: PayloadMode
    expected_sha256: str | None = None  # hex, when payload is SIGNED
    chunk_signing: ChunkSigning | None = None  # when payload is STREAMING_SIGNED*
    trailer_names: Sequence[str] = ()  # lower-case, from x-amz-trailer
    decoded_length: int | None = None  # x-amz-decoded-content-length
