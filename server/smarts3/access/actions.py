"""Every S3 operation maps to exactly one action that grants are checked against."""

from __future__ import annotations

import enum

from smarts3.s3.operations import Op


class Action(enum.Enum):
    READ = "read"  # read objects and their attributes
    LIST = "list"  # list a bucket's keys and uploads
    WRITE = "write"  # create, overwrite and delete objects; multipart
    ADMIN = "admin"  # create/delete the bucket, change its configuration and ACLs
    SERVICE = "service"  # ListBuckets: filtered per principal, never denied


_READ = {
    Op.GET_OBJECT,
    Op.HEAD_OBJECT,
    Op.GET_OBJECT_TAGGING,
    Op.GET_OBJECT_ACL,
    Op.GET_OBJECT_ATTRIBUTES,
    Op.GET_OBJECT_LEGAL_HOLD,
    Op.GET_OBJECT_RETENTION,
    Op.GET_OBJECT_TORRENT,
    Op.SELECT_OBJECT_CONTENT,
}
_LIST = {
    Op.HEAD_BUCKET,
    Op.LIST_OBJECTS,
    Op.LIST_OBJECTS_V2,
    Op.LIST_OBJECT_VERSIONS,
    Op.LIST_MULTIPART_UPLOADS,
    Op.LIST_PARTS,
    Op.GET_BUCKET_LOCATION,
    Op.GET_BUCKET_VERSIONING,
}
_WRITE = {
    Op.PUT_OBJECT,
    Op.COPY_OBJECT,
    Op.DELETE_OBJECT,
    Op.DELETE_OBJECTS,
    Op.PUT_OBJECT_TAGGING,
    Op.DELETE_OBJECT_TAGGING,
    Op.CREATE_MULTIPART_UPLOAD,
    Op.UPLOAD_PART,
    Op.UPLOAD_PART_COPY,
    Op.COMPLETE_MULTIPART_UPLOAD,
    Op.ABORT_MULTIPART_UPLOAD,
    Op.RESTORE_OBJECT,
    Op.POST_OBJECT,
    Op.PUT_OBJECT_LEGAL_HOLD,
    Op.PUT_OBJECT_RETENTION,
    Op.RENAME_OBJECT,
    # Whoever may write an object may also set its canned ACL (as PutObject with x-amz-acl can).
    Op.PUT_OBJECT_ACL,
}


def action_for(op: Op) -> Action:
    if op is Op.LIST_BUCKETS:
        return Action.SERVICE
    if op in _READ:
        return Action.READ
    if op in _LIST:
        return Action.LIST
    if op in _WRITE:
        return Action.WRITE
    # Everything else configures a bucket (or the object ACL, which only its owner changes).
    return Action.ADMIN


# What each declared access level allows.
LEVELS: dict[str, frozenset[Action]] = {
    "read": frozenset({Action.READ, Action.LIST}),
    "write": frozenset({Action.WRITE}),
    "readwrite": frozenset({Action.READ, Action.LIST, Action.WRITE}),
    "admin": frozenset({Action.READ, Action.LIST, Action.WRITE, Action.ADMIN}),
}
