"""The one place that decides whether a request may run."""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from smarts3.access import pab
from smarts3.access.acl import PUBLIC, grants_read
from smarts3.access.actions import KNOWN_IAM_ACTIONS, Need, Public, needs
from smarts3.access.facts import Lazy, RequestFacts, condition_values
from smarts3.access.policy import Caller, Policy, Verdict, parse, resource_arn
from smarts3.access.policy_conditions import PolicyError
from smarts3.access.principals import Principal, Principals
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import StorageError, Store

ACL_KEY = "acl"  # where bucket and object canned ACLs live in the store's `extra`
# The access key that created a bucket through CreateBucket (bucket `extra`). Buckets without one
# (declared, or created before it was recorded) belong to whoever may create them.
OWNER_KEY = "owner"
POLICY_KEY = "policy"  # a bucket's policy document, as PutBucketPolicy stored it (bucket `extra`)
# Canned ACLs that open a resource beyond its owner: what BlockPublicAcls refuses.
PUBLIC_CANNED = PUBLIC | {"authenticated-read"}

# How long a worker trusts what it read of a bucket's policy and public access block. Changes made
# through this process apply at once (forget); another worker's apply within this time (as AWS's own
# policy changes, eventually).
ACCESS_TTL = 1.0

log = logging.getLogger("smarts3.access")


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


def canonical_id(principal: Principal) -> str:
    """The id a bucket policy names a credential by: stable, derived from its name."""
    return hashlib.sha256(f"smarts3 user {principal.name}".encode()).hexdigest()


def caller(principal: Principal | None) -> Caller:
    if principal is None:
        return Caller()
    return Caller(frozenset({canonical_id(principal), principal.access_key}), principal.name, principal.root)


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
        # bucket -> (read at, its extra or None when it does not exist): one SQLite read per second, not per request
        self._extras: dict[str, tuple[float, Mapping[str, str] | None]] = {}

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
        (bucket names are global and public there; see docs/security.md)."""
        if access_key is None and self.anonymous_is_root:
            return Decision(self.root())
        principal = self.principals.get(access_key)
        if op is Op.CREATE_BUCKET and bucket is not None:
            self.forget(bucket)  # a bucket of that name deleted a moment ago took its policy with it
        if bucket is not None and headers.get("x-amz-acl") in PUBLIC_CANNED:
            await self.refuse_public_acl(bucket)
        gated: set[tuple[str, str]] = set()
        for need in needs(op, bucket, key, headers):
            allowed = await self._decide(principal, need, facts or RequestFacts(headers=headers))
            if allowed is Allowed.NO:
                if bucket is not None and op is not Op.CREATE_BUCKET:
                    await self.store.get_bucket(bucket)  # raises NoSuchBucket before any refusal
                raise S3Error("AccessDenied")
            if allowed is Allowed.BY_OBJECT_ACL and need.bucket is not None and need.key is not None:
                gated.add((need.bucket, need.key))
        return Decision(principal, frozenset(gated))

    def forget(self, bucket: str) -> None:
        """A bucket's policy or block changed here: the next request reads it again."""
        self._extras.pop(bucket, None)

    async def _bucket_extra(self, bucket: str) -> Mapping[str, str] | None:
        now = time.monotonic()
        cached = self._extras.get(bucket)
        if cached is not None and now - cached[0] < ACCESS_TTL:
            return cached[1]
        try:
            extra: Mapping[str, str] | None = (await self.store.get_bucket(bucket)).extra
        except StorageError:
            extra = None
        if len(self._extras) > 4096:
            self._extras.clear()
        self._extras[bucket] = (now, extra)
        return extra

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

    async def _decide(self, principal: Principal | None, need: Need, facts: RequestFacts) -> Allowed:
        """AWS's order: root is never refused; an explicit Deny in the bucket policy wins over
        everything else; then an Allow from a grant, an ACL, the policy or ownership; else no."""
        if principal is not None and principal.root:
            return Allowed.YES
        if need.bucket is None:
            return await self._allows(principal, need, pab.NONE)
        extra = await self._bucket_extra(need.bucket)
        if extra is None:
            return await self._allows(principal, need, self.public_access_block)
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
                trusted = principal is not None and (
                    principal.reaches(need.bucket) or extra.get(OWNER_KEY) == principal.access_key
                )
                verdict = verdict if trusted else None
        allowed = await self._allows(principal, need, block)
        return Allowed.YES if allowed is Allowed.NO and verdict is Verdict.ALLOW else allowed

    async def _evaluate(
        self, policy: Policy, principal: Principal | None, need: Need, facts: RequestFacts
    ) -> Verdict | None:
        assert need.bucket is not None
        tags: Mapping[str, str] | None = None
        if need.key is not None and policy.uses_existing_tags:
            try:
                tags = (await self.store.head_object(need.bucket, need.key)).meta.tags
            except StorageError:
                tags = None
        name = principal.name if principal else None
        userid = canonical_id(principal) if principal else None
        values = Lazy(lambda: condition_values(facts, name, userid, tags))
        return policy.evaluate(caller(principal), need.iam, resource_arn(need.bucket, need.key), values)

    async def _allows(self, principal: Principal | None, need: Need, block: pab.Block) -> Allowed:
        if principal is not None and principal.may(need.action, need.bucket):
            return Allowed.YES
        if need.public is Public.NO or need.bucket is None:
            return Allowed.NO
        if need.bucket in self.declared_public():
            return Allowed.YES  # our own setting: every object and the listing, never tagging or ACLs
        if block.ignore_public_acls:
            return Allowed.NO  # IgnorePublicAcls: every canned ACL below grants the public (or all signed)
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
