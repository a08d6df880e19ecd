"""`server.workers: auto` (the chart's default): one worker per CPU the pod may use."""

from __future__ import annotations

import pathlib
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from smarts3.cpus import auto_workers
from tests.chart.conftest import CHART, Render, one
from tests.conftest import start_subprocess_server, stop_server


def _env(render: Render, *args: str) -> dict[str, dict[str, Any]]:
    (container,) = one(render(*args), "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_default_is_auto_bounded_by_the_cpu_limit(render: Render) -> None:
    env = _env(render)
    assert env["SMARTS3_WORKERS"]["value"] == "auto"
    assert env["SMARTS3_CPU_LIMIT_MILLICORES"]["valueFrom"]["resourceFieldRef"] == {
        "containerName": "smarts3", "resource": "limits.cpu", "divisor": "1m"
    }


def test_without_a_limit_the_request_is_the_budget(render: Render) -> None:
    env = _env(render, "--set", "server.resources.limits=null")
    assert env["SMARTS3_CPU_LIMIT_MILLICORES"]["valueFrom"]["resourceFieldRef"]["resource"] == "requests.cpu"
    env = _env(render, "--set", "server.resources=null")
    assert env["SMARTS3_WORKERS"]["value"] == "auto" and "SMARTS3_CPU_LIMIT_MILLICORES" not in env


def test_a_fixed_number_is_passed_as_it_is(render: Render) -> None:
    env = _env(render, "--set", "server.workers=3")
    assert env["SMARTS3_WORKERS"]["value"] == "3" and "SMARTS3_CPU_LIMIT_MILLICORES" not in env


@pytest.mark.parametrize("value", ["many", "0", "65"])
def test_schema_refuses_other_values(helm: pathlib.Path, value: str) -> None:
    proc = subprocess.run([str(helm), "lint", "--strict", str(CHART), "--set", f"server.workers={value}"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "/server/workers" in proc.stdout + proc.stderr


def test_server_as_the_chart_runs_it_starts_the_workers_the_limit_allows(render: Render, tmp_path: Path) -> None:
    env = _env(render)
    # What the kubelet resolves the downward API to for the default limits.cpu "2" (divisor 1m).
    ref = env["SMARTS3_CPU_LIMIT_MILLICORES"]["valueFrom"]["resourceFieldRef"]
    assert ref["resource"] == "limits.cpu"
    millicores = 2000
    proc, _ = start_subprocess_server(tmp_path / "data", env={
        "SMARTS3_WORKERS": env["SMARTS3_WORKERS"]["value"], "SMARTS3_CPU_LIMIT_MILLICORES": str(millicores),
    })
    try:
        spawned = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        assert (len(spawned) or 1) == auto_workers(millicores)
    finally:
        stop_server(proc)
