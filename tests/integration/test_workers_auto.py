"""`smarts3 serve --workers auto` end to end: the number of worker processes follows the CPU budget."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from smarts3.cpus import auto_workers
from tests.conftest import start_subprocess_server, stop_server


def _workers(proc: subprocess.Popen[bytes]) -> int:
    """Spawned worker processes (not multiprocessing's resource tracker); 1 when the server serves in-process."""
    children = psutil.Process(proc.pid).children()
    spawned = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
    return len(spawned) or 1


@pytest.mark.parametrize("millicores", [1000, 2000])
def test_auto_starts_one_worker_per_usable_cpu(tmp_path: Path, millicores: int) -> None:
    expected = auto_workers(millicores)  # this machine's cgroup and affinity, bounded by the budget
    assert expected == min(millicores // 1000, len(os.sched_getaffinity(0)))  # no quota on this host's cgroup
    proc, url = start_subprocess_server(
        tmp_path / "data", "--workers", "auto", env={"SMARTS3_CPU_LIMIT_MILLICORES": str(millicores)}
    )
    try:
        assert _workers(proc) == expected
        import httpx

        assert httpx.get(f"{url}/", timeout=10).status_code == 403  # serving: an unsigned request is refused
    finally:
        stop_server(proc)


def test_environment_auto_is_what_the_container_sets(tmp_path: Path) -> None:
    proc, _ = start_subprocess_server(
        tmp_path / "data", env={"SMARTS3_WORKERS": "auto", "SMARTS3_CPU_LIMIT_MILLICORES": "2000"}
    )
    try:
        assert _workers(proc) == auto_workers(2000)
    finally:
        stop_server(proc)


def test_a_word_other_than_auto_is_refused_by_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smarts3", "serve", "--workers", "lots"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "'lots' is not a number of workers or 'auto'" in result.stderr
