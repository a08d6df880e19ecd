"""Which missing client tools skip and which fail: developer runs may skip the system clients, CI may not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.support import missing, skipping_system_clients

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTS3_CI", raising=False)
    monkeypatch.delenv("SMARTS3_SKIP_SYSTEM_CLIENTS", raising=False)


def test_skip_variable_skips_only_system_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTS3_SKIP_SYSTEM_CLIENTS", "1")
    with pytest.raises(pytest.skip.Exception, match=r"rclone is not installed.*SMARTS3_SKIP_SYSTEM_CLIENTS=1"):
        missing("rclone is not installed", system=True)
    assert skipping_system_clients()


def test_ci_fails_on_a_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTS3_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="SMARTS3_CI=1 but rclone is not installed"):
        missing("rclone is not installed", system=True)
    with pytest.raises(pytest.fail.Exception, match="SMARTS3_CI=1 but minio"):
        missing("minio is not installed")


def test_ci_refuses_the_skip_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTS3_CI", "1")
    monkeypatch.setenv("SMARTS3_SKIP_SYSTEM_CLIENTS", "1")
    with pytest.raises(pytest.fail.Exception, match="refused under SMARTS3_CI=1"):
        skipping_system_clients()
    with pytest.raises(pytest.fail.Exception, match="refused under SMARTS3_CI=1"):
        missing("rclone is not installed", system=True)


def test_without_either_variable_a_missing_tool_skips() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"^rclone is not installed$"):
        missing("rclone is not installed", system=True)


def test_ci_run_refuses_the_skip_variable_before_installing_anything(tmp_path: Path) -> None:
    # A copy of the script works on the copy's directory; PYTHON=false makes any phase that ran fail with 1.
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    env = {"PATH": "/usr/bin:/bin", "PYTHON": "false", "SMARTS3_CI": "1", "SMARTS3_SKIP_SYSTEM_CLIENTS": "1"}
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.strip() == (
        ".ci/run: SMARTS3_SKIP_SYSTEM_CLIENTS=1 is refused under SMARTS3_CI=1: CI runs every client")
    assert not (tmp_path / ".venv").exists()


def test_ci_run_prints_the_phase_and_names_it_when_it_fails(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env={"PATH": "/usr/bin:/bin", "PYTHON": "false"},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert result.stdout.startswith("[.ci/run ")
    assert "] 1/8 venv: false -m venv .venv\n" in result.stdout
    assert 'failed in phase "venv"' in result.stderr
