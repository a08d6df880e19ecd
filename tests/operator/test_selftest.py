"""`python -m smarts3.selftest` (the chart's helm test) against the API emulator, the real operator and a
real server configured from the operator's declared Secret (copied by a stand-in kubelet)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from smarts3.selftest import check
from smarts3.selftest.kubeapi import KubeApi
from smarts3_operator.specs import API_VERSION
from tests.operator.support import Api
from tests.operator.test_with_server import Kubelet

pytestmark = pytest.mark.usefixtures("operator")


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[str]:
    """A server reading the declared file that a stand-in kubelet keeps in sync with the operator's Secret."""
    from tests.conftest import start_subprocess_server

    declared = tmp_path / "declared.yaml"
    declared.write_text("buckets: []\ncredentials: []\n")
    kubelet = Kubelet(declared)
    kubelet.start()
    proc, url = start_subprocess_server(tmp_path / "data", "--declared", str(declared))
    try:
        yield url
    finally:
        kubelet.stop.set()
        proc.terminate()
        proc.wait(timeout=15)


def test_selftest_speaks_the_operators_api_version() -> None:
    assert check.API_VERSION == API_VERSION


def test_selftest_declares_uses_the_key_and_cleans_up(emulator: str, api: Api, namespace: str, served: str) -> None:
    lines: list[str] = []
    opts = check.Options(namespace=namespace, name="helm-selftest", endpoint=served, timeout=60, log=lines.append)
    check.run(KubeApi(emulator), opts)
    assert lines[0] == f"created S3Bucket and S3Credential {namespace}/helm-selftest"
    assert any(line.startswith("PUT s3://helm-selftest/selftest/object.bin") for line in lines)
    assert "GET returned the same bytes" in lines
    assert "DELETE removed it (GET: NoSuchKey)" in lines
    assert 0 < opts.timings["ready"] <= opts.timings["usable"] < 60
    # Cleaned up: both custom resources are gone (their finalizers ran).
    assert api.get("s3buckets", namespace, "helm-selftest") is None
    assert api.get("s3credentials", namespace, "helm-selftest") is None


def test_selftest_cli_fails_with_one_line_when_the_key_is_never_accepted(
    emulator: str, namespace: str, served: str, tmp_path: pathlib.Path
) -> None:
    """An S3 endpoint that does not know the operator's keys (here: a server without the declared file).

    The run lasts its whole --timeout (the key is tried until then), which also covers reaching
    Ready: a few seconds, now that the emulator no longer slows down as a session goes on
    (emulator.py, fix-up 5); it took over 20 s late in a full run before."""
    from tests.conftest import start_subprocess_server

    proc, other = start_subprocess_server(tmp_path / "other-data")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "smarts3.selftest", "--name", "helm-refused", "--namespace", namespace,
             "--kube-api", emulator, "--endpoint", other, "--timeout", "20"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "selftest FAILED" in result.stderr and "never accepted" in result.stderr
    assert "deleted the S3Credential and the S3Bucket" in result.stdout
