"""The one place that decides whether a request may run."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from smarts3.access.acl import grants_read
from smarts3.access.actions import Need, Public, needs
from smarts3.access.principals import Principal, Principals
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import StorageError, Store

ACL_KEY = "acl"  # where bucket and object canned ACLs live in the store's `extra`
# The access key that created a bucket through CreateBucket (bucket `extra`). Buckets without one
# (declared, or created before it was recorded) belong to whoever may create them.
OWNER_KEY = "owner"


class Allowed(enum.Enum):
    NO = "no"
    YES = "yes"
    BY_OBJECT_ACL = "by the object's own ACL"  # the handler re-checks the version it serves


@dataclass(frozen=True, slots=True)
class Decision:
    principal: Principal | None  # None: anonymous
    # Objects the request may read only through their own canned ACL. The ACL checked here
    # belongs to the version current at the check; an overwrite may land before the handler
    # opens the object, so the handler checks the ACL of the version it serves (still_readable).
    acl_gated: frozenset[tuple[str, str]] = frozenset()

    def still_readable(self, bucket: str, key: str, acl: str | None) -> bool:
        return (bucket, key) not in self.acl_gated or grants_read(acl, signed=self.principal is not None)


def check_expected_owner(headers: Mapping[str, str], bucket: str | None, owner_id: str) -> None:
    """x-amz-expected-bucket-owner (and the copy source's): a bucket owned by another account
    is refused as AWS refuses it, 403 AccessDenied. Every bucket here has the one owner id
    that ListBuckets reports."""
    if bucket is None:
        return
    for name in ("x-amz-expected-bucket-owner", "x-amz-source-expected-bucket-owner"):
        expected = headers.get(name)
        if expected is not None and expected.strip() != owner_id:
            raise S3Error("AccessDenied")


class Authorizer:
    def __init__(
        self,
        principals: Principals,
        store: Store,
        declared_public: Callable[[], frozenset[str]],
        *,
        anonymous_is_root: bool = False,
    ) -> None:
        self.principals = principals
        self.store = store
        self.declared_public = declared_public
        self.anonymous_is_root = anonymous_is_root

    def root(self) -> Principal:
        return next(p for p in self.principals.all() if p.root)

    async def check(
        self,
        access_key: str | None,
        op: Op,
        bucket: str | None,
        key: str | None,
        headers: Mapping[str, str],
    ) -> Decision:
        """Who acts (None: anonymous), or AccessDenied unless every resource the request
        touches (actions.needs) is allowed. Refusals carry no detail: which resource failed, or
        whether a key or a copy source exists, is not the caller's to learn. The one exception
        is AWS's: a bucket in the path that does not exist is NoSuchBucket, for anyone
        (bucket names are global and public there; see docs/security.md)."""
        if access_key is None and self.anonymous_is_root:
            return Decision(self.root())
        principal = self.principals.get(access_key)
        gated: set[tuple[str, str]] = set()
        for need in needs(op, bucket, key, headers):
            allowed = await self._allows(principal, need)
            if allowed is Allowed.NO:
                if bucket is not None and op is not Op.CREATE_BUCKET:
                    await self.store.get_bucket(bucket)  # raises NoSuchBucket before any refusal
                raise S3Error("AccessDenied")
            if allowed is Allowed.BY_OBJECT_ACL and need.bucket is not None and need.key is not None:
                gated.add((need.bucket, need.key))
        return Decision(principal, frozenset(gated))

    async def _allows(self, principal: Principal | None, need: Need) -> Allowed:
        if principal is not None and principal.may(need.action, need.bucket):
            return Allowed.YES
        if need.public is Public.NO or need.bucket is None:
            return Allowed.NO
        if need.bucket in self.declared_public():
            return Allowed.YES  # our own setting: every object and the listing, never tagging or ACLs
        signed = principal is not None
        try:
            if need.public is Public.BUCKET:
                canned = (await self.store.get_bucket(need.bucket)).extra.get(ACL_KEY)
                return Allowed.YES if grants_read(canned, signed=signed) else Allowed.NO
            if need.key is None:
                return Allowed.NO
            # S3: an object's ACL alone decides who reads it; the bucket's ACL governs listing.
            canned = (await self.store.head_object(need.bucket, need.key)).meta.extra.get(ACL_KEY)
        except StorageError:
            return Allowed.NO  # a missing bucket or key is refused like a private one: no existence leak
        return Allowed.BY_OBJECT_ACL if grants_read(canned, signed=signed) else Allowed.NO
