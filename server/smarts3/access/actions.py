"""Operation → required access: the one table the authorizer decides from.

Each row names the action a grant must allow on the request's own bucket, what
public access (a canned ACL, or a bucket declared `publicRead`) may stand in
for that grant, and the other resources the request touches. docs/security.md
holds the same table; tests/unit/test_access_table.py keeps the two equal.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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
    Op.POST_OBJECT: _WRITE,
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


def needs(op: Op, bucket: str | None, key: str | None, headers: Mapping[str, str]) -> Iterator[Need]:
    """Everything the request touches, its own resource first.

    Lazy on purpose: the copy source is parsed only once the destination is allowed, so a
    request refused on its own resource is refused the same way whatever its headers say.
    An Op without a row needs admin on its bucket: closed by default.
    """
    access = ACCESS.get(op, _ADMIN)
    yield Need(access.action, bucket, key, access.public)
    for extra in access.extra:
        if extra is Extra.COPY_SOURCE:
            source = copysource.parse(headers)
            yield Need(Action.READ, source.bucket, source.key, Public.OBJECT)
        elif extra is Extra.COPY_SOURCE_TAGS and headers.get("x-amz-tagging-directive", "").upper() != "REPLACE":
            source = copysource.parse(headers)
            yield Need(Action.READ, source.bucket, source.key)
        elif extra is Extra.WIDENING_ACL and widens(headers):
            yield Need(Action.ADMIN, bucket, key)


# What each declared access level allows.
LEVELS: dict[str, frozenset[Action]] = {
    "read": frozenset({Action.READ, Action.LIST}),
    "write": frozenset({Action.WRITE}),
    "readwrite": frozenset({Action.READ, Action.LIST, Action.WRITE}),
    "admin": frozenset({Action.READ, Action.LIST, Action.WRITE, Action.ADMIN}),
}
