"""The one place that decides whether a request may run."""

from __future__ import annotations

from collections.abc import Callable

from smarts3.access.acl import PUBLIC
from smarts3.access.actions import Action, action_for
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

    async def check(self, access_key: str | None, op: Op, bucket: str | None, key: str | None) -> Principal | None:
        """The acting principal (None: anonymous) or AccessDenied."""
        if access_key is None and self.anonymous_is_root:
            return self.root()
        principal = self.principals.get(access_key)
        action = action_for(op)
        if principal is not None and principal.may(action, bucket):
            return principal
        if bucket and action in (Action.READ, Action.LIST) and await self._acl_allows(principal, action, bucket, key):
            return principal
        raise S3Error("AccessDenied")

    async def _acl_allows(self, principal: Principal | None, action: Action, bucket: str, key: str | None) -> bool:
        if bucket in self.declared_public():
            return True
        try:
            info = await self.store.get_bucket(bucket)
        except StorageError:
            return False
        if _grants_read(info.extra.get(ACL_KEY), principal):
            return True
        if action is Action.READ and key is not None:
            try:
                obj = await self.store.head_object(bucket, key)
            except StorageError:
                return False
            return _grants_read(obj.meta.extra.get(ACL_KEY), principal)
        return False


def _grants_read(canned: str | None, principal: Principal | None) -> bool:
    if canned in PUBLIC:
        return True
    return canned == "authenticated-read" and principal is not None
