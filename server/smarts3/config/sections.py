"""The sectioned view of the settings: a YAML/JSON file and nested SMARTS3_<SECTION>__<KEY> variables.

Internally `Settings` is flat (SMARTS3_DATA_DIR, SMARTS3_PORT... are the
documented names); the file and the nested variables are mapped onto those
fields through one table, so every spelling of a setting lands in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# (section, key in the file) -> flat Settings field
SECTIONS: dict[str, dict[str, str]] = {
    "server": {
        "host": "host",
        "port": "port",
        "workers": "workers",
        "cpuLimitMillicores": "cpu_limit_millicores",
        "baseDomain": "base_domain",
        "region": "region",
        "extraBaseDomains": "extra_base_domains",
    },
    "storage": {"dataDir": "data_dir", "fsync": "fsync", "inlineMaxBytes": "inline_max_bytes", "metadata": "metadata",
                "metadataPoolSize": "metadata_pool_size"},
    "auth": {
        "mode": "auth",
        "accessKey": "access_key",
        "secretKey": "secret_key",
        "declared": "declared",
        "declaredOptional": "declared_optional",
        "declaredTokenFile": "declared_token_file",
        "publicAccessBlock": "public_access_block",
    },
    "tls": {
        "certFile": "tls_cert_file",
        "keyFile": "tls_key_file",
        "selfSigned": "tls_self_signed",
        "redirectPort": "tls_redirect_port",
    },
    "limits": {
        "maxObjectSize": "max_object_size",
        "maxHeaderBytes": "max_header_bytes",
        "maxXmlBytes": "max_xml_bytes",
        "readTimeout": "read_timeout",
        "keepAliveTimeout": "keep_alive_timeout",
        "requestHeadTimeout": "request_head_timeout",
        "maxConnections": "max_connections",
    },
    "shutdown": {"gracePeriod": "shutdown_grace_period"},
    "multipart": {"expireAfter": "multipart_expire_after", "sweepInterval": "multipart_sweep_interval"},
    "lifecycle": {"daySeconds": "lifecycle_day_seconds", "sweepInterval": "lifecycle_sweep_interval"},
    "bucketLogging": {"flushInterval": "bucket_logging_flush_interval", "flushRecords": "bucket_logging_flush_records"},
    "cors": {"rules": "cors"},
    "logging": {
        "format": "log_format",
        "level": "log_level",
        "accessLog": "access_log",
        "bannerSecrets": "banner_secrets",
        "file": "log_file",
        "maxBytes": "log_max_bytes",
        "backupCount": "log_backup_count",
    },
    "metrics": {"enabled": "metrics_enabled", "bearerToken": "metrics_bearer_token", "port": "metrics_port"},
    "encryption": {
        "masterKeysFile": "sse_master_keys_file",
        "masterKey": "sse_master_key",
        "force": "sse_force",
        "allowSseCOverHttp": "sse_c_allow_http",
    },
}
FIELD_PATH: dict[str, str] = {
    field: f"{section}.{key}" for section, keys in SECTIONS.items() for key, field in keys.items()
}
# metadata: a PostgreSQL URL may hold a password.
SECRET_FIELDS = frozenset({"secret_key", "metrics_bearer_token", "sse_master_key", "metadata"})


class ConfigFileError(ValueError):
    pass


def read_file(path: Path) -> dict[str, Any]:
    """The flat field values a sectioned file sets; unknown sections or keys are errors."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: the top level must be a mapping of sections")
    flat: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigFileError(f"{path}: unknown section {section!r}; allowed: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigFileError(f"{path}: section {section!r} must be a mapping")
        for key, value in values.items():
            field = SECTIONS[section].get(key)
            if field is None:
                allowed = ", ".join(SECTIONS[section])
                raise ConfigFileError(f"{path}: unknown key {section}.{key}; allowed in {section}: {allowed}")
            flat[field] = value
    return flat


# SMARTS3_* names that are not server settings: the operator's own prefix, and switches of the
# test and CI tooling (`.ci/run`, tests/) that a developer's shell exports to everything it runs.
TOOLING_PREFIXES = ("SMARTS3_OPERATOR_",)
TOOLING_NAMES = frozenset(
    {"SMARTS3_CI", "SMARTS3_SKIP_SYSTEM_CLIENTS", "SMARTS3_E2E_KEEP", "SMARTS3_E2E_PUT_DEADLINE",
     "SMARTS3_IMAGE_SMOKE", "SMARTS3_IMAGE_BASE",
     "SMARTS3_TEST_METADATA", "SMARTS3_REPLICA_ID"}  # the tests' backend; the launcher's name for its workers
)
# Kubernetes injects <SERVICE>_SERVICE_HOST, <SERVICE>_PORT_9000_TCP... for every Service in the
# namespace (enableServiceLinks); a Service named smarts3 or smarts3-metrics yields SMARTS3_* names.
_SERVICE_LINK = re.compile(
    r"SMARTS3(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)\w*)"
)


def snake(key: str) -> str:
    """maxObjectSize -> max_object_size: the FIELD of SMARTS3_<SECTION>__<FIELD>."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def env_names(field: str) -> list[str]:
    """Every environment spelling of a flat field: the flat name, nested snake_case, nested joined."""
    section, key = FIELD_PATH[field].split(".")
    prefix = f"SMARTS3_{section.upper()}__"
    return list(dict.fromkeys([f"SMARTS3_{field.upper()}", prefix + snake(key).upper(), prefix + key.upper()]))


_NESTED = {
    f"SMARTS3_{section.upper()}__{spelling.upper()}": field
    for section, keys in SECTIONS.items()
    for key, field in keys.items()
    for spelling in (snake(key), key)
}
_FLAT = frozenset(f"SMARTS3_{field.upper()}" for field in FIELD_PATH)


def nested_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """SMARTS3_SERVER__PORT=9001 style variables, as flat field values.

    Also the guard the README promises: a SMARTS3_* name that is neither a setting (flat or
    nested) nor the tooling's stops start-up, so a misspelt variable is not silently ignored.
    """
    environ = os.environ if environ is None else environ
    flat: dict[str, Any] = {}
    for name, value in environ.items():
        upper = name.upper()
        if not upper.startswith("SMARTS3_") or upper in _FLAT:
            continue
        field = _NESTED.get(upper)
        if field is not None:
            flat[field] = yaml.safe_load(value) if field == "cors" else value
        elif not _tooling(upper):
            raise ConfigFileError(f"unknown setting in the environment: {name}")
    return flat


def _tooling(name: str) -> bool:
    return name in TOOLING_NAMES or name.startswith(TOOLING_PREFIXES) or _SERVICE_LINK.fullmatch(name) is not None


def to_sections(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat field values back into the file's shape (for `smarts3 config show`)."""
    out: dict[str, dict[str, Any]] = {}
    for field, value in values.items():
        path = FIELD_PATH.get(field)
        if path is None:
            continue
        section, key = path.split(".")
        out.setdefault(section, {})[key] = "********" if field in SECRET_FIELDS and value else value
    return out
