"""Canned ACLs: the ones smarts3 stores and honours, and their S3 XML rendering."""

from __future__ import annotations

from collections.abc import Mapping

from smarts3.s3 import xml
from smarts3.s3.errors import S3Error, not_implemented

CANNED = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
    }
)
PUBLIC = frozenset({"public-read", "public-read-write"})
# The canned ACLs that grant nobody beyond the owner; any other value may widen access.
NARROW = frozenset({"private", "bucket-owner-read", "bucket-owner-full-control"})
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def canned_from_headers(headers: Mapping[str, str]) -> str | None:
    """The canned ACL a request sets; grant headers are refused, never ignored."""
    if any(name.startswith("x-amz-grant-") for name in headers):
        raise not_implemented("ACL grant headers (x-amz-grant-*)")
    value = headers.get("x-amz-acl")
    if value is None:
        return None
    if value not in CANNED:
        if value in ("aws-exec-read", "log-delivery-write"):
            raise not_implemented(f"The canned ACL {value}")
        raise S3Error(
            "InvalidArgument",
            f"The canned ACL {value!r} is not valid.",
            fields={"ArgumentName": "x-amz-acl", "ArgumentValue": value},
        )
    return value


def widens(headers: Mapping[str, str]) -> bool:
    """Whether the request's x-amz-acl may open the resource to others (unknown values count)."""
    value = headers.get("x-amz-acl")
    return value is not None and value not in NARROW


def grants_read(canned: str | None, signed: bool) -> bool:
    """Whether a stored canned ACL lets someone without a grant read (or list)."""
    return canned in PUBLIC or (canned == "authenticated-read" and signed)


def policy_xml(owner_id: str, canned: str) -> bytes:
    # No DisplayName: S3 stopped returning it (November 2025), in every region. Every grant names
    # its grantee by ID or URI, so clients that sort or compare grants can always do so.
    owner = [xml.el("ID", owner_id)]
    grants = [_grant(f'<Grantee {_XSI} xsi:type="CanonicalUser">{"".join(owner)}</Grantee>', "FULL_CONTROL")]
    if canned in PUBLIC:
        grants.append(_group(ALL_USERS, "READ"))
    if canned == "public-read-write":
        grants.append(_group(ALL_USERS, "WRITE"))
    if canned == "authenticated-read":
        grants.append(_group(AUTHENTICATED_USERS, "READ"))
    return xml.document("AccessControlPolicy", [xml.node("Owner", owner), xml.node("AccessControlList", grants)])


def _group(uri: str, permission: str) -> str:
    return _grant(f'<Grantee {_XSI} xsi:type="Group">{xml.el("URI", uri)}</Grantee>', permission)


def _grant(grantee: str, permission: str) -> str:
    return f"<Grant>{grantee}{xml.el('Permission', permission)}</Grant>"
