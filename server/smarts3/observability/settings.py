"""Configuration for logging, the access log and metrics (validation only, no side effects).

Field names are snake_case in Python and camelCase in configuration files
(`logging.maxBytes`, `metrics.bearerToken`); both spellings are accepted.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


_MODEL_CONFIG = ConfigDict(
    extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, frozen=True
)


class LogSettings(BaseModel):
    model_config = _MODEL_CONFIG

    format: LogFormat = LogFormat.TEXT
    level: LogLevel = LogLevel.INFO
    # One line per request on the `smarts3.access` logger, whatever `level` says.
    access_log: bool = True
    # None: stderr. Otherwise append to this file, rotating by size.
    file: Path | None = None
    # Rotate when the file would exceed this many bytes; 0 never rotates.
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    # Rotated files kept as FILE.1 … FILE.N.
    backup_count: int = Field(default=5, ge=0, le=1000)

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class MetricsSettings(BaseModel):
    model_config = _MODEL_CONFIG

    enabled: bool = True
    # When set, GET /_metrics requires `Authorization: Bearer <token>`.
    bearer_token: SecretStr | None = Field(default=None, min_length=1)


class FlatSettings(Protocol):
    """The flat fields of smarts3's Settings that carry these sections."""

    @property
    def log_format(self) -> str: ...
    @property
    def log_level(self) -> str: ...
    @property
    def access_log(self) -> bool: ...
    @property
    def log_file(self) -> Path | None: ...
    @property
    def log_max_bytes(self) -> int: ...
    @property
    def log_backup_count(self) -> int: ...
    @property
    def metrics_enabled(self) -> bool: ...
    @property
    def metrics_bearer_token(self) -> SecretStr | None: ...


class ObservabilitySettings(BaseModel):
    model_config = _MODEL_CONFIG

    logging: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()

    @classmethod
    def from_flat(cls, settings: FlatSettings) -> ObservabilitySettings:
        return cls(
            logging=LogSettings(
                format=LogFormat(str(settings.log_format).lower()),
                level=LogLevel(str(settings.log_level).lower()),
                access_log=settings.access_log,
                file=settings.log_file,
                max_bytes=settings.log_max_bytes,
                backup_count=settings.log_backup_count,
            ),
            metrics=MetricsSettings(enabled=settings.metrics_enabled, bearer_token=settings.metrics_bearer_token),
        )
