"""Start-up checks: a bad TLS pair, data directory or declared file stops `serve` before the banner.

Each failure is one line naming the setting, exit status 2, no traceback, nothing bound
and nothing written; `config check` and `declared check` report the same lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smarts3.tls import self_signed


def smarts3(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    return subprocess.run([sys.executable, "-m", "smarts3", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=60, check=False)


def one_line_exit_2(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def serve_fails(data_dir: Path, *args: str) -> str:
    done = smarts3("serve", "--data-dir", str(data_dir), "--port", "0", "--metrics-port", "off", *args)
    line = one_line_exit_2(done)
    assert done.stdout == "", f"printed a banner: {done.stdout!r}"
    assert not data_dir.exists(), "a failed start-up created the data directory"
    return line


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path / "tls-a")


def test_missing_tls_files(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    line = serve_fails(tmp_path / "data", "--tls-cert-file", str(tmp_path / "no.pem"), "--tls-key-file", str(key))
    assert "tls.certFile" in line and "no.pem" in line and "cannot read" in line
    line = serve_fails(tmp_path / "data", "--tls-cert-file", str(cert), "--tls-key-file", str(tmp_path / "k.pem"))
    assert "tls.keyFile" in line and "k.pem" in line


def test_key_that_does_not_match_the_certificate(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    _, other_key = self_signed(tmp_path / "tls-b")
    line = serve_fails(tmp_path / "data", "--tls-cert-file", str(pair[0]), "--tls-key-file", str(other_key))
    assert "tls.keyFile" in line and "does not match the certificate" in line


def test_files_that_are_not_pem(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    line = serve_fails(tmp_path / "data", "--tls-cert-file", str(junk), "--tls-key-file", str(pair[1]))
    assert "tls.certFile" in line and "not a PEM certificate" in line
    line = serve_fails(tmp_path / "data", "--tls-cert-file", str(pair[0]), "--tls-key-file", str(junk))
    assert "tls.keyFile" in line and "private key" in line


def test_data_dir_that_cannot_be_a_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = serve_fails(blocker / "data")
    assert "storage.dataDir" in line and "is not a directory" in line


def test_invalid_declared_file(tmp_path: Path) -> None:
    declared = tmp_path / "declared.yaml"
    declared.write_text("buckets:\n  - name: Bad_Name\n")
    line = serve_fails(tmp_path / "data", "--declared", str(declared))
    assert "buckets[0].name = 'Bad_Name'" in line
    assert "https://" not in line  # no pydantic URL


def test_declared_secret_file_missing(tmp_path: Path) -> None:
    declared = tmp_path / "declared.yaml"
    declared.write_text("credentials:\n  - name: app\n    accessKeyId: APPKEY0001\n"
                        "    secretAccessKeyFile: app.secret\n")
    line = serve_fails(tmp_path / "data", "--declared", str(declared))
    assert "credentials[0].secretAccessKeyFile = 'app.secret'" in line
    assert str(tmp_path / "app.secret") in line
    # the same check through a config file
    config = tmp_path / "c.yaml"
    config.write_text(f"auth: {{declared: {declared}}}\n")
    assert "secretAccessKeyFile" in one_line_exit_2(smarts3("config", "check", str(config)))
    (tmp_path / "app.secret").write_text("the-secret-of-app-0000000000\n")
    done = smarts3("config", "check", str(config))
    assert done.returncode == 0, done.stderr


def test_config_check_reads_the_tls_files(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"tls: {{certFile: {tmp_path / 'missing.pem'}, keyFile: {pair[1]}}}\n")
    line = one_line_exit_2(smarts3("config", "check", str(config)))
    assert "tls.certFile" in line and "missing.pem" in line
    config.write_text(f"tls: {{certFile: {pair[0]}, keyFile: {pair[1]}}}\n")
    done = smarts3("config", "check", str(config))
    assert done.returncode == 0, done.stderr


def test_declared_check(tmp_path: Path) -> None:
    declared = tmp_path / "declared.yaml"
    declared.write_text("buckets:\n  - name: ok-bucket\n    colour: red\n")
    line = one_line_exit_2(smarts3("declared", "check", str(declared)))
    assert line == (f"smarts3: {declared}: buckets[0].colour = 'red': unknown key; "
                    "allowed: name, publicRead, cors, deletionPolicy, policy, publicAccessBlock")
    declared.write_text("buckets:\n  - name: ok-bucket\n")
    done = smarts3("declared", "check", str(declared))
    assert (done.returncode, done.stdout) == (0, f"{declared}: OK\n"), done.stderr
    line = one_line_exit_2(smarts3("declared", "check", str(tmp_path / "none.yaml")))
    assert "none.yaml: cannot read" in line
