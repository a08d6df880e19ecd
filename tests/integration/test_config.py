"""The configuration surface: file sections, nested and flat variables, flags, and their errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from smarts3.config.sections import FIELD_PATH
from tests.conftest import start_subprocess_server

ROOT = Path(__file__).resolve().parents[2]


def smarts3(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    return subprocess.run([sys.executable, "-m", "smarts3", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=60)


def show(*args: str, env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
    result = smarts3("config", "show", *args, env=env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server: {port: 9101, workers: 3, host: 0.0.0.0}\nstorage: {fsync: never}\n")
    assert show("--config", str(config))["server"]["port"] == 9101
    shown = show("--config", str(config), env={"SMARTS3_SERVER__PORT": "9102", "SMARTS3_WORKERS": "2"})
    assert shown["server"]["port"] == 9102
    assert shown["server"]["workers"] == 2
    assert shown["server"]["host"] == "0.0.0.0"
    assert shown["storage"]["fsync"] == "never"
    # a flag beats both: serve for real with the file, an environment variable and a flag
    data = tmp_path / "data"
    proc, url = start_subprocess_server(data, "--config", str(config), env={"SMARTS3_SERVER__PORT": "1"})
    try:
        assert httpx.get(f"{url}/_health").status_code == 200  # the fixture's --port flag won
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_secrets_are_masked(tmp_path: Path) -> None:
    shown = show(env={"SMARTS3_ACCESS_KEY": "VISIBLEKEY01", "SMARTS3_SECRET_KEY": "hidden-secret-value"})
    assert shown["auth"]["accessKey"] == "VISIBLEKEY01"
    assert shown["auth"]["secretKey"] == "********"
    assert "hidden-secret-value" not in smarts3("config", "show",
                                                env={"SMARTS3_SECRET_KEY": "hidden-secret-value"}).stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server: {port: 70000}", "server.port = 70000"),
        ("server: {prot: 1}", "unknown key server.prot; allowed in server: host, port"),
        ("serve: {port: 1}", "unknown section 'serve'"),
        ("storage: {fsync: sometimes}", "storage.fsync = 'sometimes'"),
        ("server: [1, 2]", "section 'server' must be a mapping"),
        ("server: {port: 1", "not valid YAML"),
        ("tls: {certFile: /a.pem}", "must be given together"),
        ("cors: {rules: [{allowedOrigins: ['*'], allowedMethods: [PATCH]}]}", "unsupported CORS methods"),
    ],
)
def test_invalid_files_stop_with_a_readable_message(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    for args in (["config", "check", str(config)], ["serve", "--config", str(config), "--data-dir", str(tmp_path)]):
        result = smarts3(*args)
        assert result.returncode == 2, result
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_invalid_environment_and_flags(tmp_path: Path) -> None:
    result = smarts3("serve", "--data-dir", str(tmp_path), env={"SMARTS3_SERVER__PROT": "1"})
    assert result.returncode == 2
    assert "SMARTS3_SERVER__PROT" in result.stderr
    result = smarts3("serve", "--data-dir", str(tmp_path), "--workers", "0")
    assert result.returncode == 2
    assert "server.workers = 0" in result.stderr
    assert "Traceback" not in result.stderr


# compose.yaml is a container compose file (checked by its own schema test), not a smarts3 configuration.
CONFIG_EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "compose.yaml")


@pytest.mark.parametrize("example", CONFIG_EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(example: Path) -> None:
    # --syntax-only: the files an example references (TLS, declared) exist where it is deployed, not here
    result = smarts3("config", "check", "--syntax-only", str(example))
    assert result.returncode == 0, result.stderr


# A valid, non-default value for every setting: (environment text, what Settings holds).
ENV_VALUES: dict[str, tuple[str, object]] = {
    "host": ("0.0.0.0", "0.0.0.0"),
    "port": ("9123", 9123),
    "workers": ("3", 3),
    "cpu_limit_millicores": ("1500", 1500),
    "base_domain": ("s3.example.test", "s3.example.test"),
    "extra_base_domains": ("a.example, b.example", ["a.example", "b.example"]),
    "region": ("eu-west-3", "eu-west-3"),
    "data_dir": ("/srv/s3", Path("/srv/s3")),
    "fsync": ("never", "never"),
    "inline_max_bytes": ("4096", 4096),
    "metadata": ("postgresql://smarts3@db:5432/smarts3", "postgresql://smarts3@db:5432/smarts3"),
    "metadata_pool_size": ("4", 4),
    "auth": ("none", "none"),
    "access_key": ("ENVKEY0001", "ENVKEY0001"),
    "secret_key": ("env-secret-0001", "env-secret-0001"),
    "declared": ("/etc/smarts3/declared.yaml", Path("/etc/smarts3/declared.yaml")),
    "declared_optional": ("true", True),
    "declared_token_file": ("/etc/smarts3/push/token", Path("/etc/smarts3/push/token")),
    "public_access_block": ("BlockPublicAcls,IgnorePublicAcls", "BlockPublicAcls,IgnorePublicAcls"),
    "banner_secrets": ("false", False),
    "tls_cert_file": ("/tls/cert.pem", Path("/tls/cert.pem")),
    "tls_key_file": ("/tls/key.pem", Path("/tls/key.pem")),
    "tls_self_signed": ("true", True),
    "tls_redirect_port": ("8080", 8080),
    "max_object_size": ("1048576", 1048576),
    "max_header_bytes": ("8192", 8192),
    "max_xml_bytes": ("4096", 4096),
    "read_timeout": ("12.5", 12.5),
    "keep_alive_timeout": ("11", 11),
    "request_head_timeout": ("9", 9),
    "max_connections": ("77", 77),
    "shutdown_grace_period": ("3", 3),
    "multipart_expire_after": ("600", 600),
    "multipart_sweep_interval": ("60", 60),
    "lifecycle_day_seconds": ("1.5", 1.5),
    "lifecycle_sweep_interval": ("30", 30),
    "bucket_logging_flush_interval": ("7", 7),
    "bucket_logging_flush_records": ("50", 50),
    "cors": ('[{"allowedOrigins": ["*"], "allowedMethods": ["GET"]}]', ["*"]),
    "log_format": ("json", "json"),
    "log_level": ("debug", "debug"),
    "access_log": ("false", False),
    "log_file": ("/var/log/smarts3.log", Path("/var/log/smarts3.log")),
    "log_max_bytes": ("1000", 1000),
    "log_backup_count": ("2", 2),
    "metrics_enabled": ("false", False),
    "metrics_bearer_token": ("scrape-token", "scrape-token"),
    "metrics_port": ("9191", 9191),
    "sse_master_keys_file": ("/keys/sse.json", Path("/keys/sse.json")),
    "sse_master_key": ("k1:" + "A" * 43 + "=", "k1:" + "A" * 43 + "="),
    "sse_force": ("true", True),
    "sse_c_allow_http": ("true", True),
}
# Settings that are only valid together with another one.
COMPANIONS = {"tls_cert_file": {"tls_key_file": "/k.pem"}, "tls_key_file": {"tls_cert_file": "/c.pem"}}


def _held(settings: object, field: str) -> object:
    value = getattr(settings, field)
    if field == "cors":
        return value[0].allowed_origins
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


@pytest.mark.parametrize("field", sorted(FIELD_PATH))
def test_every_setting_has_a_flat_and_a_nested_snake_case_variable(
    field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smarts3.config.settings import Settings

    section, key = FIELD_PATH[field].split(".")
    snake_name = f"SMARTS3_{section.upper()}__{re.sub(r'(?<!^)(?=[A-Z])', '_', key).upper()}"
    assert field in ENV_VALUES, f"add a test value for the new setting {field}"
    text, expected = ENV_VALUES[field]
    for name in os.environ:
        if name.startswith("SMARTS3_"):
            monkeypatch.delenv(name)
    for name in (f"SMARTS3_{field.upper()}", snake_name, f"SMARTS3_{section.upper()}__{key.upper()}"):
        with monkeypatch.context() as env:
            for other, value in COMPANIONS.get(field, {}).items():
                env.setenv(f"SMARTS3_{other.upper()}", value)
            env.setenv(name, text)
            assert _held(Settings.load(), field) == expected, name


def test_nested_snake_case_and_flat_names_from_the_command_line(tmp_path: Path) -> None:
    shown = show(env={"SMARTS3_LIMITS__MAX_OBJECT_SIZE": "1048576", "SMARTS3_METRICS__BEARER_TOKEN": "t0k3n",
                      "SMARTS3_READ_TIMEOUT": "7", "SMARTS3_CI": "1"})
    assert shown["limits"]["maxObjectSize"] == 1048576
    assert shown["limits"]["readTimeout"] == 7
    assert shown["metrics"]["bearerToken"] == "********"


@pytest.mark.parametrize("name", ["SMARTS3_MAX_OBJECTSIZE", "SMARTS3_LIMITS__MAX_OBJECTSIZ", "SMARTS3_BOGUS"])
def test_unknown_variables_stop_start_up(name: str, tmp_path: Path) -> None:
    for args in (["serve", "--data-dir", str(tmp_path / "data")], ["config", "show"]):
        result = smarts3(*args, env={name: "1"})
        assert result.returncode == 2, result
        assert result.stderr.strip() == f"smarts3: unknown setting in the environment: {name}"
    assert not (tmp_path / "data").exists()


def test_kubernetes_service_links_and_tooling_variables_are_not_settings(tmp_path: Path) -> None:
    env = {"SMARTS3_SERVICE_HOST": "10.0.0.1", "SMARTS3_SERVICE_PORT_S3": "9000",
           "SMARTS3_PORT_9000_TCP_ADDR": "10.0.0.1", "SMARTS3_METRICS_SERVICE_HOST": "10.0.0.2",
           "SMARTS3_OPERATOR_NAMESPACES": "apps", "SMARTS3_CI": "1", "SMARTS3_SKIP_SYSTEM_CLIENTS": "1"}
    assert show(env=env)["server"]["port"] == 9000


def test_show_takes_the_serve_flags(tmp_path: Path) -> None:
    shown = show("--data-dir", str(tmp_path / "d"), "--port", "9555", "--workers", "2", "--auth", "none",
                 "--metrics-port", "off", env={"SMARTS3_PORT": "9444"})
    assert shown["server"]["port"] == 9555  # a flag beats the environment, as for serve
    assert (shown["server"]["workers"], shown["auth"]["mode"], shown["metrics"]["port"]) == (2, "none", None)
    assert shown["storage"]["dataDir"] == str(tmp_path / "d")


def test_show_says_where_the_root_key_comes_from(tmp_path: Path) -> None:
    from smarts3.rootcred import load_or_create

    data = tmp_path / "data"
    fresh = smarts3("config", "show", "--data-dir", str(data))
    assert fresh.stdout.startswith("# root key: will be generated at first start"), fresh.stdout
    assert yaml.safe_load(fresh.stdout)["auth"]["accessKey"] is None
    assert not data.exists(), "config show created the data directory"

    generated = load_or_create(data / ".smarts3")
    out = smarts3("config", "show", "--data-dir", str(data)).stdout
    assert out.startswith(f"# root key: generated file {data / '.smarts3' / 'root-credentials.json'}\n"), out
    assert yaml.safe_load(out)["auth"] == {"mode": "sigv4", "accessKey": generated.access_key,
                                           "secretKey": "********", "declared": None,
                                           "declaredOptional": False, "declaredTokenFile": None,
                                           "publicAccessBlock": "none"}
    assert generated.secret_key not in out

    env = {"SMARTS3_AUTH__ACCESS_KEY": "ENVROOTKEY1", "SMARTS3_AUTH__SECRET_KEY": "env-secret-value-1"}
    out = smarts3("config", "show", "--data-dir", str(data), env=env).stdout
    assert out.startswith("# root key: environment\n") and "ENVROOTKEY1" in out
    assert "env-secret-value-1" not in out

    config = tmp_path / "c.yaml"
    config.write_text("auth: {accessKey: FILEROOTKEY1, secretKey: file-secret-value-1}\n")
    out = smarts3("config", "show", "--config", str(config)).stdout
    assert out.startswith(f"# root key: config file {config}\n") and "FILEROOTKEY1" in out
    assert "file-secret-value-1" not in out
