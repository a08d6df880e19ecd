"""ACLs on the wire: x-amz-acl and x-amz-grant-* headers, AccessControlPolicy documents, rendering.

What the grants mean lives in grants.py; who may change them in authorize.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from smarts3.access.grants import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    CANNED,
    GROUPS,
    PERMISSIONS,
    Grant,
    dump,
    is_public,
)
from smarts3.access.grants import canned as canned_grants
from smarts3.s3 import xml
from smarts3.s3.errors import S3Error, not_implemented

# The canned ACLs that grant nobody beyond the owners; any other ACL may widen access.
NARROW = frozenset({"private", "bucket-owner-read", "bucket-owner-full-control"})
GRANT_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
    "x-amz-grant-full-control": "FULL_CONTROL",
}
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XSI = f'xmlns:xsi="{_XSI_NS}"'
MAX_GRANTS = 100  # S3's limit per ACL; it also bounds what each object stores
_GRANTEE_ITEM = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*(?:"([^"]*)"|([^",\s]*))\s*(?:,|$)')


class Directory(Protocol):
    """Who a grant may name (principals.Principals)."""

    def known_id(self, canonical: str) -> bool: ...

    def id_for_email(self, email: str) -> str | None: ...


def canned_from_headers(headers: Mapping[str, str]) -> str | None:
    """The canned ACL a request sets (x-amz-acl), validated."""
    value = headers.get("x-amz-acl")
    if value is None:
        return None
    if has_grant_headers(headers):
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    if value not in CANNED:
        if value == "aws-exec-read":
            raise not_implemented(f"The canned ACL {value}")
        raise S3Error(
            "InvalidArgument",
            f"The canned ACL {value!r} is not valid.",
            fields={"ArgumentName": "x-amz-acl", "ArgumentValue": value},
        )
    return value


def has_grant_headers(headers: Mapping[str, str]) -> bool:
    return any(name in GRANT_HEADERS for name in headers)


def full_control_to_only(headers: Mapping[str, str], owner: str) -> bool:
    """Whether the request's x-amz-grant-* headers grant FULL_CONTROL to `owner` (by canonical id)
    and nothing else: bucket-owner-full-control in another form."""
    if [name for name in headers if name in GRANT_HEADERS] != ["x-amz-grant-full-control"]:
        return False
    try:
        items = _grantee_items("x-amz-grant-full-control", headers["x-amz-grant-full-control"])
    except S3Error:
        return False
    return all(kind == "id" and value.strip() == owner for kind, value in items)


def requested(headers: Mapping[str, str], directory: Directory) -> str | None:
    """The stored form of the ACL a request's headers set: a canned name, a JSON grant list
    (x-amz-grant-*), or None when it sets none."""
    canned = canned_from_headers(headers)
    if canned is not None:
        return canned
    grants = [
        Grant(_grantee(kind, value, directory), permission)
        for header, permission in GRANT_HEADERS.items()
        if header in headers
        for kind, value in _grantee_items(header, headers[header])
    ]
    if len(grants) > MAX_GRANTS:
        raise _malformed()
    return dump(grants) if has_grant_headers(headers) else None


def sets_public(headers: Mapping[str, str]) -> bool:
    """Whether the request's ACL headers grant anything to AllUsers or AuthenticatedUsers, the ACLs
    BlockPublicAcls refuses: a public canned ACL or an x-amz-grant-* naming one of those groups. Read
    from the syntax alone (before authorization); a malformed header is refused later, where it is parsed."""
    value = headers.get("x-amz-acl")
    if value in CANNED and is_public(canned_grants(value, "", "")):
        return True
    for header in GRANT_HEADERS:
        if header in headers:
            try:
                items = _grantee_items(header, headers[header])
            except S3Error:
                continue
            if any(kind == "uri" and uri.strip() in (ALL_USERS, AUTHENTICATED_USERS) for kind, uri in items):
                return True
    return False


def widens(headers: Mapping[str, str]) -> bool:
    """Whether the request's ACL may open the resource to others (unknown values and every
    x-amz-grant-* header count)."""
    value = headers.get("x-amz-acl")
    return (value is not None and value not in NARROW) or has_grant_headers(headers)


def _grantee_items(header: str, value: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    pos = 0
    while pos < len(value):
        match = _GRANTEE_ITEM.match(value, pos)
        if match is None or match.end() == pos:
            raise S3Error("InvalidArgument", f"Invalid {header} header.", fields={"ArgumentName": header})
        items.append((match.group(1), match.group(2) if match.group(2) is not None else match.group(3)))
        pos = match.end()
    if not items:
        raise S3Error("InvalidArgument", f"Invalid {header} header.", fields={"ArgumentName": header})
    return items


def _grantee(kind: str, value: str, directory: Directory) -> str:
    value = value.strip()
    if kind == "id":
        if not directory.known_id(value):
            raise S3Error(
                "InvalidArgument", "Invalid id", fields={"ArgumentName": "CanonicalUser/ID", "ArgumentValue": value}
            )
        return value
    if kind == "uri":
        if value not in GROUPS:
            raise S3Error(
                "InvalidArgument", "Invalid group uri", fields={"ArgumentName": "Group/URI", "ArgumentValue": value}
            )
        return value
    canonical = directory.id_for_email(value)
    if canonical is None:
        raise S3Error(
            "UnresolvableGrantByEmailAddress",
            "The email address you provided does not match any account on record.",
            fields={"EmailAddress": value},
        )
    return canonical


def parse_policy(body: bytes, directory: Directory) -> tuple[Grant, ...]:
    """The grants of an AccessControlPolicy document (its Owner is informational, as in S3)."""
    root = xml.parse(body)
    if xml.local(root.tag) != "AccessControlPolicy":
        raise _malformed()
    acl = xml.child(root, "AccessControlList")
    if acl is None:
        raise _malformed()
    grants = []
    for element in xml.children(acl, "Grant"):
        grantee = xml.child(element, "Grantee")
        permission = (xml.child_text(element, "Permission") or "").strip()
        if grantee is None or permission not in PERMISSIONS:
            raise _malformed()
        declared = grantee.get(f"{{{_XSI_NS}}}type", "")
        for kind, tag, xsi_type in (
            ("id", "ID", "CanonicalUser"),
            ("uri", "URI", "Group"),
            ("emailAddress", "EmailAddress", "AmazonCustomerByEmail"),
        ):
            value = xml.child_text(grantee, tag)
            if value is not None and declared in ("", xsi_type):
                grants.append(Grant(_grantee(kind, value, directory), permission))
                break
        else:
            raise _malformed()
        if len(grants) > MAX_GRANTS:
            raise _malformed()
    return tuple(grants)


def _malformed() -> S3Error:
    return S3Error(
        "MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema"
    )


def policy_xml(owner_id: str, grants: tuple[Grant, ...]) -> bytes:
    # No DisplayName: S3 stopped returning it (November 2025), in every region. Every grant names
    # its grantee by ID or URI, so clients that sort or compare grants can always do so.
    owner = [xml.el("ID", owner_id)]
    items = [_grant(g) for g in grants]
    return xml.document("AccessControlPolicy", [xml.node("Owner", owner), xml.node("AccessControlList", items)])


def _grant(grant: Grant) -> str:
    if grant.group:
        grantee = f'<Grantee {_XSI} xsi:type="Group">{xml.el("URI", grant.grantee)}</Grantee>'
    else:
        grantee = f'<Grantee {_XSI} xsi:type="CanonicalUser">{xml.el("ID", grant.grantee)}</Grantee>'
    return f"<Grant>{grantee}{xml.el('Permission', grant.permission)}</Grant>"
