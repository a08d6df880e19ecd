"""The declared configuration: buckets and credentials the server must follow.

This file format is the whole contract between the server and the Kubernetes
operator, which writes it into a Secret the server mounts. Keep it importable
without the rest of the server (pydantic only).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
    name: str
    public_read: bool = Field(default=False, alias="publicRead")
    cors: list[CorsRule] = Field(default_factory=list)
    deletion_policy: DeletionPolicy = Field(default=DeletionPolicy.RETAIN, alias="deletionPolicy")
    # A bucket policy document (the JSON of PutBucketPolicy, as an object); the server validates it on apply.
    policy: dict[str, Any] | None = None
    public_access_block: PublicAccessBlock | None = Field(default=None, alias="publicAccessBlock")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        problem = bucket_name_problem(value)
        if problem:
            raise ValueError(f"invalid bucket name {value!r}: {problem}")
        return value


class Grant(_Model):
    bucket: str = Field(min_length=1, max_length=63, description="bucket name or glob")
    access: Access


class DeclaredCredential(_Model):
    name: str = Field(min_length=1, max_length=253)
    access_key_id: str = Field(alias="accessKeyId", min_length=3, max_length=128)
    secret_access_key: SecretStr | None = Field(default=None, alias="secretAccessKey")
    secret_access_key_file: Path | None = Field(default=None, alias="secretAccessKeyFile")
    grants: list[Grant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_secret(self) -> DeclaredCredential:
        if (self.secret_access_key is None) == (self.secret_access_key_file is None):
            raise ValueError("give exactly one of secretAccessKey and secretAccessKeyFile")
        return self


class DeclaredConfig(_Model):
    buckets: list[DeclaredBucket] = Field(default_factory=list)
    credentials: list[DeclaredCredential] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> DeclaredConfig:
        names = [b.name for b in self.buckets]
        if len(names) != len(set(names)):
            raise ValueError("bucket names must be unique")
        keys = [c.access_key_id for c in self.credentials]
        if len(keys) != len(set(keys)):
            raise ValueError("accessKeyId values must be unique")
        return self
