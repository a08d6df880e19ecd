"""The configuration surface: file sections, nested and flat variables, flags, and their errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

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


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(example: Path) -> None:
    result = smarts3("config", "check", str(example))
    assert result.returncode == 0, result.stderr
