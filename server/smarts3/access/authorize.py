"""The one place that decides whether a request may run."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from smarts3.access import grants
from smarts3.access.actions import Action, Need, Public, needs
from smarts3.access.ownership import (
    ACL_KEY,
    BUCKET_ACL,
    CREATES_OBJECT,
    OBJECT_ACL,
    OWNER_ID,
    OWNER_KEY,
    PREFERRED,
    WRITER,
    BucketState,
    bucket_state,
    new_object_extra,
)
from smarts3.access.principals import ANONYMOUS_ID, ROOT_NAME, Principal, Principals, canonical_id
from smarts3.s3 import copysource
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import StorageError, Store

__all__ = ["ACL_KEY", "OWNER_KEY", "Allowed", "Authorizer", "Decision"]

# Operations whose handlers show the bucket owner or read its ACL: the state is read for them.
_SHOWS_OWNER = frozenset(
    {
        Op.LIST_OBJECTS,
        Op.LIST_OBJECTS_V2,
        Op.LIST_OBJECT_VERSIONS,
        Op.LIST_MULTIPART_UPLOADS,
        Op.LIST_PARTS,
        Op.GET_BUCKET_ACL,
        Op.PUT_BUCKET_ACL,
        Op.GET_OBJECT_ACL,
        Op.PUT_OBJECT_ACL,
        Op.PUT_BUCKET_OWNERSHIP_CONTROLS,
    }
)


class Allowed(enum.Enum):
    NO = "no"
    YES = "yes"
    BY_OBJECT_ACL = "by the object's own ACL"  # the handler re-checks the version it serves


@dataclass(frozen=True, slots=True)
class Decision:
    principal: Principal | None  # None: anonymous
    # Objects the request may read only through their own ACL (or ownership). The ACL checked
    # here belongs to the version current at the check; an overwrite may land before the handler
    # opens the object, so the handler checks the version it serves (still_readable).
    acl_gated: frozenset[tuple[str, str]] = frozenset()
    bucket: BucketState | None = None  # the request's own bucket, where the request needs it
    object_extra: Mapping[str, str] = field(default_factory=dict)  # owner and ACL of a created object
    directory: Principals | None = None  # who ACL grants may name

    def still_readable(self, bucket: str, key: str, extra: Mapping[str, str]) -> bool:
        if (bucket, key) not in self.acl_gated:
            return True
        who = self.principal.id if self.principal is not None else None
        if who is not None and extra.get(OWNER_ID) == who:
            return True
        # The gated caller is not the bucket owner, so the owner ids only fill canned expansions.
        return grants.permits(grants.load(extra.get(ACL_KEY), "", ""), grants.READ, who)

    @property
    def caller_id(self) -> str:
        return self.principal.id if self.principal is not None else ANONYMOUS_ID


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
        (bucket names are global and public there; see docs/security.md).

        Allowed means: a declared grant (or root), ownership of the bucket (or of the object),
        or the bucket's or object's ACL (access/ownership.py says which permission each
        operation needs)."""
        if access_key is None and self.anonymous_is_root:
            principal: Principal | None = self.root()
        else:
            principal = self.principals.get(access_key)
        states = _States(self)
        gated: set[tuple[str, str]] = set()
        for index, need in enumerate(needs(op, bucket, key, headers)):
            allowed = await self._allows(principal, op, need, index == 0, states, headers)
            if allowed is Allowed.NO:
                if bucket is not None and op is not Op.CREATE_BUCKET:
                    await self.store.get_bucket(bucket)  # raises NoSuchBucket before any refusal
                raise S3Error("AccessDenied")
            if allowed is Allowed.BY_OBJECT_ACL and need.bucket is not None and need.key is not None:
                gated.add((need.bucket, need.key))
        await self._expected_owner(headers, bucket, states)
        state = None
        extra: dict[str, str] = {}
        if bucket is not None and (op in _SHOWS_OWNER or op in CREATES_OBJECT):
            state = await states.get(bucket)
            if state is not None and op in CREATES_OBJECT:
                writer = principal.id if principal is not None else ANONYMOUS_ID
                extra = new_object_extra(state, writer, headers, self.principals)
        return Decision(principal, frozenset(gated), state, extra, self.principals)

    async def _allows(
        self,
        principal: Principal | None,
        op: Op,
        need: Need,
        own: bool,
        states: _States,
        headers: Mapping[str, str],
    ) -> Allowed:
        if principal is not None and principal.may(need.action, need.bucket):
            return Allowed.YES
        if need.bucket is None:
            return Allowed.NO
        if op is Op.CREATE_BUCKET and principal is not None and principal.create_buckets:
            return Allowed.YES  # its own new bucket (an existing one is refused: BucketAlreadyExists)
        state = await states.get(need.bucket)
        if state is None:
            return Allowed.NO  # a missing bucket is refused like a private one: no existence leak
        who = principal.id if principal is not None else None
        if who == state.owner:
            return Allowed.YES  # the owner has full control of its bucket and what is in it
        if need.public is not Public.NO and need.bucket in self.declared_public():
            return Allowed.YES  # our own setting: every object and the listing, never tagging or ACLs
        if not own:
            return await self._allows_extra(principal, op, need, state, headers)
        if op in BUCKET_ACL:
            permission = BUCKET_ACL[op]
            groups = permission != grants.READ or need.public is Public.BUCKET
            return Allowed.YES if grants.permits(state.grants(), permission, who, groups=groups) else Allowed.NO
        if op in OBJECT_ACL and need.key is not None:
            return await self._object_allows(who, need, OBJECT_ACL[op], state)
        return Allowed.NO

    async def _allows_extra(
        self, principal: Principal | None, op: Op, need: Need, state: BucketState, headers: Mapping[str, str]
    ) -> Allowed:
        who = principal.id if principal is not None else None
        if need.action is Action.ADMIN:
            # An ACL that opens what the request creates: allowed to who may change the bucket's
            # ACL, or who will own the new object (ObjectWriter, BucketOwnerPreferred).
            if grants.permits(state.grants(), grants.WRITE_ACP, who, groups=False):
                return Allowed.YES
            mine = state.ownership == WRITER or (
                state.ownership == PREFERRED and headers.get("x-amz-acl") != "bucket-owner-full-control"
            )
            return Allowed.YES if who is not None and mine and op is not Op.CREATE_BUCKET else Allowed.NO
        if need.action is Action.READ and need.key is not None and need.public is Public.OBJECT:
            return await self._object_allows(who, need, grants.READ, state)  # a copy source
        return Allowed.NO  # a copy source's tags: its owner's (or a grant's) alone

    async def _object_allows(self, who: str | None, need: Need, permission: str, state: BucketState) -> Allowed:
        assert need.bucket is not None and need.key is not None
        try:
            extra = (await self.store.head_object(need.bucket, need.key)).meta.extra
        except StorageError:
            return Allowed.NO  # a missing key is refused like a private one: no existence leak
        owned = who is not None and who == state.object_owner(extra)
        # S3: an object's ACL alone decides who reads it; the bucket's ACL governs listing.
        groups = permission != grants.READ or need.public is Public.OBJECT
        if not owned and not grants.permits(state.object_grants(extra), permission, who, groups=groups):
            return Allowed.NO
        return Allowed.BY_OBJECT_ACL if permission == grants.READ else Allowed.YES

    async def _expected_owner(self, headers: Mapping[str, str], bucket: str | None, states: _States) -> None:
        """x-amz-expected-bucket-owner (and x-amz-source-expected-bucket-owner for the copy
        source) naming another owner than the bucket's: 403 AccessDenied, as AWS."""
        for name, target in (
            ("x-amz-expected-bucket-owner", bucket),
            ("x-amz-source-expected-bucket-owner", _source_bucket(headers)),
        ):
            expected = headers.get(name)
            if expected is None or target is None:
                continue
            state = await states.get(target)
            if state is not None and expected.strip() != state.owner:
                raise S3Error("AccessDenied")


class _States:
    """Bucket states read once per request."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer
        self._cache: dict[str, BucketState | None] = {}

    async def get(self, bucket: str) -> BucketState | None:
        if bucket not in self._cache:
            try:
                info = await self._authorizer.store.get_bucket(bucket)
            except StorageError:
                self._cache[bucket] = None
            else:
                ids = self._authorizer.principals.ids_by_key()
                self._cache[bucket] = bucket_state(info, canonical_id(ROOT_NAME), ids)
        return self._cache[bucket]


def _source_bucket(headers: Mapping[str, str]) -> str | None:
    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    try:
        return copysource.parse(headers).bucket
    except S3Error:
        return None
