"""Server settings: command-line flags > SMARTS3_* environment > config file > defaults."""

from __future__ import annotations

from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from smarts3.config.declared import CorsRule
from smarts3.config.sections import nested_env, read_file

# The --config file for the Settings being built (a ContextVar: sources are built per class).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("smarts3_config_file", default=None)


class _FlatValues(PydanticBaseSettingsSource):
    """A settings source from an already-flattened dict (the file, or nested variables)."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class Fsync(StrEnum):
    ALWAYS = "always"
    NEVER = "never"


class AuthMode(StrEnum):
    SIGV4 = "sigv4"
    NONE = "none"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTS3_", extra="forbid")

    data_dir: Path = Path("./smarts3-data")
    host: str = "127.0.0.1"
    port: int = Field(default=9000, ge=0, le=65535)
    # Worker processes; "auto" (flag, environment, file) is resolved here to the CPUs we may use (cpus.py).
    workers: int = Field(default=1, ge=1, le=64)
    # The CPUs this server may use, in millicores, when the cgroup does not say (the chart passes the pod's
    # CPU limit, else its request, through the downward API): "auto" workers stay within it.
    cpu_limit_millicores: int | None = Field(default=None, ge=1)
    access_key: str | None = Field(default=None, min_length=3, max_length=128)
    secret_key: SecretStr | None = Field(default=None)
    region: str = "us-east-1"
    # Virtual-host addressing: "bucket.<base_domain>" names a bucket.
    base_domain: str | None = None
    # More names "<bucket>.<name>" is read under (the chart lists its Service DNS names); comma-separated
    # in the environment. "localhost" always is one.
    extra_base_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fsync: Fsync = Fsync.ALWAYS
    # Bodies up to this many bytes are kept in their metadata row, written in the same (group-
    # committed) transaction instead of a file of their own; 0 disables, at most 1 MiB.
    inline_max_bytes: int = Field(default=32 * 1024, ge=0, le=1024 * 1024)
    # Where the metadata index lives: empty for SQLite in the data directory; a postgresql:// (or
    # postgres://) URL for PostgreSQL, which lets several replicas share one data directory.
    metadata: str = Field(default="", pattern=r"^(|postgres(ql)?://.*)$")
    # PostgreSQL connections each worker process may open for requests (docs/postgres.md counts them).
    metadata_pool_size: int = Field(default=16, ge=1, le=1000)
    # The declared buckets and credentials file (watched and reloaded live).
    declared: Path | None = None
    # The file may not exist yet (Kubernetes: the operator writes it later): absent means nothing is
    # declared yet, and a file that disappears later leaves the last good configuration in force.
    declared_optional: bool = False
    # A file holding the bearer token of PUT /_declared and GET /_declared/status on the ops port (the
    # operator pushes the declared configuration there, in seconds instead of at kubelet speed).
    # None: those endpoints answer 404.
    declared_token_file: Path | None = None
    # Serve HTTPS with this certificate chain and key (PEM).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Development: generate (once) a self-signed certificate for localhost into the data directory.
    tls_self_signed: bool = False
    # Also listen for plain HTTP on this port, answering only redirects to HTTPS.
    tls_redirect_port: int | None = Field(default=None, ge=0, le=65535)
    # "none" accepts unsigned requests as root: local development only.
    auth: AuthMode = AuthMode.SIGV4
    # Limits. A single PUT (and a part) may be at most this large (S3: 5 GiB).
    max_object_size: int = Field(default=5 * 1024**3, ge=1)
    # Request line plus headers; larger requests are refused before the app runs.
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)
    # Seconds a connection may wait for the next bytes of a request, and stay idle between requests.
    read_timeout: float = Field(default=60, gt=0)
    keep_alive_timeout: float = Field(default=75, gt=0)
    # Seconds from a connection's accept (or a keep-alive request's first byte) to its complete head.
    request_head_timeout: float = Field(default=30, gt=0)
    # Open connections per worker process; more are answered 503 SlowDown and closed.
    max_connections: int = Field(default=1000, ge=1)
    # SIGTERM/SIGINT: seconds requests in flight get to finish (under Kubernetes' default 30 s).
    shutdown_grace_period: float = Field(default=25, ge=0)
    # Multipart uploads idle this long (seconds) are aborted by a periodic sweep (default 7 days).
    multipart_expire_after: float = Field(default=7 * 24 * 3600, gt=0)
    multipart_sweep_interval: float = Field(default=3600, gt=0)
    # Lifecycle rules: the length of "one day" (the lifecycle debug interval: shorten it only for tests)
    # and how often the sweeper applies the rules (seconds).
    lifecycle_day_seconds: float = Field(default=86400, gt=0)
    lifecycle_sweep_interval: float = Field(default=3600, gt=0)
    # Bucket logging: each worker delivers its access records to the target bucket every this many
    # seconds, or sooner once this many wait; a crash loses at most the records not yet delivered.
    bucket_logging_flush_interval: float = Field(default=60, gt=0)
    bucket_logging_flush_records: int = Field(default=1000, ge=1)
    # Largest XML request body read into memory (DeleteObjects with 1,000 keys fits).
    max_xml_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # CORS: the global policy, for buckets with neither their own configuration (PutBucketCors) nor
    # declared rules. Same rule shape as the declared file; from the environment as JSON, e.g.
    # SMARTS3_CORS='[{"allowedOrigins": ["https://*.example.com"], "allowedMethods": ["GET", "PUT"]}]'
    cors: list[CorsRule] = Field(default_factory=list)
    # Public access block for every bucket (a bucket's own PutPublicAccessBlock adds to it, never lifts it):
    # "none", "all", or a comma-separated list of BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
    # RestrictPublicBuckets.
    public_access_block: str = "none"
    # Logging: text or JSON lines, to stderr or to `log_file` rotated at `log_max_bytes`.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    access_log: bool = True
    # Print a generated root secret in the start-up banner. Off where stdout is collected (the chart:
    # pod logs are shipped and kept); `smarts3 admin credentials show-root --show-secret` reads it.
    banner_secrets: bool = True
    log_file: Path | None = None
    log_max_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    log_backup_count: int = Field(default=5, ge=0, le=1000)
    # GET /_metrics (Prometheus) on the ops port; with a token it requires "Authorization: Bearer <token>",
    # and only then is it served on the S3 port too.
    metrics_enabled: bool = True
    metrics_bearer_token: SecretStr | None = Field(default=None, min_length=1)
    # The ops listener on `host`: /_metrics, /_health and /_ready only, never S3, outside the S3
    # connection cap; what probes and Prometheus use. None ("off") disables it.
    metrics_port: int | None = Field(default=9090, ge=1, le=65535)
    # Encryption at rest (docs/security.md). Master keys (and named SSE-KMS keys) from a JSON file,
    # and/or "<id>:<base64 32 bytes>" master keys (comma-separated, oldest first) from the
    # environment; the last one wraps new data keys. With neither, one is generated into the data
    # directory at first start.
    sse_master_keys_file: Path | None = None
    sse_master_key: SecretStr | None = Field(default=None, min_length=1)
    # Encrypt (SSE-S3) every write that asks for no encryption and whose bucket has no default.
    sse_force: bool = False
    # Development only: accept SSE-C over plain HTTP (AWS refuses it: the key travels in clear).
    sse_c_allow_http: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _CONFIG_FILE.get()
        file_values = read_file(config_file) if config_file else {}
        return (
            init_settings,
            env_settings,
            _FlatValues(settings_cls, nested_env()),
            _FlatValues(settings_cls, file_values),
        )

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Flags (`overrides`) > SMARTS3_* variables > `config_file` > defaults."""
        token = _CONFIG_FILE.set(config_file)
        try:
            return cls(**overrides)
        finally:
            _CONFIG_FILE.reset(token)

    @model_validator(mode="before")
    @classmethod
    def _auto_workers(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("workers"), str) and data["workers"].strip() == "auto":
            from smarts3.cpus import auto_workers

            budget = data.get("cpu_limit_millicores")
            try:
                millicores = int(budget) if budget not in (None, "") else None
            except (TypeError, ValueError):
                millicores = None  # the field's own validation reports it
            data = {**data, "workers": auto_workers(millicores)}
        return data

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _port_or_off(cls, value: Any) -> Any:
        # "off" from the environment or a flag; YAML 1.1 reads an unquoted off as False.
        if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "")):
            return None
        if value is True:
            raise ValueError("a port number, or off")
        return value

    @field_validator("public_access_block")
    @classmethod
    def _block_flags(cls, value: str) -> str:
        from smarts3.access.pab import from_setting  # here: settings stay importable without the server

        from_setting(value)  # raises ValueError naming the unknown flag
        return value

    @field_validator("extra_base_domains", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be given together")
        return self
