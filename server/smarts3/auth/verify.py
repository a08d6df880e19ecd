"""Authenticate one S3 request: SigV4 or SigV2, header or query, or anonymous.

Only the request line and headers are checked here; the body is verified
while it streams, by `smarts3.auth.chunked.BodyDecoder` with the returned
`AuthResult`.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
import time
from collections.abc import Callable, Collection, Mapping
from email.utils import parsedate_to_datetime
from typing import Final

from smarts3.auth import sigv2, sigv4
from smarts3.auth.chunked import TRAILER_SIGNATURE
from smarts3.auth.types import (
    AuthError,
    AuthResult,
    ChunkSigning,
    CredentialStore,
    PayloadMode,
    RequestView,
)

MAX_SKEW_SECONDS: Final = 15 * 60
MAX_PRESIGN_EXPIRES: Final = 7 * 24 * 3600

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_SIGNED_DIGITS = re.compile(r"-?[0-9]{1,19}")
_YYYYMMDD = re.compile(r"[0-9]{8}")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# A claimed key id goes into the access log only in this shape (ids are 3-128 such characters).
_KEY_ID = re.compile(r"[A-Za-z0-9_.+=@-]{1,128}")
_CREDENTIAL_IN_HEADER = re.compile(r"Credential=([^/,\s]+)/")
_STREAMING: Final = {mode.value: mode for mode in PayloadMode if mode.chunked}
_SIGNED_STREAMING: Final = (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)

_V4_QUERY_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_V2_QUERY_PARAMS: Final = ("AWSAccessKeyId", "Signature", "Expires")
# Headers a presigned URL cannot carry in its signature but that only describe
# the body framing, which the payload checks cover anyway.
_PRESIGN_UNSIGNED_OK: Final = frozenset(
    {"x-amz-content-sha256", "x-amz-date", "x-amz-decoded-content-length", "x-amz-trailer"}
)

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)


def _mismatch() -> AuthError:
    return AuthError("SignatureDoesNotMatch", _MISMATCH, 403)


def _expired() -> AuthError:
    return AuthError("AccessDenied", "Request has expired", 403)


def _skewed() -> AuthError:
    return AuthError(
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
        403,
    )


def _malformed(message: str) -> AuthError:
    return AuthError("AuthorizationHeaderMalformed", f"The authorization header is malformed; {message}", 400)


def _query_error(message: str) -> AuthError:
    return AuthError("AuthorizationQueryParametersError", message, 400)


def authenticate(
    req: RequestView,
    creds: CredentialStore,
    *,
    vhost_bucket: str | None = None,
    now: float | None = None,
) -> AuthResult:
    """Check the request's signature; raise AuthError, or say who signed and how the body is."""
    now = time.time() if now is None else now
    params = _auth_params(req)
    try:
        return _verify(req, creds, params, vhost_bucket, now)
    except AuthError as exc:
        exc.access_key = claimed_access_key(req.headers.get("authorization"), params)
        raise


def unverified(req: RequestView) -> AuthResult:
    """`--auth none`: how the body is framed, as the request declares it; no signature is checked.

    Any key is accepted there (as LocalStack and moto do), so there is no secret to check a
    chunk signature with: a signed aws-chunked body is decoded as unsigned chunks (the
    signature extensions and trailer ignored), never stored raw. A declared sha256 is still
    checked: it protects the body, not the sender.
    """
    mode, digest = _payload_mode(req, v4_header="x-amz-content-sha256" in req.headers)
    trailer_signature: tuple[str, ...] = ()
    if mode is PayloadMode.STREAMING_SIGNED_TRAILER:
        trailer_signature = (TRAILER_SIGNATURE,)  # accepted as a plain trailer and never read
    if mode in _SIGNED_STREAMING:
        mode = PayloadMode.STREAMING_UNSIGNED_TRAILER
    result = _result(req, None, 0, mode, digest, None)
    return dataclasses.replace(result, trailer_names=(*result.trailer_names, *trailer_signature))


def claimed_access_key(authorization: str | None, params: Mapping[str, str]) -> str | None:
    """The access key id a request names, if well-formed: for the log line of a refused request.

    Only the id: the signature next to it is never returned. Anything outside the characters of
    a key id (a client's free text) is not returned either.
    """
    if authorization is not None:
        if authorization.startswith(sigv4.ALGORITHM + " "):
            found = _CREDENTIAL_IN_HEADER.search(authorization)
            claimed = found.group(1) if found else None
        else:
            claimed = authorization[4:].strip().rpartition(":")[0] if authorization.startswith("AWS ") else None
    elif "X-Amz-Credential" in params:
        claimed = params["X-Amz-Credential"].partition("/")[0]
    else:
        claimed = params.get("AWSAccessKeyId")
    return claimed if claimed and _KEY_ID.fullmatch(claimed) else None


