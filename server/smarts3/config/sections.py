"""The sectioned view of the settings: a YAML/JSON file and nested SMARTS3_<SECTION>__<KEY> variables.

Internally `Settings` is flat (SMARTS3_DATA_DIR, SMARTS3_PORT... are the
documented names); the file and the nested variables are mapped onto those
fields through one table, so every spelling of a setting lands in one place.
"""

from __future__ import annotations

import os
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
        "baseDomain": "base_domain",
        "region": "region",
        "extraBaseDomains": "extra_base_domains",
    },
    "storage": {"dataDir": "data_dir", "fsync": "fsync"},
    "auth": {"mode": "auth", "accessKey": "access_key", "secretKey": "secret_key", "declared": "declared"},
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
    "cors": {"rules": "cors"},
    "logging": {
        "format": "log_format",
        "level": "log_level",
        "accessLog": "access_log",
        "file": "log_file",
        "maxBytes": "log_max_bytes",
        "backupCount": "log_backup_count",
    },
    "metrics": {"enabled": "metrics_enabled", "bearerToken": "metrics_bearer_token", "port": "metrics_port"},
}
FIELD_PATH: dict[str, str] = {
    field: f"{section}.{key}" for section, keys in SECTIONS.items() for key, field in keys.items()
}
SECRET_FIELDS = frozenset({"secret_key", "metrics_bearer_token"})


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


def nested_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """SMARTS3_SERVER__PORT=9001 style variables, as flat field values."""
    environ = os.environ if environ is None else environ
    lookup = {
        f"SMARTS3_{section.upper()}__{key.upper()}": field
        for section, keys in SECTIONS.items()
        for key, field in keys.items()
    }
    flat: dict[str, Any] = {}
    for name, value in environ.items():
        if name.startswith("SMARTS3_") and "__" in name:
            field = lookup.get(name.upper())
            if field is None:
                raise ConfigFileError(f"unknown setting in the environment: {name}")
            flat[field] = yaml.safe_load(value) if field == "cors" else value
    return flat


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
