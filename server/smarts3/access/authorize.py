"""The one place that decides whether a request may run."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from smarts3.access import acl, grants, pab
from smarts3.access.actions import KNOWN_IAM_ACTIONS, Action, Need, Public, needs
from smarts3.access.facts import Lazy, RequestFacts, condition_values
from smarts3.access.ownership import (
    ACL_KEY,
    BUCKET_ACL,
    CREATES_OBJECT,
    OBJECT_ACL,
    OBJECT_OWNER_ONLY,
    OWNER,
    OWNER_KEY,
    PREFERRED,
    WRITER,
    BucketState,
    bucket_state,
    new_object_extra,
)
from smarts3.access.policy import Caller, Policy, Verdict, parse, resource_arn
from smarts3.access.policy_conditions import PolicyError
from smarts3.access.principals import ANONYMOUS_ID, ROOT_NAME, Principal, Principals, canonical_id
from smarts3.s3 import copysource
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import BucketInfo, StorageError, Store

__all__ = ["ACL_KEY", "OWNER_KEY", "POLICY_KEY", "Allowed", "Authorizer", "Decision"]

POLICY_KEY = "policy"  # a bucket's policy document, as PutBucketPolicy stored it (bucket `extra`)

# How long a worker trusts what it read of a bucket's access state: its policy, public access block,
# owner, ownership controls and ACL, all from one read of the bucket. Changes made through this
# process apply at once (the dispatcher forgets a bucket after every bucket-level write); another
# worker's apply within this time (as AWS's own policy and ACL changes, eventually).
ACCESS_TTL = 1.0

log = logging.getLogger("smarts3.access")

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


# Operations whose check, for root, depends on nothing but a few headers: one Need of the request's
# own resource (which root always has), no bucket state shown, no object created. Without any of
# _ROOT_CHECKED_HEADERS, `check` decides them for root in one step (a small read's or delete's hot path).
_ROOT_SIMPLE = frozenset({Op.GET_OBJECT, Op.HEAD_OBJECT, Op.DELETE_OBJECT})
# What `check` reads of the headers before and after the Needs: a public ACL (refused under
# BlockPublicAcls, even for root), an expected bucket owner, a copy source's.
_ROOT_CHECKED_HEADERS = frozenset(
    {
        "x-amz-acl",
        *acl.GRANT_HEADERS,
        "x-amz-expected-bucket-owner",
        "x-amz-source-expected-bucket-owner",
        "x-amz-copy-source",
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
    gated_buckets: Mapping[str, BucketState] = field(default_factory=dict)  # the state of each gated object's bucket

    def still_readable(self, bucket: str, key: str, extra: Mapping[str, str]) -> bool:
        if (bucket, key) not in self.acl_gated:
            return True
        state = self.gated_buckets.get(bucket)
        if state is None:
            return False  # every gated bucket's state is kept: closed if not
        who = self.principal.id if self.principal is not None else None
        if who is not None and state.object_owner(extra) == who:
            return True
        return grants.permits(state.object_grants(extra), grants.READ, who)

    @property
    def caller_id(self) -> str:
        return self.principal.id if self.principal is not None else ANONYMOUS_ID


def caller(principal: Principal | None) -> Caller:
    """Who a bucket policy sees: a credential by its canonical id or access key, and its user name
    (its declared identity, so both keys of a rotation overlap are the one user the policy names)."""
    if principal is None:
        return Caller()
    return Caller(frozenset({principal.id, principal.access_key}), principal.identity or principal.name, principal.root)


class Authorizer:
    def __init__(
        self,
        principals: Principals,
        store: Store,
        declared_public: Callable[[], frozenset[str]],
        *,
        anonymous_is_root: bool = False,
        public_access_block: pab.Block = pab.NONE,
    ) -> None:
        self.principals = principals
        self.store = store
        self.declared_public = declared_public
        self.anonymous_is_root = anonymous_is_root
        self.public_access_block = public_access_block  # server-wide; a bucket may add its own
        self._policies: dict[tuple[str, str], Policy | None] = {}  # (bucket, text) -> parsed
        # bucket -> (read at, the bucket or None when it does not exist): one SQLite read per second, not
        # per request, serving both the policy and the ACL checks
        self._buckets: dict[str, tuple[float, BucketInfo | None]] = {}

    def root(self) -> Principal:
        return next(p for p in self.principals.all() if p.root)

    async def check(
        self,
        access_key: str | None,
        op: Op,
        bucket: str | None,
        key: str | None,
        headers: Mapping[str, str],
        facts: RequestFacts | None = None,
    ) -> Decision:
        """Who acts (None: anonymous), or AccessDenied unless every resource the request
        touches (actions.needs) is allowed. Refusals carry no detail: which resource failed, or
        whether a key or a copy source exists, is not the caller's to learn. The one exception
        is AWS's: a bucket in the path that does not exist is NoSuchBucket, for anyone
        (bucket names are global and public there; see docs/security.md).

        Allowed means: a declared grant (or root), ownership of the bucket (or of the object),
        or the bucket's or object's ACL (access/ownership.py says which permission each
        operation needs), or the bucket policy; an explicit Deny in the policy wins over all
        but root (_decide)."""
        if access_key is None and self.anonymous_is_root:
            principal: Principal | None = self.root()
        else:
            principal = self.principals.get(access_key)
        if (
            principal is not None
            and principal.root
            and op in _ROOT_SIMPLE
            and headers.keys().isdisjoint(_ROOT_CHECKED_HEADERS)
        ):
            return Decision(principal, directory=self.principals)  # what the steps below decide here
        if op is Op.CREATE_BUCKET and bucket is not None:
            self.forget(bucket)  # a bucket of that name deleted a moment ago took its policy with it
        if bucket is not None and acl.sets_public(headers):
            await self.refuse_public_acl(bucket)
        states = _States(self)
        facts = facts or RequestFacts(headers=headers)
        gated: set[tuple[str, str]] = set()
        for index, need in enumerate(needs(op, bucket, key, headers, facts.query.get("versionId"))):
            allowed = await self._decide(principal, op, need, index == 0, states, headers, facts)
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
                upload = op is Op.CREATE_MULTIPART_UPLOAD
                extra = new_object_extra(state, writer, headers, self.principals, upload=upload)
        gated_buckets = {b: s for b in {b for b, _ in gated} if (s := await states.get(b)) is not None}
        return Decision(principal, frozenset(gated), state, extra, self.principals, gated_buckets)

    def forget(self, bucket: str) -> None:
        """A bucket's policy or block changed here: the next request reads it again."""
        self._buckets.pop(bucket, None)

    async def _bucket_info(self, bucket: str) -> BucketInfo | None:
        now = time.monotonic()
        cached = self._buckets.get(bucket)
        if cached is not None and now - cached[0] < ACCESS_TTL:
            return cached[1]
        try:
            info: BucketInfo | None = await self.store.get_bucket(bucket)
        except StorageError:
            info = None
        if len(self._buckets) > 4096:
            self._buckets.clear()
        self._buckets[bucket] = (now, info)
        return info

    async def _bucket_extra(self, bucket: str) -> Mapping[str, str] | None:
        info = await self._bucket_info(bucket)
        return None if info is None else info.extra

    async def bucket_extra(self, bucket: str) -> Mapping[str, str] | None:
        """A bucket's `extra` as last read for access checks (ACCESS_TTL old at most); None: no bucket."""
        return await self._bucket_extra(bucket)

    async def block_for(self, bucket: str) -> pab.Block:
        """The public access block in force for a bucket: the server's, plus the bucket's own."""
        extra = await self._bucket_extra(bucket)
        if extra is None:
            return self.public_access_block
        return self.public_access_block | (pab.stored(extra) or pab.NONE)

    async def refuse_public_acl(self, bucket: str) -> None:
        """BlockPublicAcls: a request that sets a public ACL is refused, whoever sends it (as AWS)."""
        if (await self.block_for(bucket)).block_public_acls:
            raise S3Error("AccessDenied")

    def policy_of(self, bucket: str, extra: Mapping[str, str]) -> Policy | None:
        text = extra.get(POLICY_KEY)
        if text is None:
            return None
        cache_key = (bucket, text)
        if cache_key not in self._policies:
            if len(self._policies) > 256:
                self._policies.clear()
            try:
                self._policies[cache_key] = parse(text, bucket, KNOWN_IAM_ACTIONS)
            except PolicyError as exc:  # stored through PutBucketPolicy, so valid; fail closed if not
                log.error("bucket %s has an unreadable policy, denying what it would decide: %s", bucket, exc)
                self._policies[cache_key] = None
        return self._policies[cache_key]

    async def _decide(
        self,
        principal: Principal | None,
        op: Op,
        need: Need,
        own: bool,
        states: _States,
        headers: Mapping[str, str],
        facts: RequestFacts,
    ) -> Allowed:
        """AWS's order: root is never refused; an explicit Deny in the bucket policy wins over
        everything else; then an Allow from a grant, an ACL, the policy or ownership; else no."""
        if principal is not None and principal.root:
            return Allowed.YES
        if need.bucket is None:
            return await self._allows(principal, op, need, own, states, headers, pab.NONE)
        extra = await self._bucket_extra(need.bucket)
        if extra is None:
            return await self._allows(principal, op, need, own, states, headers, self.public_access_block)
        block = self.public_access_block | (pab.stored(extra) or pab.NONE)
        verdict = None
        if POLICY_KEY in extra:
            policy = self.policy_of(need.bucket, extra)
            if policy is None:
                return Allowed.NO
            verdict = await self._evaluate(policy, principal, need, facts)
            if verdict is Verdict.DENY:
                return Allowed.NO
            if verdict is Verdict.ALLOW and policy.public and block.restrict_public_buckets:
                # RestrictPublicBuckets: a public policy speaks only for the owner and granted credentials.
                state = await states.get(need.bucket)
                trusted = principal is not None and (
                    principal.reaches(need.bucket) or (state is not None and state.owner == principal.id)
                )
                verdict = verdict if trusted else None
        allowed = await self._allows(principal, op, need, own, states, headers, block)
        return Allowed.YES if allowed is Allowed.NO and verdict is Verdict.ALLOW else allowed

    async def _evaluate(
        self, policy: Policy, principal: Principal | None, need: Need, facts: RequestFacts
    ) -> Verdict | None:
        assert need.bucket is not None
        tags: Mapping[str, str] | None = None
        if need.key is not None and policy.uses_existing_tags:
            try:
                tags = (await self.store.head_object(need.bucket, need.key, need.version)).meta.tags
            except StorageError:
                tags = None
        name = (principal.identity or principal.name) if principal else None  # aws:username, as caller()
        userid = principal.id if principal else None
        values = Lazy(lambda: condition_values(facts, name, userid, tags))
        return policy.evaluate(caller(principal), need.iam, resource_arn(need.bucket, need.key), values)

    async def _allows(
        self,
        principal: Principal | None,
        op: Op,
        need: Need,
        own: bool,
        states: _States,
        headers: Mapping[str, str],
        block: pab.Block,
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
        public = not block.ignore_public_acls  # IgnorePublicAcls: grants to the groups do not count
        if need.public is not Public.NO and need.bucket in self.declared_public():
            return Allowed.YES  # our own setting: every object and the listing, never tagging or ACLs
        if who == state.owner:
            return await self._bucket_owner_allows(who, op, need, own, state, public)
        if not own:
            return await self._allows_extra(principal, op, need, state, headers, public)
        if op in BUCKET_ACL:
            permission = BUCKET_ACL[op]
            groups = public and (permission != grants.READ or need.public is Public.BUCKET)
            return Allowed.YES if grants.permits(state.grants(), permission, who, groups=groups) else Allowed.NO
        if op in OBJECT_ACL and need.key is not None:
            return await self._object_allows(who, need, OBJECT_ACL[op], state, public)
        if op in OBJECT_OWNER_ONLY and need.key is not None:
            return await self._object_allows(who, need, OWNER, state, public)  # e.g. ObjectWriter's tags
        return Allowed.NO

    async def _bucket_owner_allows(
        self, who: str, op: Op, need: Need, own: bool, state: BucketState, public: bool
    ) -> Allowed:
        """The bucket owner has full control of its bucket and of the objects it owns. An object
        another credential owns (ObjectWriter, BucketOwnerPreferred) it may still overwrite or
        delete, as on AWS, but reads it and its ACL only as that object's ACL grants it (e.g.
        bucket-owner-read), and never its tags, retention or legal hold."""
        permission = _object_permission(op, need, own)
        if permission is None or not state.acls_enabled:
            return Allowed.YES  # BucketOwnerEnforced: it owns every object
        if permission == grants.READ:
            # Decided on the version the handler serves (still_readable): no extra read here.
            return Allowed.BY_OBJECT_ACL
        assert need.bucket is not None and need.key is not None
        try:
            extra = (await self.store.head_object(need.bucket, need.key, need.version)).meta.extra
        except StorageError:
            return Allowed.YES  # the owner may list its bucket: a missing key answers NoSuchKey
        if state.object_owner(extra) == who:
            return Allowed.YES
        if permission != OWNER and grants.permits(state.object_grants(extra), permission, who, groups=public):
            return Allowed.YES
        return Allowed.NO

    async def _allows_extra(
        self,
        principal: Principal | None,
        op: Op,
        need: Need,
        state: BucketState,
        headers: Mapping[str, str],
        public: bool,
    ) -> Allowed:
        who = principal.id if principal is not None else None
        if need.action is Action.ADMIN:
            # An ACL that opens what the request creates: allowed to who may change the bucket's
            # ACL, or who will own the new object (ObjectWriter, BucketOwnerPreferred).
            if grants.permits(state.grants(), grants.WRITE_ACP, who, groups=False):
                return Allowed.YES
            if op is Op.CREATE_BUCKET:
                return Allowed.NO
            mine = state.ownership == WRITER or (
                state.ownership == PREFERRED and headers.get("x-amz-acl") != "bucket-owner-full-control"
            )
            # Where a group may write (public-read-write: AllUsers), any writer of that group, anonymous
            # included, may send any ACL with what it writes, as on AWS.
            group_grants = [g for g in state.grants() if g.group]
            group_writes = grants.permits(group_grants, grants.WRITE, who, groups=public)
            return Allowed.YES if (who is not None and mine) or group_writes else Allowed.NO
        if need.action is Action.READ and need.key is not None and need.public is Public.OBJECT:
            return await self._object_allows(who, need, grants.READ, state, public)  # a copy source
        return Allowed.NO  # a copy source's tags: its owner's (or a grant's) alone

    async def _object_allows(
        self, who: str | None, need: Need, permission: str, state: BucketState, public: bool
    ) -> Allowed:
        assert need.bucket is not None and need.key is not None
        try:
            extra = (await self.store.head_object(need.bucket, need.key, need.version)).meta.extra
        except StorageError:
            return Allowed.NO  # a missing key is refused like a private one: no existence leak
        owned = who is not None and who == state.object_owner(extra)
        # S3: an object's ACL alone decides who reads it; the bucket's ACL governs listing.
        groups = public and (permission != grants.READ or need.public is Public.OBJECT)
        if not owned and (
            permission == OWNER or not grants.permits(state.object_grants(extra), permission, who, groups=groups)
        ):
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
    """Bucket states of one request, from the authorizer's cached read (the one the policy check uses)."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer
        self._cache: dict[str, BucketState | None] = {}

    async def get(self, bucket: str) -> BucketState | None:
        if bucket not in self._cache:
            info = await self._authorizer._bucket_info(bucket)
            ids = self._authorizer.principals.ids_by_key()
            self._cache[bucket] = None if info is None else bucket_state(info, canonical_id(ROOT_NAME), ids)
        return self._cache[bucket]


def _object_permission(op: Op, need: Need, own: bool) -> str | None:
    """What a need asks of an existing object itself: an ACL permission, OWNER, or None when the
    bucket alone decides (creating, overwriting or deleting a key; the ACL a new object gets)."""
    if need.key is None:
        return None
    if not own:  # a copy source: its bytes (under GetObject's rule) or its tags (its owner's)
        if need.action is not Action.READ:
            return None
        return grants.READ if need.public is Public.OBJECT else OWNER
    if op in OBJECT_ACL:
        return OBJECT_ACL[op]
    return OWNER if op in OBJECT_OWNER_ONLY else None


def _source_bucket(headers: Mapping[str, str]) -> str | None:
    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    try:
        return copysource.parse(headers).bucket
    except S3Error:
        return None