def _verify(
    req: RequestView, creds: CredentialStore, params: Mapping[str, str], vhost_bucket: str | None, now: float
) -> AuthResult:
    # An empty Authorization header authenticates nobody: the request is anonymous, and is
    # refused (403 AccessDenied) wherever access needs a credential, as AWS refuses it.
    authorization = req.headers.get("authorization") or None
    v4_query = any(name in params for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"))
    v2_query = "AWSAccessKeyId" in params or "Signature" in params
    if (authorization is not None) + v4_query + v2_query > 1:
        raise AuthError(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            400,
        )
    if authorization is not None:
        if authorization.startswith(sigv4.ALGORITHM + " "):
            return _v4_header(req, creds, authorization, now)
        if authorization.startswith("AWS "):
            return _v2_header(req, creds, authorization, vhost_bucket, now)
        raise AuthError("InvalidArgument", "Unsupported Authorization Type", 400)
    if v4_query:
        return _v4_query(req, creds, params, now)
    if v2_query:
        return _v2_query(req, creds, params, vhost_bucket, now)
    mode, digest = _payload_mode(req, v4_header=False)
    return _result(req, None, 0, mode, digest, None)


# --- shared pieces -------------------------------------------------------------------------


def _auth_params(req: RequestView) -> dict[str, str]:
    """The query parameters the auth schemes read (the parse has refused duplicates)."""
    return {
        name: value for name, value in req.query.items() if name in _V2_QUERY_PARAMS or name[:6].lower() == "x-amz-"
    }


def _payload_mode(req: RequestView, *, v4_header: bool) -> tuple[PayloadMode, str | None]:
    value = req.headers.get("x-amz-content-sha256")
    if value is None:
        if v4_header:
            raise AuthError(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                400,
            )
        return PayloadMode.UNSIGNED, None
    value = value.strip()
    if value == sigv4.UNSIGNED_PAYLOAD:
        return PayloadMode.UNSIGNED, None
    if _HEX64.fullmatch(value):
        # Checked even when the signature does not cover it: a client that
        # declares a digest wants the body verified against it.
        return PayloadMode.SIGNED, value.lower()
    mode = _STREAMING.get(value)
    if mode is None:
        raise AuthError(
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
            "or a valid sha256 value.",
            400,
        )
    if mode in _SIGNED_STREAMING and not v4_header:
        raise AuthError(
            "InvalidRequest",
            f"{value} requires AWS Signature Version 4 in the Authorization header",
            400,
        )
    return mode, None


def _result(
    req: RequestView,
    access_key: str | None,
    version: int,
    mode: PayloadMode,
    digest: str | None,
    chunk_signing: ChunkSigning | None,
) -> AuthResult:
    trailer_names = tuple(
        name.strip().lower() for name in req.headers.get("x-amz-trailer", "").split(",") if name.strip()
    )
    decoded_length = None
    raw_length = req.headers.get("x-amz-decoded-content-length")
    if raw_length is not None:
        if not _DIGITS.fullmatch(raw_length.strip()):
            raise AuthError("InvalidArgument", "Invalid x-amz-decoded-content-length", 400)
        decoded_length = int(raw_length)
    if mode.chunked and decoded_length is None:
        raise AuthError(
            "MissingContentLength",
            "You must provide the Content-Length HTTP header (x-amz-decoded-content-length).",
            411,
        )
    return AuthResult(
        access_key=access_key,
        signature_version=version,
        payload=mode,
        expected_sha256=digest,
        chunk_signing=chunk_signing,
        trailer_names=trailer_names,
        decoded_length=decoded_length,
    )


def _secret(creds: CredentialStore, access_key: str) -> str:
    secret = creds.secret_for(access_key)
    if secret is None:
        raise AuthError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
        )
    return secret


def _parse_amz_date(value: str) -> float | None:
    # Every request of the same second carries the same x-amz-date: parsed once.
    if value in _amz_dates:
        return _amz_dates[value]
    when = _parse_amz_date_uncached(value)
    if len(_amz_dates) >= 64:
        _amz_dates.clear()
    _amz_dates[value] = when
    return when


_amz_dates: dict[str, float | None] = {}


