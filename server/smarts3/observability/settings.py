"""Configuration for logging, the access log and metrics (validation only, no side effects).

Field names are snake_case in Python and camelCase in configuration files
(`logging.maxBytes`, `metrics.bearerToken`); both spellings are accepted.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

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


class ObservabilitySettings(BaseModel):
    model_config = _MODEL_CONFIG

    logging: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
