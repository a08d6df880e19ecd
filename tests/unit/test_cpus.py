"""`--workers auto`: the CPUs the cgroup, the affinity mask and the chart's budget allow (fake cgroup trees)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarts3.config.settings import Settings
from smarts3.cpus import auto_workers, cgroup_cpus


def tree(tmp_path: Path, proc_cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_cgroup)
    return root, proc


@pytest.mark.parametrize(
    ("proc_cgroup", "files", "cpus"),
    [
        # v2 in a container's cgroup namespace: our cgroup is the root of the view.
        ("0::/\n", {"cpu.max": "200000 100000"}, 2.0),
        ("0::/\n", {"cpu.max": "150000 100000"}, 1.5),
        ("0::/\n", {"cpu.max": "max 100000"}, None),
        ("0::/\n", {}, None),  # no cpu controller delegated: no quota known
        # v2 on a host view: the pod's limit sits on a parent of the container's cgroup.
        ("0::/kubepods/pod1/ctr\n", {"kubepods/pod1/cpu.max": "300000 100000",
                                     "kubepods/pod1/ctr/cpu.max": "max 100000"}, 3.0),
        ("0::/a/b\n", {"a/cpu.max": "100000 100000", "a/b/cpu.max": "400000 100000"}, 1.0),  # tightest wins
        # v1: cpu,cpuacct hierarchy, CFS quota and period; -1 is unlimited.
        ("4:cpu,cpuacct:/docker/abc\n0::/\n", {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000",
                                               "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}, 0.5),
        ("4:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
         None),
        # Hybrid: v2 at unified/, v1 cpu without a quota.
        ("1:cpu:/\n0::/\n", {"unified/cpu.max": "100000 50000", "cpu/cpu.cfs_quota_us": "-1"}, 2.0),
        ("0::/\n", {"cpu.max": "garbage"}, None),
    ],
)
def test_cgroup_quota(tmp_path: Path, proc_cgroup: str, files: dict[str, str], cpus: float | None) -> None:
    root, proc = tree(tmp_path, proc_cgroup, files)
    assert cgroup_cpus(root, proc) == cpus


@pytest.mark.parametrize(
    ("quota", "affinity", "budget", "workers"),
    [
        ("200000 100000", 8, None, 2),  # the cgroup quota bounds the node's 8 CPUs
        ("150000 100000", 8, None, 1),  # 1.5 CPUs: rounded down, a second worker would only be throttled
        ("50000 100000", 8, None, 1),  # never fewer than one
        ("max 100000", 4, None, 4),  # no quota: the affinity mask
        ("max 100000", 4, 2500, 2),  # the chart's budget (pod CPU limit) in millicores
        ("300000 100000", 2, None, 2),  # a cpuset narrower than the quota
        ("max 100000", 128, None, 64),  # Settings' ceiling
    ],
)
def test_auto_workers(tmp_path: Path, quota: str, affinity: int, budget: int | None, workers: int) -> None:
    root, proc = tree(tmp_path, "0::/\n", {"cpu.max": quota})
    assert auto_workers(budget, root=root, proc_cgroup=proc, affinity=affinity) == workers


def test_settings_resolve_auto_from_every_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMARTS3_CPU_LIMIT_MILLICORES", "1000")
    assert Settings.load(workers="auto").workers == 1
    monkeypatch.setenv("SMARTS3_WORKERS", "auto")
    assert Settings.load().workers == 1
    monkeypatch.delenv("SMARTS3_WORKERS")
    config = tmp_path / "smarts3.yaml"
    config.write_text("server:\n  workers: auto\n  cpuLimitMillicores: 1000\n")
    monkeypatch.delenv("SMARTS3_CPU_LIMIT_MILLICORES")
    assert Settings.load(config).workers == 1
    assert Settings.load().workers == 1  # the default for local use stays one worker


def test_settings_refuse_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("SMARTS3_WORKERS", "many")
    with pytest.raises(ValidationError):
        Settings.load()