def _parse_amz_date_uncached(value: str) -> float | None:
    value = value.strip()
    if not _AMZ_DATE.fullmatch(value):
        return None
    # Sliced by hand: time.strptime costs more than the rest of a signature check.
    fields = (int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]), int(value[11:13]), int(value[13:15]))
    if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] < 62):
        return None
    return float(calendar.timegm((*fields, 0, 0, 0)))


def _parse_http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return _parse_amz_date(value)
    if parsed.tzinfo is None:  # "-0000": UTC without a claim to be local
        return float(calendar.timegm(parsed.timetuple()))
    return parsed.timestamp()


def _header_time(headers: Mapping[str, str], now: float) -> tuple[float, bool]:
    """Request time from x-amz-date (True) or Date (False), checked for skew."""
    amz = headers.get("x-amz-date")
    when: float | None
    if amz is not None:
        # SigV4 sends ISO basic (tried first: the RFC 1123 parser is slow), SigV2 RFC 1123.
        when = _parse_amz_date(amz)
        if when is None:
            when = _parse_http_date(amz)
    else:
        date = headers.get("date")
        when = None if date is None else _parse_http_date(date)
    if when is None or when < 0:  # none, unreadable, or before the epoch: not a date AWS accepts
        raise AuthError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403)
    if abs(now - when) > MAX_SKEW_SECONDS:
        raise _skewed()
    return when, amz is not None


def _unsigned_amz_headers(headers: Mapping[str, str], signed: set[str], allowed: frozenset[str]) -> None:
    missing = sorted(
        name for name in headers if name.startswith("x-amz-") and name not in signed and name not in allowed
    )
    if missing:
        raise AuthError(
            "AccessDenied",
            "There were headers present in the request which were not signed: " + ", ".join(missing),
            403,
        )


# --- SigV4 -----------------------------------------------------------------------------------


