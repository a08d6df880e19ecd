"""ACL grants: the model, canned ACLs expanded, the stored form, and what a grant list permits.

An ACL is stored (bucket or object `extra`) either as a canned ACL's name, expanded when read
against the current owner ids (so `bucket-owner-read` follows the bucket owner), or as a JSON
list of [grantee, permission] pairs. A grantee is a canonical user id (64 hex digits) or a group
URI. No storage key means `private`: the owner's FULL_CONTROL only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

FULL_CONTROL, READ, WRITE, READ_ACP, WRITE_ACP = "FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP"
PERMISSIONS = (FULL_CONTROL, WRITE, WRITE_ACP, READ, READ_ACP)

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})

CANNED = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    }
)


@dataclass(frozen=True, slots=True)
class Grant:
    grantee: str  # a canonical user id, or one of GROUPS
    permission: str

    @property
    def group(self) -> bool:
        return self.grantee in GROUPS


def canned(name: str, owner: str, bucket_owner: str) -> tuple[Grant, ...]:
    """AWS's expansion of a canned ACL for a resource owned by `owner` in a bucket of `bucket_owner`."""
    grants = [Grant(owner, FULL_CONTROL)]
    if name in ("public-read", "public-read-write"):
        grants.append(Grant(ALL_USERS, READ))
    if name == "public-read-write":
        grants.append(Grant(ALL_USERS, WRITE))
    if name == "authenticated-read":
        grants.append(Grant(AUTHENTICATED_USERS, READ))
    if name == "bucket-owner-read" and bucket_owner != owner:
        grants.append(Grant(bucket_owner, READ))
    if name == "bucket-owner-full-control" and bucket_owner != owner:
        grants.append(Grant(bucket_owner, FULL_CONTROL))
    if name == "log-delivery-write":
        grants += [Grant(LOG_DELIVERY, WRITE), Grant(LOG_DELIVERY, READ_ACP)]
    return tuple(grants)


def load(raw: str | None, owner: str, bucket_owner: str) -> tuple[Grant, ...]:
    """The grant list a stored ACL value stands for (None: private)."""
    if raw is None:
        return canned("private", owner, bucket_owner)
    if not raw.startswith("["):
        return canned(raw, owner, bucket_owner) if raw in CANNED else canned("private", owner, bucket_owner)
    try:
        pairs = json.loads(raw)
        return tuple(Grant(str(g), str(p)) for g, p in pairs if p in PERMISSIONS)
    except (ValueError, TypeError):
        return canned("private", owner, bucket_owner)  # unreadable: closed, never open


def dump(grants: Iterable[Grant]) -> str:
    return json.dumps([[g.grantee, g.permission] for g in grants], separators=(",", ":"))


def permits(grants: Iterable[Grant], permission: str, who: str | None, *, groups: bool = True) -> bool:
    """Whether the list gives `permission` to `who` (a canonical id; None: anonymous).

    `groups=False` leaves AllUsers and AuthenticatedUsers out: some operations are never public.
    """
    for grant in grants:
        if grant.permission not in (permission, FULL_CONTROL):
            continue
        if grant.grantee == ALL_USERS or (grant.grantee == AUTHENTICATED_USERS and who is not None):
            if groups:
                return True
        elif who is not None and grant.grantee == who:
            return True
    return False


def is_public(grants: Iterable[Grant]) -> bool:
    """Whether the list gives anything to AllUsers or AuthenticatedUsers."""
    return any(g.grantee in (ALL_USERS, AUTHENTICATED_USERS) for g in grants)
