"""Fixtures for the chart tests: the helm binary, rendering, and one checkov run.

helm and checkov are installed from the project's own scripts (``.ci/get-helm.sh``,
``.ci/get-checkov.sh``) into ``.tools/``; tests that need them skip with that hint when
they are absent.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "smarts3"
HELM = ROOT / ".tools" / "bin" / "helm"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
VALUE_FILES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE, NAMESPACE = "s", "s3"

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm() -> pathlib.Path:
    if not HELM.exists():
        pytest.skip("helm not installed: run `bash .ci/get-helm.sh` (installs into .tools/bin)")
    return HELM


def helm_template(helm: pathlib.Path, *args: str) -> str:
    proc = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"helm template {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session")
def render(helm: pathlib.Path) -> Render:
    """Render the chart with ``--set``/``-f`` arguments into a list of objects."""
    cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _render(*args: str) -> list[dict[str, Any]]:
        if args not in cache:
            cache[args] = [d for d in yaml.safe_load_all(helm_template(helm, *args)) if d]
        return cache[args]

    return _render


@pytest.fixture(scope="session")
def checkov_failures(helm: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """check id -> failing resources, for the default values and every ci/ file (one run)."""
    if not CHECKOV.exists():
        pytest.skip("checkov not installed: run `bash .ci/get-checkov.sh` (installs into .tools/checkov)")
    out = tmp_path_factory.mktemp("checkov")
    (out / "default.yaml").write_text(helm_template(helm))
    for values in VALUE_FILES:
        (out / values.name).write_text(helm_template(helm, "-f", str(values)))
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(out), "--framework", "kubernetes", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{CHECKOV.parent}:/usr/bin:/bin", "HOME": str(out)},
    )
    if not proc.stdout.strip():
        raise AssertionError(f"checkov produced no report:\n{proc.stderr[-2000:]}")
    reports = json.loads(proc.stdout)
    failures: dict[str, set[str]] = {}
    for report in reports if isinstance(reports, list) else [reports]:
        for check in report.get("results", {}).get("failed_checks", []):
            failures.setdefault(check["check_id"], set()).add(check["resource"])
    return failures


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def tool(name: str) -> str | None:
    return shutil.which(name)
