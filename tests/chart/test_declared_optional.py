"""A fresh install is Ready: the server runs as the chart configures it before (or without) the operator.

The chart mounts the operator's config Secret as optional and points SMARTS3_DECLARED at it. Until the
operator writes it (never, with operator.enabled=false) the file is absent: that must mean "nothing
declared yet", not a server that fails its checks or stays unready. Once written it applies; if it
disappears again, the last good configuration stays (no key is revoked by a lost Secret).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml

from tests.chart.conftest import Render
from tests.conftest import start_subprocess_server

APP = ("APPKEY00000000000001", "app-secret-000000000000000000000000001")


def _server_env(render: Render, *args: str) -> dict[str, str]:
    (sts,) = [d for d in render(*args) if d["kind"] == "StatefulSet"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.mark.parametrize("args", [(), ("--set", "operator.enabled=false")], ids=["operator", "no-operator"])
def test_chart_says_the_declared_file_may_be_absent(render: Render, args: tuple[str, ...]) -> None:
    env = _server_env(render, *args)
    assert env["SMARTS3_DECLARED"] == "/etc/smarts3/declared/declared.yaml"
    assert env["SMARTS3_DECLARED_OPTIONAL"] == "true"


def _wait(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_server_as_the_chart_runs_it_is_ready_then_follows_the_operator(render: Render, tmp_path: Path) -> None:
    chart_env = _server_env(render, "--set", "operator.enabled=false")
    declared = tmp_path / "declared" / "declared.yaml"  # the Secret's mount point, not written yet
    declared.parent.mkdir()
    env = {"SMARTS3_DECLARED": str(declared), "SMARTS3_DECLARED_OPTIONAL": chart_env["SMARTS3_DECLARED_OPTIONAL"]}
    proc, url = start_subprocess_server(tmp_path / "data", env=env)  # returns once /_ready answers 200
    try:
        app = boto3.client("s3", endpoint_url=url, aws_access_key_id=APP[0], aws_secret_access_key=APP[1],
                           region_name="us-east-1")
        declared.write_text(yaml.safe_dump({
            "buckets": [{"name": "photos"}],
            "credentials": [{"name": "app", "accessKeyId": APP[0], "secretAccessKey": APP[1],
                             "grants": [{"bucket": "photos", "access": "readwrite"}]}],
        }))

        def works() -> bool:
            try:
                app.put_object(Bucket="photos", Key="k", Body=b"v")
            except Exception:
                return False
            return True

        _wait(works)
        declared.unlink()  # the config Secret deleted: nothing is revoked
        time.sleep(2.5)  # the file is polled every second: give the server two polls to notice
        assert app.get_object(Bucket="photos", Key="k")["Body"].read() == b"v"
        assert httpx.get(url + "/_ready").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_required_declared_file_that_is_missing_stops_start_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(tmp_path / "data"), "--port", "0",
         "--metrics-port", "off", "--declared", str(tmp_path / "absent.yaml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "absent.yaml" in result.stderr and "Traceback" not in result.stderr


def test_the_chart_never_prints_the_generated_root_secret(render: Render, tmp_path: Path) -> None:
    """Pod logs are shipped and kept: the banner of a server run as the chart runs it shows no secret."""
    env_value = _server_env(render)["SMARTS3_BANNER_SECRETS"]
    assert env_value == "false"
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data), "--port", "0", "--metrics-port", "off"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")},
             "SMARTS3_BANNER_SECRETS": env_value},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        banner = "".join(proc.stdout.readline() for _ in range(8))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    secret_key = json.loads((data / ".smarts3" / "root-credentials.json").read_text())["secretAccessKey"]
    assert secret_key not in banner
    assert "show-root --show-secret" in banner and "AWS_SECRET_ACCESS_KEY=<your secret>" in banner
