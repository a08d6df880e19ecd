"""Every request becomes exactly one S3 operation before any handler runs.

The tables follow the S3 API reference: the HTTP method, whether a bucket and a
key are present, the sub-resource named in the query string and, for a few
operations, a guard header. Nothing falls through to a listing or an upload:
a request that names a sub-resource we do not serve is classified as that
operation and answered NotImplemented by the dispatcher.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Op(enum.StrEnum):
    # service
    LIST_BUCKETS = "ListBuckets"
    # buckets
    CREATE_BUCKET = "CreateBucket"
    HEAD_BUCKET = "HeadBucket"
    DELETE_BUCKET = "DeleteBucket"
    GET_BUCKET_LOCATION = "GetBucketLocation"
    GET_BUCKET_VERSIONING = "GetBucketVersioning"
    PUT_BUCKET_VERSIONING = "PutBucketVersioning"
    GET_BUCKET_TAGGING = "GetBucketTagging"
    PUT_BUCKET_TAGGING = "PutBucketTagging"
    DELETE_BUCKET_TAGGING = "DeleteBucketTagging"
    LIST_OBJECTS = "ListObjects"
    LIST_OBJECTS_V2 = "ListObjectsV2"
    LIST_OBJECT_VERSIONS = "ListObjectVersions"
    LIST_MULTIPART_UPLOADS = "ListMultipartUploads"
    DELETE_OBJECTS = "DeleteObjects"
    # objects
    GET_OBJECT = "GetObject"
    HEAD_OBJECT = "HeadObject"
    PUT_OBJECT = "PutObject"
    COPY_OBJECT = "CopyObject"
    DELETE_OBJECT = "DeleteObject"
    GET_OBJECT_TAGGING = "GetObjectTagging"
    PUT_OBJECT_TAGGING = "PutObjectTagging"
    DELETE_OBJECT_TAGGING = "DeleteObjectTagging"
    # multipart
    CREATE_MULTIPART_UPLOAD = "CreateMultipartUpload"
    UPLOAD_PART = "UploadPart"
    UPLOAD_PART_COPY = "UploadPartCopy"
    COMPLETE_MULTIPART_UPLOAD = "CompleteMultipartUpload"
    ABORT_MULTIPART_UPLOAD = "AbortMultipartUpload"
    LIST_PARTS = "ListParts"
    # defined by S3; those without a handler in dispatch.HANDLERS answer NotImplemented
    GET_BUCKET_ACL = "GetBucketAcl"
    PUT_BUCKET_ACL = "PutBucketAcl"
    GET_BUCKET_CORS = "GetBucketCors"
    PUT_BUCKET_CORS = "PutBucketCors"
    DELETE_BUCKET_CORS = "DeleteBucketCors"
    GET_BUCKET_POLICY = "GetBucketPolicy"
    PUT_BUCKET_POLICY = "PutBucketPolicy"
    DELETE_BUCKET_POLICY = "DeleteBucketPolicy"
    GET_BUCKET_POLICY_STATUS = "GetBucketPolicyStatus"
    GET_BUCKET_LIFECYCLE = "GetBucketLifecycleConfiguration"
    PUT_BUCKET_LIFECYCLE = "PutBucketLifecycleConfiguration"
    DELETE_BUCKET_LIFECYCLE = "DeleteBucketLifecycle"
    GET_BUCKET_WEBSITE = "GetBucketWebsite"
    PUT_BUCKET_WEBSITE = "PutBucketWebsite"
    DELETE_BUCKET_WEBSITE = "DeleteBucketWebsite"
    GET_BUCKET_LOGGING = "GetBucketLogging"
    PUT_BUCKET_LOGGING = "PutBucketLogging"
    GET_BUCKET_NOTIFICATION = "GetBucketNotificationConfiguration"
    PUT_BUCKET_NOTIFICATION = "PutBucketNotificationConfiguration"
    GET_BUCKET_ENCRYPTION = "GetBucketEncryption"
    PUT_BUCKET_ENCRYPTION = "PutBucketEncryption"
    DELETE_BUCKET_ENCRYPTION = "DeleteBucketEncryption"
    GET_BUCKET_REPLICATION = "GetBucketReplication"
    PUT_BUCKET_REPLICATION = "PutBucketReplication"
    DELETE_BUCKET_REPLICATION = "DeleteBucketReplication"
    GET_BUCKET_REQUEST_PAYMENT = "GetBucketRequestPayment"
    PUT_BUCKET_REQUEST_PAYMENT = "PutBucketRequestPayment"
    GET_BUCKET_ACCELERATE = "GetBucketAccelerateConfiguration"
    PUT_BUCKET_ACCELERATE = "PutBucketAccelerateConfiguration"
    GET_OBJECT_LOCK_CONFIGURATION = "GetObjectLockConfiguration"
    PUT_OBJECT_LOCK_CONFIGURATION = "PutObjectLockConfiguration"
    GET_BUCKET_OWNERSHIP_CONTROLS = "GetBucketOwnershipControls"
    PUT_BUCKET_OWNERSHIP_CONTROLS = "PutBucketOwnershipControls"
    DELETE_BUCKET_OWNERSHIP_CONTROLS = "DeleteBucketOwnershipControls"
    GET_PUBLIC_ACCESS_BLOCK = "GetPublicAccessBlock"
    PUT_PUBLIC_ACCESS_BLOCK = "PutPublicAccessBlock"
    DELETE_PUBLIC_ACCESS_BLOCK = "DeletePublicAccessBlock"
    BUCKET_ANALYTICS = "BucketAnalyticsConfiguration"
    BUCKET_INVENTORY = "BucketInventoryConfiguration"
    BUCKET_METRICS = "BucketMetricsConfiguration"
    BUCKET_INTELLIGENT_TIERING = "BucketIntelligentTieringConfiguration"
    BUCKET_METADATA = "BucketMetadataConfiguration"
    POST_OBJECT = "PostObject"
    GET_OBJECT_ACL = "GetObjectAcl"
    PUT_OBJECT_ACL = "PutObjectAcl"
    GET_OBJECT_ATTRIBUTES = "GetObjectAttributes"
    GET_OBJECT_LEGAL_HOLD = "GetObjectLegalHold"
    PUT_OBJECT_LEGAL_HOLD = "PutObjectLegalHold"
    GET_OBJECT_RETENTION = "GetObjectRetention"
    PUT_OBJECT_RETENTION = "PutObjectRetention"
    GET_OBJECT_TORRENT = "GetObjectTorrent"
    RESTORE_OBJECT = "RestoreObject"
    SELECT_OBJECT_CONTENT = "SelectObjectContent"
    RENAME_OBJECT = "RenameObject"
    WRITE_GET_OBJECT_RESPONSE = "WriteGetObjectResponse"
    CORS_PREFLIGHT = "PreflightRequest"


class Unclassified(Exception):
    """The method is not defined for this resource (S3: 405 MethodNotAllowed)."""


# (sub-resource, operation): the first sub-resource present in the query wins.
_Table = tuple[tuple[str, Op], ...]

_BUCKET_GET: _Table = (
    ("location", Op.GET_BUCKET_LOCATION),
    ("versioning", Op.GET_BUCKET_VERSIONING),
    ("tagging", Op.GET_BUCKET_TAGGING),
    ("versions", Op.LIST_OBJECT_VERSIONS),
    ("uploads", Op.LIST_MULTIPART_UPLOADS),
    ("acl", Op.GET_BUCKET_ACL),
    ("cors", Op.GET_BUCKET_CORS),
    ("policy", Op.GET_BUCKET_POLICY),
    ("policyStatus", Op.GET_BUCKET_POLICY_STATUS),
    ("lifecycle", Op.GET_BUCKET_LIFECYCLE),
    ("website", Op.GET_BUCKET_WEBSITE),
    ("logging", Op.GET_BUCKET_LOGGING),
    ("notification", Op.GET_BUCKET_NOTIFICATION),
    ("encryption", Op.GET_BUCKET_ENCRYPTION),
    ("replication", Op.GET_BUCKET_REPLICATION),
    ("requestPayment", Op.GET_BUCKET_REQUEST_PAYMENT),
    ("accelerate", Op.GET_BUCKET_ACCELERATE),
    ("object-lock", Op.GET_OBJECT_LOCK_CONFIGURATION),
    ("ownershipControls", Op.GET_BUCKET_OWNERSHIP_CONTROLS),
    ("publicAccessBlock", Op.GET_PUBLIC_ACCESS_BLOCK),
    ("analytics", Op.BUCKET_ANALYTICS),
    ("inventory", Op.BUCKET_INVENTORY),
    ("metrics", Op.BUCKET_METRICS),
    ("intelligent-tiering", Op.BUCKET_INTELLIGENT_TIERING),
    ("metadataTable", Op.BUCKET_METADATA),
    ("metadataConfiguration", Op.BUCKET_METADATA),
)
_BUCKET_PUT: _Table = (
    ("versioning", Op.PUT_BUCKET_VERSIONING),
    ("tagging", Op.PUT_BUCKET_TAGGING),
    ("acl", Op.PUT_BUCKET_ACL),
    ("cors", Op.PUT_BUCKET_CORS),
    ("policy", Op.PUT_BUCKET_POLICY),
    ("lifecycle", Op.PUT_BUCKET_LIFECYCLE),
    ("website", Op.PUT_BUCKET_WEBSITE),
    ("logging", Op.PUT_BUCKET_LOGGING),
    ("notification", Op.PUT_BUCKET_NOTIFICATION),
    ("encryption", Op.PUT_BUCKET_ENCRYPTION),
    ("replication", Op.PUT_BUCKET_REPLICATION),
    ("requestPayment", Op.PUT_BUCKET_REQUEST_PAYMENT),
    ("accelerate", Op.PUT_BUCKET_ACCELERATE),
    ("object-lock", Op.PUT_OBJECT_LOCK_CONFIGURATION),
    ("ownershipControls", Op.PUT_BUCKET_OWNERSHIP_CONTROLS),
    ("publicAccessBlock", Op.PUT_PUBLIC_ACCESS_BLOCK),
    ("analytics", Op.BUCKET_ANALYTICS),
    ("inventory", Op.BUCKET_INVENTORY),
    ("metrics", Op.BUCKET_METRICS),
    ("intelligent-tiering", Op.BUCKET_INTELLIGENT_TIERING),
    ("metadataTable", Op.BUCKET_METADATA),
)
_BUCKET_DELETE: _Table = (
    ("tagging", Op.DELETE_BUCKET_TAGGING),
    ("cors", Op.DELETE_BUCKET_CORS),
    ("policy", Op.DELETE_BUCKET_POLICY),
    ("lifecycle", Op.DELETE_BUCKET_LIFECYCLE),
    ("website", Op.DELETE_BUCKET_WEBSITE),
    ("encryption", Op.DELETE_BUCKET_ENCRYPTION),
    ("replication", Op.DELETE_BUCKET_REPLICATION),
    ("ownershipControls", Op.DELETE_BUCKET_OWNERSHIP_CONTROLS),
    ("publicAccessBlock", Op.DELETE_PUBLIC_ACCESS_BLOCK),
    ("analytics", Op.BUCKET_ANALYTICS),
    ("inventory", Op.BUCKET_INVENTORY),
    ("metrics", Op.BUCKET_METRICS),
    ("intelligent-tiering", Op.BUCKET_INTELLIGENT_TIERING),
    ("metadataTable", Op.BUCKET_METADATA),
)
_BUCKET_POST: _Table = (("delete", Op.DELETE_OBJECTS), ("metadataTable", Op.BUCKET_METADATA))

_OBJECT_GET: _Table = (
    ("uploadId", Op.LIST_PARTS),
    ("tagging", Op.GET_OBJECT_TAGGING),
    ("acl", Op.GET_OBJECT_ACL),
    ("attributes", Op.GET_OBJECT_ATTRIBUTES),
    ("legal-hold", Op.GET_OBJECT_LEGAL_HOLD),
    ("retention", Op.GET_OBJECT_RETENTION),
    ("torrent", Op.GET_OBJECT_TORRENT),
)
_OBJECT_PUT: _Table = (
    ("tagging", Op.PUT_OBJECT_TAGGING),
    ("acl", Op.PUT_OBJECT_ACL),
    ("legal-hold", Op.PUT_OBJECT_LEGAL_HOLD),
    ("retention", Op.PUT_OBJECT_RETENTION),
    ("renameObject", Op.RENAME_OBJECT),
)
_OBJECT_DELETE: _Table = (
    ("tagging", Op.DELETE_OBJECT_TAGGING),
    ("uploadId", Op.ABORT_MULTIPART_UPLOAD),
)
_OBJECT_POST: _Table = (
    ("uploads", Op.CREATE_MULTIPART_UPLOAD),
    ("uploadId", Op.COMPLETE_MULTIPART_UPLOAD),
    ("restore", Op.RESTORE_OBJECT),
    ("select", Op.SELECT_OBJECT_CONTENT),
)


def _first(table: _Table, query: Mapping[str, str]) -> Op | None:
    for name, op in table:
        if name in query:
            return op
    return None


def classify(
    method: str, bucket: str | None, key: str | None, query: Mapping[str, str], headers: Mapping[str, str]
) -> Op:
    """The one S3 operation a request names; Unclassified for 405."""
    if method == "OPTIONS" and bucket:
        return Op.CORS_PREFLIGHT
    if not bucket:
        if method in ("GET", "HEAD"):
            return Op.LIST_BUCKETS
        if method == "POST" and "x-amz-request-route" in headers:
            return Op.WRITE_GET_OBJECT_RESPONSE
        raise Unclassified
    if key is None:
        return _classify_bucket(method, query)
    return _classify_object(method, query, headers)


def _classify_bucket(method: str, query: Mapping[str, str]) -> Op:
    if method == "GET":
        op = _first(_BUCKET_GET, query)
        if op:
            return op
        return Op.LIST_OBJECTS_V2 if query.get("list-type") == "2" else Op.LIST_OBJECTS
    if method == "HEAD":
        return Op.HEAD_BUCKET
    if method == "PUT":
        return _first(_BUCKET_PUT, query) or Op.CREATE_BUCKET
    if method == "DELETE":
        return _first(_BUCKET_DELETE, query) or Op.DELETE_BUCKET
    if method == "POST":
        return _first(_BUCKET_POST, query) or Op.POST_OBJECT
    raise Unclassified


def _classify_object(method: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Op:
    if method == "GET":
        return _first(_OBJECT_GET, query) or Op.GET_OBJECT
    if method == "HEAD":
        return Op.HEAD_OBJECT
    if method == "PUT":
        op = _first(_OBJECT_PUT, query)
        if op:
            return op
        copy = "x-amz-copy-source" in headers
        if "uploadId" in query or "partNumber" in query:
            return Op.UPLOAD_PART_COPY if copy else Op.UPLOAD_PART
        return Op.COPY_OBJECT if copy else Op.PUT_OBJECT
    if method == "DELETE":
        return _first(_OBJECT_DELETE, query) or Op.DELETE_OBJECT
    if method == "POST":
        op = _first(_OBJECT_POST, query)
        if op:
            return op
        raise Unclassified
    raise Unclassified