def _parse_credential(credential: str, error: Callable[[str], AuthError]) -> tuple[str, ...]:
    parts = credential.strip().rsplit("/", 4)
    if len(parts) != 5 or not parts[0] or not parts[2] or not _YYYYMMDD.fullmatch(parts[1]):
        raise error('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    if parts[4] != "aws4_request":
        raise error('the Credential must end in "aws4_request".')
    if parts[3] != "s3":
        raise error(f'incorrect service "{parts[3]}". This endpoint belongs to "s3".')
    return tuple(parts)


def _parse_signed_headers(value: str, error: Callable[[str], AuthError]) -> list[str]:
    names = [name.strip().lower() for name in value.split(";")]
    if not all(names):
        raise error("SignedHeaders is mal-formed.")
    if "host" not in names:
        raise error("SignedHeaders must include host.")
    return names


def _v4_signature(
    req: RequestView,
    key: bytes,
    amz_date: str,
    scope: str,
    signed: list[str],
    payload_hash: str,
    given: str,
    exclude: tuple[str, ...] = (),
) -> str:
    """The expected signature that matches `given`, or raise SignatureDoesNotMatch.

    The AWS-canonical form is tried first; then the path and query exactly as
    sent, which is what clients that sign their own wire form (botocore among
    them) produce when they escape differently. Both are built from the one
    parsed query, and either string determines the decoded pairs that are
    served, so neither can cover a query other than the one handled.
    """
    forms = [(sigv4.canonical_uri(req.raw_path), sigv4.canonical_query(req.query, exclude=exclude))]
    raw = (
        req.raw_path.decode("utf-8", "replace") or "/",
        sigv4.raw_canonical_query(req.query, exclude=exclude),
    )
    if raw != forms[0]:
        forms.append(raw)
    for headers in _header_readings(req.headers, signed):
        for uri, query in forms:
            creq = sigv4.canonical_request(req.method, uri, query, headers, signed, payload_hash)
            expected = sigv4.sign(key, sigv4.string_to_sign(amz_date, scope, creq))
            if sigv4.signatures_equal(expected, given):
                return expected
    raise _mismatch()


def _header_readings(headers: Mapping[str, str], names: Collection[str]) -> list[Mapping[str, str]]:
    """The headers as decoded (latin-1), and with `names` read as UTF-8 where that differs."""
    alternate = {name: sigv4.utf8_reading(headers[name]) for name in names if name in headers}
    changed = {name: value for name, value in alternate.items() if value is not None}
    return [headers, {**headers, **changed}] if changed else [headers]


def _v4_fields(authorization: str) -> tuple[str, str, str, str, list[str], str]:
    """(access key, date, region, service, signed headers, signature) of a SigV4 Authorization header."""
    fields: dict[str, str] = {}
    for part in authorization[len(sigv4.ALGORITHM) :].split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise _malformed("expected comma-separated name=value components.")
        fields[name.strip()] = value.strip()
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise _malformed("it must contain Credential, SignedHeaders and Signature.")
    access_key, date, region, service, _ = _parse_credential(fields["Credential"], _malformed)
    signed = _parse_signed_headers(fields["SignedHeaders"], _malformed)
    return access_key, date, region, service, signed, fields["Signature"]


# A client sends the same Authorization header but for its signature for a whole day: what precedes a
# trailing `Signature=<64 hex>` is parsed once (the parse of the whole header is the same but for it).
_V4_TAIL = re.compile(r"(.*,\s*)Signature=([0-9a-f]{64})\s*", re.DOTALL)
_v4_heads: dict[str, tuple[str, str, str, str, list[str]]] = {}


def _v4_fields_cached(authorization: str) -> tuple[str, str, str, str, list[str], str]:
    tail = _V4_TAIL.fullmatch(authorization)
    if tail is None:
        return _v4_fields(authorization)
    head, signature = tail.group(1), tail.group(2)
    parsed = _v4_heads.get(head)
    if parsed is None:
        access_key, date, region, service, signed, _ = _v4_fields(authorization)
        if len(_v4_heads) >= 256:
            _v4_heads.clear()
        parsed = _v4_heads[head] = (access_key, date, region, service, signed)  # never mutated
    return parsed[0], parsed[1], parsed[2], parsed[3], parsed[4], signature


def _v4_header(req: RequestView, creds: CredentialStore, authorization: str, now: float) -> AuthResult:
    access_key, date, region, service, signed, given = _v4_fields_cached(authorization)
    mode, digest = _payload_mode(req, v4_header=True)

    when, from_amz = _header_time(req.headers, now)
    amz_date = req.headers["x-amz-date"].strip() if from_amz else _iso_basic(when)
    if not _AMZ_DATE.fullmatch(amz_date):
        raise AuthError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403)
    if amz_date[:8] != date:
        raise _malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
    _unsigned_amz_headers(req.headers, set(signed), frozenset({"x-amz-content-sha256"}))

    secret = _secret(creds, access_key)
    key = sigv4.signing_key(secret, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    payload_hash = req.headers["x-amz-content-sha256"].strip()
    signature = _v4_signature(req, key, amz_date, scope, signed, payload_hash, given)
    chunk_signing = None
    if mode in _SIGNED_STREAMING:
        chunk_signing = ChunkSigning(signing_key=key, seed_signature=signature, amz_date=amz_date, scope=scope)
    return _result(req, access_key, 4, mode, digest, chunk_signing)


def _presigned_payload_mode(req: RequestView, pinned: str | None) -> tuple[PayloadMode, str | None]:
    """A hex X-Amz-Content-Sha256 in the signed query pins the body: it is checked as a signed payload."""
    if pinned is None or not _HEX64.fullmatch(pinned):
        return _payload_mode(req, v4_header=False)
    declared = req.headers.get("x-amz-content-sha256")
    if declared is not None and declared.strip().lower() != pinned.lower():
        raise AuthError(
            "XAmzContentSHA256Mismatch",
            "The x-amz-content-sha256 header does not match the X-Amz-Content-Sha256 the URL was signed with.",
            400,
        )
    return PayloadMode.SIGNED, pinned.lower()


def _iso_basic(when: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))


