"""The declared configuration: buckets and credentials the server must follow.

This file format is the whole contract between the server and the Kubernetes
operator, which writes it into a Secret the server mounts. Keep it importable
without the rest of the server (pydantic only).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid S3 bucket name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return "must be between 3 and 63 characters long"
    if not _BUCKET_RE.match(name):
        return "may contain only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    if _IP_RE.match(name):
        return "must not be formatted as an IP address"
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")
    ):
        return "uses a prefix or suffix reserved by S3"
    return None


def _checked_bucket_name(value: str) -> str:
    problem = bucket_name_problem(value)
    if problem:
        raise ValueError(f"invalid bucket name {value!r}: {problem}")
    return value


BucketName = Annotated[str, AfterValidator(_checked_bucket_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"
    ADMIN = "admin"


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class CorsRule(_Model):
    allowed_origins: list[str] = Field(alias="allowedOrigins", min_length=1)
    allowed_methods: list[str] = Field(alias="allowedMethods", min_length=1)
    allowed_headers: list[str] = Field(default_factory=list, alias="allowedHeaders")
    expose_headers: list[str] = Field(default_factory=list, alias="exposeHeaders")
    max_age_seconds: int | None = Field(default=None, alias="maxAgeSeconds", ge=0)
    id: str | None = None

    @field_validator("allowed_methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        allowed = {"GET", "PUT", "POST", "DELETE", "HEAD"}
        bad = [m for m in value if m not in allowed]
        if bad:
            raise ValueError(f"unsupported CORS methods {bad}; allowed: {sorted(allowed)}")
        return value


class PublicAccessBlock(_Model):
    block_public_acls: bool = Field(default=False, alias="blockPublicAcls")
    ignore_public_acls: bool = Field(default=False, alias="ignorePublicAcls")
    block_public_policy: bool = Field(default=False, alias="blockPublicPolicy")
    restrict_public_buckets: bool = Field(default=False, alias="restrictPublicBuckets")


class DeclaredBucket(_Model):
    name: BucketName
    public_read: bool = Field(default=False, alias="publicRead")
    cors: list[CorsRule] = Field(default_factory=list)
    deletion_policy: DeletionPolicy = Field(default=DeletionPolicy.RETAIN, alias="deletionPolicy")
    # A bucket policy document (the JSON of PutBucketPolicy, as an object); the server validates it on apply.
    policy: dict[str, Any] | None = None
    public_access_block: PublicAccessBlock | None = Field(default=None, alias="publicAccessBlock")


class BucketDeletion(_Model):
    """A bucket to delete (the operator lists an S3Bucket being deleted with deletionPolicy Delete)."""

    name: BucketName
    # Delete the objects and unfinished uploads first; without it a non-empty bucket is kept
    # (and deleted once someone empties it).
    force: bool = False


class Grant(_Model):
    bucket: str = Field(min_length=1, max_length=63, description="bucket name or glob")
    access: Access


class DeclaredCredential(_Model):
    name: str = Field(min_length=1, max_length=253)
    access_key_id: str = Field(alias="accessKeyId", min_length=3, max_length=128)
    secret_access_key: SecretStr | None = Field(default=None, alias="secretAccessKey")
    secret_access_key_file: Path | None = Field(default=None, alias="secretAccessKeyFile")
    grants: list[Grant] = Field(default_factory=list)
    # Who this key acts as: its canonical user id derives from this (default: the name), so two
    # entries with one identity are two keys of one user (a rotation overlap), owning the same buckets.
    identity: str | None = Field(default=None, min_length=1, max_length=253)
    # May create buckets, which it then owns (full control without a grant); see docs/access.md.
    create_buckets: bool = Field(default=False, alias="createBuckets")
    # Lets ACL grants name this credential by email address (x-amz-grant-*: emailAddress="...").
    email: str | None = Field(default=None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")

    @field_validator("name", "identity")
    @classmethod
    def _printable_name(cls, value: str | None) -> str | None:
        # Canonical user ids derive from these; root's derives from a name with a NUL.
        if value is not None and not value.isprintable():
            raise ValueError("must be printable")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> DeclaredCredential:
        if (self.secret_access_key is None) == (self.secret_access_key_file is None):
            raise ValueError("give exactly one of secretAccessKey and secretAccessKeyFile")
        return self


class DeclaredConfig(_Model):
    # Which configuration is newer: the operator numbers each one it writes or pushes, and the
    # server never goes back to a lower number (a kubelet-synced file lags behind a push).
    generation: int = Field(default=0, ge=0)
    buckets: list[DeclaredBucket] = Field(default_factory=list)
    credentials: list[DeclaredCredential] = Field(default_factory=list)
    deletions: list[BucketDeletion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> DeclaredConfig:
        names = [b.name for b in self.buckets]
        if len(names) != len(set(names)):
            raise ValueError("bucket names must be unique")
        doomed = {d.name for d in self.deletions} & set(names)
        if doomed:
            raise ValueError(f"buckets both declared and to delete: {sorted(doomed)}")
        keys = [c.access_key_id for c in self.credentials]
        if len(keys) != len(set(keys)):
            raise ValueError("accessKeyId values must be unique")
        names = [c.name for c in self.credentials]
        if len(names) != len(set(names)):
            raise ValueError("credential names must be unique")
        # An email names one identity in ACL grants.
        owners: dict[str, str] = {}
        for cred in self.credentials:
            if cred.email and owners.setdefault(cred.email.lower(), cred.identity or cred.name) != (
                cred.identity or cred.name
            ):
                raise ValueError(f"email {cred.email!r} is given to two identities")
        return self
