"""The request's query string, parsed once: what the signatures cover is what is served.

Split on `&`, then on the first `=`; names and values are percent-decoded with
`unquote` semantics (a `+` is a literal plus, never a space) and must be UTF-8.
Both signature versions, the classifier and the handlers read this one form, so
no two parsers can disagree about the same bytes.

Refused (QueryError, rendered as 400 by the caller):
- a name given twice: the SigV4 canonical query is sorted, so a signature
  cannot say which of two values was meant;
- a name sent percent-encoded when its decoded form is one that selects an
  operation, is signed by SigV2, overrides a response header or carries
  authentication (`%74agging`, `%72esponse-content-type`, `X-Amz-%53ignature`):
  no client encodes these, and other readers of the URL might not decode them;
- bytes that are not UTF-8 once decoded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_to_bytes

# Query parameters that are part of the signed resource: exactly botocore's
# HmacV1Auth.QSAOfInterest, since a name outside the signer's list breaks signatures.
SIGV2_SUBRESOURCES: Final = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)
# Every query name that selects an operation (smarts3.s3.operations) or that SigV2 signs as a
# sub-resource; a unit test keeps this a superset of the classifier's names.
SUBRESOURCES: Final = SIGV2_SUBRESOURCES | frozenset(
    {
        "attributes",
        "encryption",
        "intelligent-tiering",
        "legal-hold",
        "list-type",
        "metadataConfiguration",
        "metadataTable",
        "ownershipControls",
        "policyStatus",
        "publicAccessBlock",
        "renameObject",
        "retention",
    }
)
SIGV2_AUTH_NAMES: Final = frozenset({"AWSAccessKeyId", "Signature", "Expires"})


class QueryError(ValueError):
    """A query string refused as a whole; `code` is the S3 error code (HTTP 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Param:
    name: str  # percent-decoded
    value: str  # percent-decoded; "" when the part had no '='
    raw_name: str  # as sent
    raw_value: str | None  # as sent; None when the part had no '=' (SigV2 tells `acl` from `acl=`)


class Query(Mapping[str, str]):
    """Decoded name → value, in a query where every name is unique; `params` keeps the arrival order."""

    __slots__ = ("_values", "params", "raw")

    def __init__(self, raw: bytes, params: tuple[Param, ...]) -> None:
        self.raw = raw
        self.params = params
        self._values = {param.name: param.value for param in params}

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Query({self.raw!r})"


def protected(name: str) -> bool:
    """Names whose encoded spelling is refused (see the module docstring)."""
    return (
        name in SUBRESOURCES or name in SIGV2_AUTH_NAMES or name.startswith("response-") or name[:6].lower() == "x-amz-"
    )


def _decode(raw: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError("InvalidURI", "Couldn't parse the specified URI.") from None


def parse_query(raw: bytes) -> Query:
    """The one parse of a raw query string (without its '?'); raises QueryError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError("InvalidURI", "Couldn't parse the specified URI.") from None
    params: list[Param] = []
    seen: set[str] = set()
    for part in text.split("&"):
        if not part:
            continue
        raw_name, sep, raw_value = part.partition("=")
        name = _decode(raw_name)
        if name != raw_name and protected(name):
            raise QueryError("InvalidArgument", f"The query parameter {name} must not be percent-encoded.")
        # x-amz-* names double as SigV2 headers, whose names are case-insensitive.
        unique = name.lower() if name[:6].lower() == "x-amz-" else name
        if unique in seen:
            raise QueryError("InvalidArgument", f"The query parameter {name} is given more than once.")
        seen.add(unique)
        params.append(Param(name, _decode(raw_value), raw_name, raw_value if sep else None))
    return Query(raw, tuple(params))
