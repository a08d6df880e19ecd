"""Operator settings, from ``SMARTS3_OPERATOR_*`` environment variables."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class OperatorSettings(BaseSettings):
    """Where the server is and where its declared configuration goes.

    The Helm chart sets every one of these from its values; the defaults fit a release
    named ``smarts3`` in the ``default`` namespace.
    """

    model_config = SettingsConfigDict(env_prefix="SMARTS3_OPERATOR_", extra="ignore", frozen=True)

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="namespaces to watch (comma-separated in the environment); empty: all",
    )
    # S105 sees "secret" in these names; they are object names, not secrets.
    config_secret_name: str = "smarts3-declared"  # noqa: S105
    config_secret_namespace: str = "default"  # noqa: S105
    config_secret_key: str = "declared.yaml"  # noqa: S105
    server_service: str = "smarts3"
    server_namespace: str | None = Field(
        default=None,
        description="namespace of the server's Service; default: config_secret_namespace",
    )
    server_port: int = Field(default=9000, ge=1, le=65535)
    server_scheme: Literal["http", "https"] = "http"
    endpoint_url: str | None = Field(
        default=None,
        description="AWS_ENDPOINT_URL written to app Secrets; default: the Service URL",
    )
    region: str = "us-east-1"
    push_token_secret: str | None = Field(
        default=None,
        description="Secret (in config_secret_namespace) with the token for pushing the declared configuration "
        "to the server replicas; created when missing. None: no push, Ready means written to the config Secret",
    )
    server_ops_port: int = Field(default=9090, ge=1, le=65535, description="the server's ops port (PUT /_declared)")
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    resync_seconds: float = Field(default=60.0, gt=0, description="drift-repair timer interval")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("config_secret_name", "server_service", "push_token_secret")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _DNS_SUBDOMAIN.match(value) or len(value) > 253:
            raise ValueError(f"{value!r} is not a valid Kubernetes object name")
        return value

    @property
    def endpoint(self) -> str:
        """The S3 endpoint applications in the cluster use."""
        if self.endpoint_url:
            return self.endpoint_url
        namespace = self.server_namespace or self.config_secret_namespace
        return f"{self.server_scheme}://{self.server_service}.{namespace}.svc:{self.server_port}"