def _v4_query(req: RequestView, creds: CredentialStore, params: Mapping[str, str], now: float) -> AuthResult:
    if not all(name in params for name in _V4_QUERY_PARAMS):
        raise _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != sigv4.ALGORITHM:
        raise _query_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    access_key, date, region, service, _ = _parse_credential(
        params["X-Amz-Credential"],
        lambda m: _query_error(f"Error parsing the X-Amz-Credential; {m}"),
    )
    signed = _parse_signed_headers(params["X-Amz-SignedHeaders"], lambda m: _query_error(f"X-Amz-SignedHeaders: {m}"))
    amz_date = params["X-Amz-Date"]
    when = _parse_amz_date(amz_date)
    if when is None:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if amz_date[:8] != date:
        raise _query_error("Invalid credential date. Date is not the same as X-Amz-Date.")
    expires_text = params["X-Amz-Expires"].strip()
    if not _SIGNED_DIGITS.fullmatch(expires_text):
        raise _query_error("X-Amz-Expires should be a number")
    expires = int(expires_text)
    # Out of range is a 403 at AWS (ceph's s3-tests, checked against AWS, expect it for 0, -7 and 604801).
    if expires < 0:
        raise AuthError("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", 403)
    if expires > MAX_PRESIGN_EXPIRES:
        raise AuthError(
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
            "must be less than 604800 seconds",
            403,
        )
    if now > when + expires or expires == 0:
        raise _expired()
    if when - now > MAX_SKEW_SECONDS:
        raise AuthError("AccessDenied", "Request is not valid yet", 403)
    _unsigned_amz_headers(req.headers, set(signed), _PRESIGN_UNSIGNED_OK)
    mode, digest = _presigned_payload_mode(req, params.get("X-Amz-Content-Sha256"))

    secret = _secret(creds, access_key)
    key = sigv4.signing_key(secret, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    if "X-Amz-Content-Sha256" in params:
        payload_hash = params["X-Amz-Content-Sha256"]
    elif "x-amz-content-sha256" in signed and "x-amz-content-sha256" in req.headers:
        payload_hash = req.headers["x-amz-content-sha256"].strip()
    else:
        payload_hash = sigv4.UNSIGNED_PAYLOAD
    _v4_signature(
        req,
        key,
        amz_date,
        scope,
        signed,
        payload_hash,
        params["X-Amz-Signature"],
        exclude=("X-Amz-Signature",),
    )
    return _result(req, access_key, 4, mode, digest, None)


# --- SigV2 -----------------------------------------------------------------------------------


def _v2_check(
    req: RequestView,
    secret: str,
    date_lines: list[str],
    amz_headers: str,
    vhost_bucket: str | None,
    given: str,
) -> None:
    paths = [req.raw_path]
    if vhost_bucket is None and req.raw_path.count(b"/") == 1 and len(req.raw_path) > 1:
        # Path-style bucket request: botocore signs "/bucket/" while sending "/bucket".
        paths.append(req.raw_path + b"/")
    resources: list[str] = []
    for path in paths:
        for reencode in (False, True):
            resource = sigv2.canonical_resource(path, req.query, vhost_bucket=vhost_bucket, reencode=reencode)
            if resource not in resources:
                resources.append(resource)
    content_md5 = req.headers.get("content-md5", "")
    content_type = req.headers.get("content-type", "")
    readings = [amz_headers]
    utf8 = sigv4.utf8_reading(amz_headers)
    if utf8 is not None:
        readings.append(utf8)
    for amz in readings:
        for resource in resources:
            for date_line in date_lines:
                sts = sigv2.string_to_sign(req.method, content_md5, content_type, date_line, amz, resource)
                if sigv4.signatures_equal(sigv2.sign(secret, sts), given):
                    return
    raise _mismatch()


def _v2_header(
    req: RequestView,
    creds: CredentialStore,
    authorization: str,
    vhost_bucket: str | None,
    now: float,
) -> AuthResult:
    access_key, sep, signature = authorization[4:].strip().rpartition(":")
    if not sep or not access_key or not signature:
        raise AuthError(
            "InvalidArgument",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            400,
        )
    _, from_amz = _header_time(req.headers, now)
    mode, digest = _payload_mode(req, v4_header=False)
    secret = _secret(creds, access_key)
    # With x-amz-date the Date line is empty (AWS docs); botocore keeps Date there.
    date_header = req.headers.get("date", "")
    date_lines = ["", date_header] if from_amz and date_header else [date_header]
    amz_headers = sigv2.canonical_amz_headers(req.headers.items())
    _v2_check(req, secret, date_lines, amz_headers, vhost_bucket, signature)
    return _result(req, access_key, 2, mode, digest, None)


def _v2_query(
    req: RequestView,
    creds: CredentialStore,
    params: Mapping[str, str],
    vhost_bucket: str | None,
    now: float,
) -> AuthResult:
    if not all(name in params for name in _V2_QUERY_PARAMS):
        raise AuthError(
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            403,
        )
    expires = params["Expires"].strip()
    if not _DIGITS.fullmatch(expires):
        raise AuthError("AccessDenied", "Invalid date (should be seconds since epoch)", 403)
    if now > int(expires):
        raise _expired()
    mode, digest = _payload_mode(req, v4_header=False)
    secret = _secret(creds, params["AWSAccessKeyId"])
    # botocore signs x-amz-* headers, then moves them into the query string.
    amz_items = list(req.headers.items())
    amz_items += [(name.lower(), value) for name, value in params.items() if name.lower().startswith("x-amz-")]
    amz_headers = sigv2.canonical_amz_headers(amz_items)
    _v2_check(req, secret, [expires], amz_headers, vhost_bucket, params["Signature"])
    return _result(req, params["AWSAccessKeyId"], 2, mode, digest, None)
