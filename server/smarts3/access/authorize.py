"""The one place that decides whether a request may run."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from smarts3.access.acl import grants_read
from smarts3.access.actions import Need, Public, needs
from smarts3.access.principals import Principal, Principals
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import StorageError, Store

ACL_KEY = "acl"  # where bucket and object canned ACLs live in the store's `extra`


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
    ) -> Principal | None:
        """The acting principal (None: anonymous), or AccessDenied unless every resource the request
        touches (actions.needs) is allowed. Refusals carry no detail: which resource failed, or
        whether it exists, is not the caller's to learn."""
        if access_key is None and self.anonymous_is_root:
            return self.root()
        principal = self.principals.get(access_key)
        for need in needs(op, bucket, key, headers):
            if not await self._allows(principal, need):
                raise S3Error("AccessDenied")
        return principal

    async def _allows(self, principal: Principal | None, need: Need) -> bool:
        if principal is not None and principal.may(need.action, need.bucket):
            return True
        if need.public is Public.NO or need.bucket is None:
            return False
        if need.bucket in self.declared_public():
            return True  # our own setting: every object and the listing, never tagging or ACLs
        try:
            if need.public is Public.BUCKET:
                canned = (await self.store.get_bucket(need.bucket)).extra.get(ACL_KEY)
            elif need.key is not None:
                # S3: an object's ACL alone decides who reads it; the bucket's ACL governs listing.
                canned = (await self.store.head_object(need.bucket, need.key)).meta.extra.get(ACL_KEY)
            else:
                return False
        except StorageError:
            return False  # a missing bucket or key is refused like a private one: no existence leak
        return grants_read(canned, signed=principal is not None)
