"""The custom resources' specs, parsed at the trust boundary.

The CRDs' structural schemas reject most bad input at admission; these models repeat the
rules that matter (and add S3's naming rules that a regex cannot hold), so an object that
slipped past an older CRD gets a clear InvalidSpec condition instead of a crash.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smarts3.config.declared import CorsRule, DeletionPolicy, PublicAccessBlock

GROUP = "smarts3.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
BUCKETS = "s3buckets"
CREDENTIALS = "s3credentials"
GRANTS = "s3bucketgrants"

DURATION_PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
"""A Go-style duration in whole hours, minutes and seconds ("10m", "1h30m", "90s")."""
_DURATION_PART = re.compile(r"([0-9]+)([hms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
DEFAULT_PREVIOUS_KEY_TTL = "10m"

_K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class InvalidSpec(ValueError):
    """The object's spec cannot be reconciled until someone changes it."""


class _Spec(BaseModel):
    # Unknown fields are ignored: a newer CRD must not break an older operator.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class BucketSpec(_Spec):
    bucket_name: str | None = Field(default=None, alias="bucketName")
    public_read: bool = Field(default=False, alias="publicRead")
    cors: list[CorsRule] = Field(default_factory=list)
    deletion_policy: DeletionPolicy = Field(default=DeletionPolicy.RETAIN, alias="deletionPolicy")
    force_delete: bool = Field(default=False, alias="forceDelete")
    """With Delete: the server empties the bucket when the S3Bucket is deleted."""
    policy: dict[str, Any] | None = None  # validated by the server when it applies the file
    public_access_block: PublicAccessBlock | None = Field(default=None, alias="publicAccessBlock")


class BucketRef(_Spec):
    name: str = Field(min_length=1, max_length=253, pattern=_K8S_NAME)
    namespace: str | None = Field(default=None, min_length=1, max_length=63, pattern=_K8S_NAME)
    """Another namespace's S3Bucket (an S3BucketGrant there must allow it)."""
    access: Literal["read", "write", "readwrite"]

    def namespace_or(self, own: str) -> str:
        return self.namespace or own


class GrantFrom(_Spec):
    namespace: str = Field(min_length=1, max_length=63, pattern=_K8S_NAME)
    credentials: list[str] = Field(default_factory=list, max_length=100)


class BucketGrantSpec(_Spec):
    """S3BucketGrant: which other namespaces' S3Credentials may bind one S3Bucket of this namespace."""

    bucket: str = Field(min_length=1, max_length=253, pattern=_K8S_NAME)
    from_: list[GrantFrom] = Field(alias="from", min_length=1, max_length=100)

    def allows(self, namespace: str, credential: str) -> bool:
        return any(f.namespace == namespace and (not f.credentials or credential in f.credentials) for f in self.from_)


def parse_duration(text: str) -> datetime.timedelta:
    """``DURATION_PATTERN`` text as a timedelta; "0s" means no overlap."""
    if not text or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 10m, 1h30m or 90s")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return datetime.timedelta(seconds=seconds)


class CredentialSpec(_Spec):
    secret_name: str = Field(alias="secretName", min_length=1, max_length=253, pattern=_K8S_NAME)
    buckets: list[BucketRef] = Field(min_length=1, max_length=100)
    previous_key_ttl: datetime.timedelta = Field(
        default=parse_duration(DEFAULT_PREVIOUS_KEY_TTL), alias="previousKeyTTL"
    )
    """After a rotation, how long the previous key keeps working (its grants unchanged)."""
    create_buckets: bool = Field(default=False, alias="createBuckets")
    """The key may create buckets, which it then owns (docs/access.md)."""

    @field_validator("previous_key_ttl", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "spec"
        parts.append(f"spec.{where}: {item['msg']}")
    return "; ".join(parts)


def parse_bucket(spec: Mapping[str, Any]) -> BucketSpec:
    try:
        return BucketSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise InvalidSpec(_explain(exc)) from None


def parse_grant(spec: Mapping[str, Any]) -> BucketGrantSpec:
    try:
        return BucketGrantSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise InvalidSpec(_explain(exc)) from None


def parse_credential(spec: Mapping[str, Any]) -> CredentialSpec:
    try:
        parsed = CredentialSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise InvalidSpec(_explain(exc)) from None
    names = [ref.name for ref in parsed.buckets]
    if len(names) != len(set(names)):
        raise InvalidSpec("spec.buckets: each S3Bucket may be listed once")
    return parsed
