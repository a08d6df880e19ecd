"""Who owns a bucket and its objects, and what their ACLs grant: the facts authorize.py decides on.

Bucket `extra` keys: OWNER_ID (the creator's canonical id; a bucket without one, declared or
created before ids existed, belongs to root, or to the credential whose access key the legacy
OWNER_KEY names), OWNERSHIP (the bucket's ownership controls) and ACL. Object `extra`: ACL, and
OWNER_ID when the object's owner is not the bucket owner (ObjectWriter, BucketOwnerPreferred).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from smarts3.access import grants
from smarts3.access.acl import Directory, canned_from_headers, full_control_to_only, has_grant_headers, requested
from smarts3.access.grants import Grant
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.storage.base import BucketInfo

ACL_KEY = "acl"  # the stored ACL (grants.py): a canned name or a JSON grant list
OWNER_ID = "owner-id"
OWNER_KEY = "owner"  # legacy: the access key that created the bucket
OWNERSHIP = "ownership"
INITIATOR = "initiator"  # upload `extra`: who started it, when not the object's owner-to-be

ENFORCED, PREFERRED, WRITER = "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"
MODES = frozenset({ENFORCED, PREFERRED, WRITER})

# What each operation needs from an ACL: the permission, on the bucket's ACL or the object's.
# Operations missing here are the owner's alone (bucket configuration, tagging): AWS's ACLs never
# grant them. Groups (AllUsers, AuthenticatedUsers) get READ only where actions.ACCESS says
# public access may stand in for the grant.
BUCKET_ACL: dict[Op, str] = {
    **dict.fromkeys(
        (
            Op.LIST_OBJECTS,
            Op.LIST_OBJECTS_V2,
            Op.HEAD_BUCKET,
            Op.GET_BUCKET_LOCATION,
            Op.LIST_OBJECT_VERSIONS,
            Op.LIST_MULTIPART_UPLOADS,
            Op.LIST_PARTS,
        ),
        grants.READ,
    ),
    **dict.fromkeys(
        (
            Op.PUT_OBJECT,
            Op.COPY_OBJECT,
            Op.DELETE_OBJECT,
            Op.DELETE_OBJECTS,
            Op.CREATE_MULTIPART_UPLOAD,
            Op.UPLOAD_PART,
            Op.UPLOAD_PART_COPY,
            Op.COMPLETE_MULTIPART_UPLOAD,
            Op.ABORT_MULTIPART_UPLOAD,
        ),
        grants.WRITE,
    ),
    Op.GET_BUCKET_ACL: grants.READ_ACP,
    Op.PUT_BUCKET_ACL: grants.WRITE_ACP,
}
OBJECT_ACL: dict[Op, str] = {
    Op.GET_OBJECT: grants.READ,
    Op.HEAD_OBJECT: grants.READ,
    Op.GET_OBJECT_ATTRIBUTES: grants.READ,
    Op.GET_OBJECT_ACL: grants.READ_ACP,
    Op.PUT_OBJECT_ACL: grants.WRITE_ACP,
}
# Operations on an existing object that no ACL grants: its owner's alone (AWS's ACLs never grant
# tagging, retention or legal hold; the bucket owner may not use them on an object it does not own).
OBJECT_OWNER_ONLY = frozenset(
    {
        Op.GET_OBJECT_TAGGING,
        Op.PUT_OBJECT_TAGGING,
        Op.DELETE_OBJECT_TAGGING,
        Op.GET_OBJECT_LEGAL_HOLD,
        Op.PUT_OBJECT_LEGAL_HOLD,
        Op.GET_OBJECT_RETENTION,
        Op.PUT_OBJECT_RETENTION,
        Op.GET_OBJECT_TORRENT,
        Op.RESTORE_OBJECT,
        Op.SELECT_OBJECT_CONTENT,
    }
)
OWNER = "OWNER"  # not a permission: what only the object's owner may do
# Operations that create an object: its owner and ACL are settled at authorization.
CREATES_OBJECT = frozenset({Op.PUT_OBJECT, Op.COPY_OBJECT, Op.CREATE_MULTIPART_UPLOAD, Op.POST_OBJECT})


@dataclass(frozen=True, slots=True)
class BucketState:
    owner: str  # canonical id
    ownership: str | None  # None: no ownership controls (ACLs on, objects owned by the bucket owner)
    acl: str | None

    @property
    def acls_enabled(self) -> bool:
        return self.ownership != ENFORCED

    def grants(self) -> tuple[Grant, ...]:
        return grants.load(self.acl, self.owner, self.owner) if self.acls_enabled else ()

    def object_owner(self, extra: Mapping[str, str]) -> str:
        return extra.get(OWNER_ID, self.owner) if self.acls_enabled else self.owner

    def object_grants(self, extra: Mapping[str, str]) -> tuple[Grant, ...]:
        if not self.acls_enabled:
            return grants.canned("private", self.owner, self.owner)
        return grants.load(extra.get(ACL_KEY), self.object_owner(extra), self.owner)


def bucket_state(info: BucketInfo, root_id: str, id_for_key: Mapping[str, str]) -> BucketState:
    owner = info.extra.get(OWNER_ID) or id_for_key.get(info.extra.get(OWNER_KEY) or "", root_id)
    return BucketState(owner, info.extra.get(OWNERSHIP), info.extra.get(ACL_KEY))


def recorded_owner(info: BucketInfo, id_for_key: Mapping[str, str]) -> str | None:
    """The owner CreateBucket recorded, if any (declared buckets have none)."""
    legacy = info.extra.get(OWNER_KEY)
    return info.extra.get(OWNER_ID) or (id_for_key.get(legacy, legacy) if legacy else None)


def new_owner(state: BucketState, writer: str, canned: str | None) -> str:
    """Who owns an object `writer` creates (AWS's Object Ownership)."""
    if state.ownership == WRITER or (state.ownership == PREFERRED and canned != "bucket-owner-full-control"):
        return writer
    return state.owner


def upload_owners(state: BucketState, extra: Mapping[str, str]) -> tuple[str, str]:
    """(Initiator, Owner) of a multipart upload, from its `extra`."""
    owner = state.object_owner(extra)
    return extra.get(INITIATOR, owner), owner


def refuse_if_disabled(state: BucketState, headers: Mapping[str, str]) -> None:
    """BucketOwnerEnforced: an ACL other than bucket-owner-full-control is refused, as S3 does; S3
    takes that ACL "in any form", so also x-amz-grant-full-control naming the bucket owner alone."""
    if state.acls_enabled:
        return
    canned = headers.get("x-amz-acl")
    grants_other = has_grant_headers(headers) and not full_control_to_only(headers, state.owner)
    if grants_other or (canned is not None and canned != "bucket-owner-full-control"):
        raise acls_not_supported()


def owner_full_control(state: BucketState, policy: tuple[Grant, ...]) -> bool:
    """Whether an AccessControlPolicy grants FULL_CONTROL to the bucket owner and nothing else."""
    return set(policy) == {Grant(state.owner, grants.FULL_CONTROL)}


def acls_not_supported() -> S3Error:
    return S3Error("AccessControlListNotSupported", "The bucket does not allow ACLs")


def new_object_extra(
    state: BucketState, writer: str, headers: Mapping[str, str], directory: Directory, *, upload: bool = False
) -> dict[str, str]:
    """The owner and ACL `extra` of an object this request creates (of a multipart upload: also
    its initiator, which ListMultipartUploads and ListParts show apart from the owner)."""
    canned = canned_from_headers(headers)
    refuse_if_disabled(state, headers)
    extra: dict[str, str] = {}
    owner = new_owner(state, writer, canned)
    if owner != state.owner:
        extra[OWNER_ID] = owner
    if upload and writer != owner:
        extra[INITIATOR] = writer
    acl = requested(headers, directory) if state.acls_enabled else None
    if acl is not None and acl != "private":
        extra[ACL_KEY] = acl
    return extra
