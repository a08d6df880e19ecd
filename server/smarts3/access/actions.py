"""Operation → required access: the one table the authorizer decides from.

Each row names the action a grant must allow on the request's own bucket, what
public access (a canned ACL, or a bucket declared `publicRead`) may stand in
for that grant, and the other resources the request touches. docs/security.md
holds the same table; tests/unit/test_access_table.py keeps the two equal.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from smarts3.access.acl import widens
from smarts3.s3 import copysource
from smarts3.s3.operations import Op


class Action(enum.Enum):
    READ = "read"  # read objects and their attributes
    LIST = "list"  # list a bucket's keys and uploads
    WRITE = "write"  # create, overwrite and delete objects; multipart
    ADMIN = "admin"  # create/delete the bucket, change its configuration and any ACL
    SERVICE = "service"  # ListBuckets: any credential, filtered to the buckets it reaches


class Public(enum.Enum):
    """What may allow the request without a grant (values are the docs' wording)."""

    NO = "no"
    OBJECT = "object ACL"  # the object's canned ACL, or the bucket declared publicRead
    BUCKET = "bucket ACL"  # the bucket's canned ACL, or the bucket declared publicRead


class Extra(enum.Enum):
    """A further resource the request touches (values are the docs' wording)."""

    COPY_SOURCE = "read on the copy source"  # x-amz-copy-source, under GetObject's rule
    # Tags are copied unless x-amz-tagging-directive is REPLACE; reading them is GetObjectTagging's
    # rule (a read grant, never public), as S3 asks s3:GetObjectTagging on the source.
    COPY_SOURCE_TAGS = "tagging read on the copy source unless the tagging directive is REPLACE"
    WIDENING_ACL = "admin if x-amz-acl widens"  # public-read & co. on what is created


@dataclass(frozen=True, slots=True)
class Access:
    action: Action
    public: Public = Public.NO
    extra: tuple[Extra, ...] = ()


@dataclass(frozen=True, slots=True)
class Need:
    """One (action, bucket, key) a request must be allowed."""

    action: Action
    bucket: str | None
    key: str | None
    public: Public = Public.NO
    iam: str = field(default="", compare=False)  # the IAM action a bucket policy sees (IAM_ACTIONS)
    # The version the request acts on (versionId; a copy source's own): an object's ACL, owner and
    # tags are that version's, so they decide, not the current version's.
    version: str | None = None


_READ, _LIST, _WRITE, _ADMIN = Access(Action.READ), Access(Action.LIST), Access(Action.WRITE), Access(Action.ADMIN)

# Every Op but CORS_PREFLIGHT, which is answered from the bucket's CORS rules before authentication.
# Public access never grants tagging, ACL, upload or version reads: AWS's ACL READ on an object is
# GetObject only, and on a bucket we grant listing the current keys only.
ACCESS: dict[Op, Access] = {
    Op.LIST_BUCKETS: Access(Action.SERVICE),
    # buckets
    Op.CREATE_BUCKET: Access(Action.ADMIN, extra=(Extra.WIDENING_ACL,)),
    Op.HEAD_BUCKET: Access(Action.LIST, Public.BUCKET),
    Op.DELETE_BUCKET: _ADMIN,
    # The region is no secret: HeadBucket, which a bucket ACL allows, answers it in a header.
    Op.GET_BUCKET_LOCATION: Access(Action.LIST, Public.BUCKET),
    Op.GET_BUCKET_VERSIONING: _LIST,
    Op.PUT_BUCKET_VERSIONING: _ADMIN,
    Op.GET_BUCKET_TAGGING: _ADMIN,
    Op.PUT_BUCKET_TAGGING: _ADMIN,
    Op.DELETE_BUCKET_TAGGING: _ADMIN,
    Op.LIST_OBJECTS: Access(Action.LIST, Public.BUCKET),
    Op.LIST_OBJECTS_V2: Access(Action.LIST, Public.BUCKET),
    Op.LIST_OBJECT_VERSIONS: _LIST,
    Op.LIST_MULTIPART_UPLOADS: _LIST,
    Op.DELETE_OBJECTS: _WRITE,
    Op.GET_BUCKET_ACL: _ADMIN,
    Op.PUT_BUCKET_ACL: _ADMIN,
    Op.GET_BUCKET_CORS: _ADMIN,
    Op.PUT_BUCKET_CORS: _ADMIN,
    Op.DELETE_BUCKET_CORS: _ADMIN,
    Op.GET_BUCKET_LIFECYCLE: _ADMIN,
    Op.PUT_BUCKET_LIFECYCLE: _ADMIN,
    Op.DELETE_BUCKET_LIFECYCLE: _ADMIN,
    Op.GET_BUCKET_LOGGING: _ADMIN,
    Op.PUT_BUCKET_LOGGING: _ADMIN,
    # objects
    Op.GET_OBJECT: Access(Action.READ, Public.OBJECT),
    Op.HEAD_OBJECT: Access(Action.READ, Public.OBJECT),
    Op.PUT_OBJECT: Access(Action.WRITE, extra=(Extra.WIDENING_ACL,)),
    Op.POST_OBJECT: Access(Action.WRITE, extra=(Extra.WIDENING_ACL,)),  # the form's acl field, as x-amz-acl
    Op.COPY_OBJECT: Access(Action.WRITE, extra=(Extra.COPY_SOURCE, Extra.COPY_SOURCE_TAGS, Extra.WIDENING_ACL)),
    Op.DELETE_OBJECT: _WRITE,
    Op.GET_OBJECT_TAGGING: _READ,
    Op.PUT_OBJECT_TAGGING: _WRITE,
    Op.DELETE_OBJECT_TAGGING: _WRITE,
    Op.GET_OBJECT_ACL: _READ,
    Op.PUT_OBJECT_ACL: _ADMIN,
    # multipart
    Op.CREATE_MULTIPART_UPLOAD: Access(Action.WRITE, extra=(Extra.WIDENING_ACL,)),
    Op.UPLOAD_PART: _WRITE,
    Op.UPLOAD_PART_COPY: Access(Action.WRITE, extra=(Extra.COPY_SOURCE,)),
    Op.COMPLETE_MULTIPART_UPLOAD: _WRITE,
    Op.ABORT_MULTIPART_UPLOAD: _WRITE,
    Op.LIST_PARTS: _LIST,
    # Not implemented (501 once authorized). An operation that names a second resource (RenameObject's
    # x-amz-rename-source, PostObject's acl field) must gain its extra here before it gets a handler.
    Op.GET_BUCKET_POLICY: _ADMIN,
    Op.PUT_BUCKET_POLICY: _ADMIN,
    Op.DELETE_BUCKET_POLICY: _ADMIN,
    Op.GET_BUCKET_POLICY_STATUS: _ADMIN,
    Op.GET_BUCKET_WEBSITE: _ADMIN,
    Op.PUT_BUCKET_WEBSITE: _ADMIN,
    Op.DELETE_BUCKET_WEBSITE: _ADMIN,
    Op.GET_BUCKET_NOTIFICATION: _ADMIN,
    Op.PUT_BUCKET_NOTIFICATION: _ADMIN,
    Op.GET_BUCKET_ENCRYPTION: _ADMIN,
    Op.PUT_BUCKET_ENCRYPTION: _ADMIN,
    Op.DELETE_BUCKET_ENCRYPTION: _ADMIN,
    Op.GET_BUCKET_REPLICATION: _ADMIN,
    Op.PUT_BUCKET_REPLICATION: _ADMIN,
    Op.DELETE_BUCKET_REPLICATION: _ADMIN,
    Op.GET_BUCKET_REQUEST_PAYMENT: _ADMIN,
    Op.PUT_BUCKET_REQUEST_PAYMENT: _ADMIN,
    Op.GET_BUCKET_ACCELERATE: _ADMIN,
    Op.PUT_BUCKET_ACCELERATE: _ADMIN,
    Op.GET_OBJECT_LOCK_CONFIGURATION: _ADMIN,
    Op.PUT_OBJECT_LOCK_CONFIGURATION: _ADMIN,
    Op.GET_BUCKET_OWNERSHIP_CONTROLS: _ADMIN,
    Op.PUT_BUCKET_OWNERSHIP_CONTROLS: _ADMIN,
    Op.DELETE_BUCKET_OWNERSHIP_CONTROLS: _ADMIN,
    Op.GET_PUBLIC_ACCESS_BLOCK: _ADMIN,
    Op.PUT_PUBLIC_ACCESS_BLOCK: _ADMIN,
    Op.DELETE_PUBLIC_ACCESS_BLOCK: _ADMIN,
    Op.BUCKET_ANALYTICS: _ADMIN,
    Op.BUCKET_INVENTORY: _ADMIN,
    Op.BUCKET_METRICS: _ADMIN,
    Op.BUCKET_INTELLIGENT_TIERING: _ADMIN,
    Op.BUCKET_METADATA: _ADMIN,
    Op.GET_OBJECT_ATTRIBUTES: Access(Action.READ, Public.OBJECT),  # what HeadObject shows, and more
    Op.GET_OBJECT_LEGAL_HOLD: _READ,
    Op.PUT_OBJECT_LEGAL_HOLD: _WRITE,
    Op.GET_OBJECT_RETENTION: _READ,
    Op.PUT_OBJECT_RETENTION: _WRITE,
    Op.GET_OBJECT_TORRENT: _READ,
    Op.RESTORE_OBJECT: _WRITE,
    Op.SELECT_OBJECT_CONTENT: _READ,
    Op.RENAME_OBJECT: _WRITE,
    Op.WRITE_GET_OBJECT_RESPONSE: _ADMIN,
}


def needs(
    op: Op, bucket: str | None, key: str | None, headers: Mapping[str, str], version: str | None = None
) -> Iterator[Need]:
    """Everything the request touches, its own resource first.

    Lazy on purpose: the copy source is parsed only once the destination is allowed, so a
    request refused on its own resource is refused the same way whatever its headers say.
    An Op without a row needs admin on its bucket: closed by default.
    """
    access = ACCESS.get(op, _ADMIN)
    yield Need(access.action, bucket, key, access.public, IAM_ACTIONS.get(op, ""), version if key else None)
    for extra in access.extra:
        if extra is Extra.COPY_SOURCE:
            source = copysource.parse(headers)
            yield Need(Action.READ, source.bucket, source.key, Public.OBJECT, "s3:GetObject", source.version_id)
        elif extra is Extra.COPY_SOURCE_TAGS and headers.get("x-amz-tagging-directive", "").upper() != "REPLACE":
            source = copysource.parse(headers)
            yield Need(Action.READ, source.bucket, source.key, iam="s3:GetObjectTagging", version=source.version_id)
        elif extra is Extra.WIDENING_ACL and widens(headers):
            yield Need(Action.ADMIN, bucket, key, iam="s3:PutBucketAcl" if key is None else "s3:PutObjectAcl")


# Op -> the IAM action (AWS's "Actions, resources, and condition keys for Amazon S3") a bucket
# policy is asked about. Several operations share one action, as in AWS (HeadObject is
# s3:GetObject, every multipart step s3:PutObject, DeleteBucketCors s3:PutBucketCORS).
IAM_ACTIONS: dict[Op, str] = {
    Op.LIST_BUCKETS: "s3:ListAllMyBuckets",
    Op.CREATE_BUCKET: "s3:CreateBucket",
    Op.HEAD_BUCKET: "s3:ListBucket",
    Op.DELETE_BUCKET: "s3:DeleteBucket",
    Op.GET_BUCKET_LOCATION: "s3:GetBucketLocation",
    Op.GET_BUCKET_VERSIONING: "s3:GetBucketVersioning",
    Op.PUT_BUCKET_VERSIONING: "s3:PutBucketVersioning",
    Op.GET_BUCKET_TAGGING: "s3:GetBucketTagging",
    Op.PUT_BUCKET_TAGGING: "s3:PutBucketTagging",
    Op.DELETE_BUCKET_TAGGING: "s3:PutBucketTagging",
    Op.LIST_OBJECTS: "s3:ListBucket",
    Op.LIST_OBJECTS_V2: "s3:ListBucket",
    Op.LIST_OBJECT_VERSIONS: "s3:ListBucketVersions",
    Op.LIST_MULTIPART_UPLOADS: "s3:ListBucketMultipartUploads",
    Op.DELETE_OBJECTS: "s3:DeleteObject",
    Op.GET_BUCKET_ACL: "s3:GetBucketAcl",
    Op.PUT_BUCKET_ACL: "s3:PutBucketAcl",
    Op.GET_BUCKET_CORS: "s3:GetBucketCORS",
    Op.PUT_BUCKET_CORS: "s3:PutBucketCORS",
    Op.DELETE_BUCKET_CORS: "s3:PutBucketCORS",
    Op.GET_OBJECT: "s3:GetObject",
    Op.HEAD_OBJECT: "s3:GetObject",
    Op.PUT_OBJECT: "s3:PutObject",
    Op.COPY_OBJECT: "s3:PutObject",
    Op.DELETE_OBJECT: "s3:DeleteObject",
    Op.GET_OBJECT_TAGGING: "s3:GetObjectTagging",
    Op.PUT_OBJECT_TAGGING: "s3:PutObjectTagging",
    Op.DELETE_OBJECT_TAGGING: "s3:DeleteObjectTagging",
    Op.GET_OBJECT_ACL: "s3:GetObjectAcl",
    Op.PUT_OBJECT_ACL: "s3:PutObjectAcl",
    Op.CREATE_MULTIPART_UPLOAD: "s3:PutObject",
    Op.UPLOAD_PART: "s3:PutObject",
    Op.UPLOAD_PART_COPY: "s3:PutObject",
    Op.COMPLETE_MULTIPART_UPLOAD: "s3:PutObject",
    Op.ABORT_MULTIPART_UPLOAD: "s3:AbortMultipartUpload",
    Op.LIST_PARTS: "s3:ListMultipartUploadParts",
    Op.GET_BUCKET_POLICY: "s3:GetBucketPolicy",
    Op.PUT_BUCKET_POLICY: "s3:PutBucketPolicy",
    Op.DELETE_BUCKET_POLICY: "s3:DeleteBucketPolicy",
    Op.GET_BUCKET_POLICY_STATUS: "s3:GetBucketPolicyStatus",
    Op.GET_BUCKET_LIFECYCLE: "s3:GetLifecycleConfiguration",
    Op.PUT_BUCKET_LIFECYCLE: "s3:PutLifecycleConfiguration",
    Op.DELETE_BUCKET_LIFECYCLE: "s3:PutLifecycleConfiguration",
    Op.GET_BUCKET_WEBSITE: "s3:GetBucketWebsite",
    Op.PUT_BUCKET_WEBSITE: "s3:PutBucketWebsite",
    Op.DELETE_BUCKET_WEBSITE: "s3:DeleteBucketWebsite",
    Op.GET_BUCKET_LOGGING: "s3:GetBucketLogging",
    Op.PUT_BUCKET_LOGGING: "s3:PutBucketLogging",
    Op.GET_BUCKET_NOTIFICATION: "s3:GetBucketNotification",
    Op.PUT_BUCKET_NOTIFICATION: "s3:PutBucketNotification",
    Op.GET_BUCKET_ENCRYPTION: "s3:GetEncryptionConfiguration",
    Op.PUT_BUCKET_ENCRYPTION: "s3:PutEncryptionConfiguration",
    Op.DELETE_BUCKET_ENCRYPTION: "s3:PutEncryptionConfiguration",
    Op.GET_BUCKET_REPLICATION: "s3:GetReplicationConfiguration",
    Op.PUT_BUCKET_REPLICATION: "s3:PutReplicationConfiguration",
    Op.DELETE_BUCKET_REPLICATION: "s3:PutReplicationConfiguration",
    Op.GET_BUCKET_REQUEST_PAYMENT: "s3:GetBucketRequestPayment",
    Op.PUT_BUCKET_REQUEST_PAYMENT: "s3:PutBucketRequestPayment",
    Op.GET_BUCKET_ACCELERATE: "s3:GetAccelerateConfiguration",
    Op.PUT_BUCKET_ACCELERATE: "s3:PutAccelerateConfiguration",
    Op.GET_OBJECT_LOCK_CONFIGURATION: "s3:GetBucketObjectLockConfiguration",
    Op.PUT_OBJECT_LOCK_CONFIGURATION: "s3:PutBucketObjectLockConfiguration",
    Op.GET_BUCKET_OWNERSHIP_CONTROLS: "s3:GetBucketOwnershipControls",
    Op.PUT_BUCKET_OWNERSHIP_CONTROLS: "s3:PutBucketOwnershipControls",
    Op.DELETE_BUCKET_OWNERSHIP_CONTROLS: "s3:PutBucketOwnershipControls",
    Op.GET_PUBLIC_ACCESS_BLOCK: "s3:GetBucketPublicAccessBlock",
    Op.PUT_PUBLIC_ACCESS_BLOCK: "s3:PutBucketPublicAccessBlock",
    Op.DELETE_PUBLIC_ACCESS_BLOCK: "s3:PutBucketPublicAccessBlock",
    Op.BUCKET_ANALYTICS: "s3:PutAnalyticsConfiguration",
    Op.BUCKET_INVENTORY: "s3:PutInventoryConfiguration",
    Op.BUCKET_METRICS: "s3:PutMetricsConfiguration",
    Op.BUCKET_INTELLIGENT_TIERING: "s3:PutIntelligentTieringConfiguration",
    Op.BUCKET_METADATA: "s3:CreateBucketMetadataTableConfiguration",
    Op.POST_OBJECT: "s3:PutObject",
    Op.GET_OBJECT_ATTRIBUTES: "s3:GetObjectAttributes",
    Op.GET_OBJECT_LEGAL_HOLD: "s3:GetObjectLegalHold",
    Op.PUT_OBJECT_LEGAL_HOLD: "s3:PutObjectLegalHold",
    Op.GET_OBJECT_RETENTION: "s3:GetObjectRetention",
    Op.PUT_OBJECT_RETENTION: "s3:PutObjectRetention",
    Op.GET_OBJECT_TORRENT: "s3:GetObjectTorrent",
    Op.RESTORE_OBJECT: "s3:RestoreObject",
    Op.SELECT_OBJECT_CONTENT: "s3:GetObject",
    Op.RENAME_OBJECT: "s3:PutObject",
    Op.WRITE_GET_OBJECT_RESPONSE: "s3-object-lambda:WriteGetObjectResponse",
}

# Every s3: action a policy may name without a wildcard (lower case): ours plus AWS's others.
KNOWN_IAM_ACTIONS: frozenset[str] = frozenset(
    a.lower()
    for a in (
        *IAM_ACTIONS.values(),
        "s3:GetObjectVersion",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectVersionAttributes",
        "s3:PutObjectVersionAcl",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObjectVersion",
        "s3:DeleteObjectVersionTagging",
        "s3:ListBucketVersions",
        "s3:GetBucketPolicyStatus",
        "s3:BypassGovernanceRetention",
        "s3:PutBucketObjectLockConfiguration",
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
        "s3:ReplicateTags",
        "s3:GetObjectTorrent",
        "s3:GetObjectVersionTorrent",
        "s3:GetAnalyticsConfiguration",
        "s3:GetInventoryConfiguration",
        "s3:GetMetricsConfiguration",
        "s3:GetIntelligentTieringConfiguration",
        "s3:DeleteBucketPolicy",
    )
    if a.startswith("s3:")
)


# What each declared access level allows.
LEVELS: dict[str, frozenset[Action]] = {
    "read": frozenset({Action.READ, Action.LIST}),
    "write": frozenset({Action.WRITE}),
    "readwrite": frozenset({Action.READ, Action.LIST, Action.WRITE}),
    "admin": frozenset({Action.READ, Action.LIST, Action.WRITE, Action.ADMIN}),
}
