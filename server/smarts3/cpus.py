"""How many CPUs this process may really use: what `--workers auto` starts.

``os.cpu_count()`` is the node's count; a container limited to 2 CPUs on a 64-core node would start 64
workers, each throttled by the CFS quota. The bound is the smallest of: the CPUs the scheduler lets us run
on (affinity, cpusets), the CPU quota of our cgroup and of every cgroup above it (v2 ``cpu.max``, v1
``cpu.cfs_quota_us``), and an explicit budget in millicores (the chart passes the pod's CPU limit, or its
request, through the downward API). Fractions round down, as Go's automaxprocs does: a worker more than the
quota only adds throttling; at least one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
MAX_WORKERS = 64  # Settings.workers' bound


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_quota(directory: Path) -> float | None:
    """CPUs ``cpu.max`` ("<quota> <period>" or "max <period>") allows in one cgroup, None if unlimited."""
    text = _read(directory / "cpu.max")
    if not text:
        return None
    fields = text.split()
    if fields[0] == "max" or len(fields) != 2:
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(directory: Path) -> float | None:
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    try:
        q, p = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _own_cgroups(root: Path, proc_cgroup: Path) -> list[tuple[Path, bool]]:
    """(directory, is v2) of this process's CPU cgroup and each parent up to the root."""
    text = _read(proc_cgroup) or ""
    found: list[tuple[Path, bool]] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            # Hybrid hosts mount the v2 hierarchy at unified/ beside the v1 controllers.
            base, v2 = (root / "unified" if (root / "unified").is_dir() else root), True
        elif "cpu" in controllers.split(","):
            base = next((root / n for n in ("cpu,cpuacct", "cpu", "cpuacct,cpu") if (root / n).is_dir()), root / "cpu")
            v2 = False
        else:
            continue
        directory = base / path.lstrip("/")
        # Inside a container's cgroup namespace the path is "/" and the root is our own cgroup.
        while True:
            found.append((directory, v2))
            if directory == base or base not in directory.parents:
                break
            directory = directory.parent
    return found


def cgroup_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The tightest CPU quota over our cgroup and its parents, in CPUs; None if there is none."""
    quotas = [(_v2_quota(d) if v2 else _v1_quota(d)) for d, v2 in _own_cgroups(root, proc_cgroup)]
    limits = [q for q in quotas if q is not None]
    return min(limits) if limits else None


def affinity_cpus() -> int:
    """CPUs the scheduler lets this process run on (cpusets, taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def auto_workers(
    budget_millicores: int | None = None,
    *,
    root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_SELF_CGROUP,
    affinity: int | None = None,
) -> int:
    """Worker processes for ``--workers auto``: the usable CPUs, rounded down, between 1 and 64."""
    bounds: list[float] = [affinity if affinity is not None else affinity_cpus()]
    quota = cgroup_cpus(root, proc_cgroup)
    if quota is not None:
        bounds.append(quota)
    if budget_millicores:
        bounds.append(budget_millicores / 1000)
    return max(1, min(MAX_WORKERS, math.floor(min(bounds))))
