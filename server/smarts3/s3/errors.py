"""S3 errors as typed values, and the one table that maps storage and auth errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from xml.sax.saxutils import escape

from smarts3.auth.types import AuthError
from smarts3.storage import base as st

log = logging.getLogger("smarts3.s3")

# code -> (HTTP status, default message), as the S3 API reference lists them.
_CATALOGUE: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyExists": (409, "The requested bucket name is not available."),
    "BucketAlreadyOwnedByYou": (
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
    ),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "ConditionalRequestConflict": (
        409,
        "A conflicting operation occurred. If using PutObject you can retry the request.",
    ),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length HTTP header."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "ObjectLockConfigurationNotFoundError": (404, "Object Lock configuration does not exist for this bucket"),
    "NoSuchObjectLockConfiguration": (404, "The specified object does not have a ObjectLock configuration"),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidEncryptionAlgorithmError": (
        400,
        "The encryption request you specified is not valid. Supported value: AES256.",
    ),
    "InvalidPart": (
        400,
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
    ),
    "InvalidPartOrder": (
        400,
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
    ),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidTag": (400, "The TagKey you have provided is invalid"),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "InvalidLocationConstraint": (400, "The specified location-constraint is not valid"),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedPolicy": (400, "Policies must be valid JSON and the first byte must be '{'"),
    "MalformedPOSTRequest": (400, "The body of your POST request is not well-formed multipart/form-data."),
    "MaxPostPreDataLengthExceeded": (
        400,
        "Your POST request fields preceding the upload file were too large.",
    ),
    "IncorrectNumberOfFilesInPostRequest": (400, "POST requires exactly one file upload per request."),
    "InvalidPolicyDocument": (
        400,
        "The content of the form does not meet the conditions specified in the policy document.",
    ),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema",
    ),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingRequestBodyError": (400, "Request Body is empty"),
    "MissingSecurityHeader": (400, "Your request is missing a required header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "NoSuchPublicAccessBlockConfiguration": (404, "The public access block configuration was not found"),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NoSuchUpload": (
        404,
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
    ),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented."),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "RequestTimeTooSkewed": (
        403,
        "The difference between the request time and the current time is too large.",
    ),
    "ServerSideEncryptionConfigurationNotFoundError": (
        404,
        "The server side encryption configuration was not found",
    ),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SlowDown": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "XAmzContentSHA256Mismatch": (
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
}


class S3Error(Exception):
    """An error answered as S3 XML: <Error><Code/><Message/>…<RequestId/></Error>."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_status, default_message = _CATALOGUE.get(code, (400, code))
        self.code = code
        self.message = message or default_message
        self.status = status or default_status
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message}")

    def to_xml(self, request_id: str, resource: str = "") -> bytes:
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
            f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>",
        ]
        for name, value in self.fields.items():
            parts.append(f"<{name}>{escape(value)}</{name}>")
        if resource:
            parts.append(f"<Resource>{escape(resource)}</Resource>")
        parts.append(f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        return "".join(parts).encode()


def not_implemented(operation: str) -> S3Error:
    return S3Error("NotImplemented", f"{operation} is not implemented by smarts3.")


def from_exception(exc: BaseException, bucket: str = "", key: str = "") -> S3Error | None:
    """The S3 error for a storage or auth failure, or None when it is unexpected."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, AuthError):
        return S3Error(exc.code, exc.message, status=exc.status)
    fields = {}
    if isinstance(exc, st.NoSuchBucket):
        return S3Error("NoSuchBucket", fields={"BucketName": bucket})
    if isinstance(exc, st.BucketAlreadyExists):
        return S3Error("BucketAlreadyOwnedByYou", fields={"BucketName": bucket})
    if isinstance(exc, st.BucketNotEmpty):
        return S3Error("BucketNotEmpty", fields={"BucketName": bucket})
    if isinstance(exc, st.NoSuchKey):
        if key:
            fields["Key"] = key
        return S3Error("NoSuchKey", fields=fields)
    if isinstance(exc, st.NoSuchVersion):
        return S3Error("NoSuchVersion", fields={"Key": exc.key, "VersionId": exc.version_id})
    if isinstance(exc, st.DeleteMarkerHit):
        marker = {"x-amz-delete-marker": "true", "x-amz-version-id": exc.version_id}
        if exc.by_version:  # a marker has no body, metadata or tags: only DELETE applies to it
            return S3Error(
                "MethodNotAllowed",
                fields={"Method": "GET", "ResourceType": "DeleteMarker"},
                headers={**marker, "allow": "DELETE"},
            )
        return S3Error("NoSuchKey", fields={"Key": exc.key}, headers=marker)
    if isinstance(exc, st.BadVersioningState):
        return S3Error("MalformedXML")
    if isinstance(exc, st.NoSuchUpload):
        return S3Error("NoSuchUpload")
    if isinstance(exc, st.InvalidPart):
        return S3Error("InvalidPart", fields={"PartNumber": str(exc.part_number)})
    if isinstance(exc, st.PreconditionFailed):
        return S3Error("PreconditionFailed", fields={"Condition": "If-Match"})
    if isinstance(exc, st.ConditionalConflict):
        return S3Error("ConditionalRequestConflict")
    if isinstance(exc, st.BadRange):
        return S3Error("InvalidRange")
    if isinstance(exc, st.MetadataUnavailable):
        log.warning("metadata database unavailable: %s", exc)
        return S3Error("ServiceUnavailable")
    if isinstance(exc, st.IntegrityError):
        # Tampering or corruption at rest: logged as such, never served, no traceback to anyone.
        log.error("integrity error: %s/%s: %s", bucket, key, exc)
        return S3Error("InternalError")
    return None
