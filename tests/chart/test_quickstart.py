"""The chart's quick start: README (shown by `helm show readme`, values table current) and the app example."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import yaml

from tests.chart import values_table
from tests.chart.conftest import CHART, ROOT

EXAMPLES = ROOT / "manifests" / "examples"
APP = EXAMPLES / "app-deployment.yaml"


def _leaf_keys(value: object, path: str = "") -> set[str]:
    if isinstance(value, dict) and value:
        return set().union(*(_leaf_keys(v, f"{path}{k}.") for k, v in value.items()))
    return {path.removesuffix(".")}


def test_values_table_is_current() -> None:
    readme = (CHART / "README.md").read_text()
    assert values_table.readme_table(readme) == values_table.table(), (
        "charts/smarts3/README.md is stale: run .venv/bin/python -m tests.chart.values_table --write"
    )


def test_values_table_covers_every_key_with_its_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    rows = values_table.rows()
    # Every leaf of values.yaml is a row or sits under one, and every row is a key of values.yaml.
    covered = {leaf for leaf in _leaf_keys(values) if any(leaf == k or leaf.startswith(f"{k}.") for k, _, _ in rows)}
    assert covered == _leaf_keys(values)
    for key, default, _ in rows:
        node = values
        for part in key.split("."):
            node = node[part]
        assert node == default, key
    assert ("image.server.repository", "smarts3/server") in [(key, default) for key, default, _ in rows]
    assert ("image.operator.repository", "smarts3/operator") in [(key, default) for key, default, _ in rows]


def test_helm_show_readme_prints_the_quick_start(helm: pathlib.Path) -> None:
    shown = subprocess.run([str(helm), "show", "readme", str(CHART)], capture_output=True, text=True, check=True).stdout
    assert shown.rstrip("\n") == (CHART / "README.md").read_text().rstrip("\n")
    # The default images are not published: the quick start builds both targets and loads them into kind.
    assert "docker build --target server -t smarts3/server:0.1.0 -f Containerfile ." in shown
    assert "docker build --target operator -t smarts3/operator:0.1.0 -f Containerfile ." in shown
    assert "kind load docker-image smarts3/server:0.1.0 smarts3/operator:0.1.0" in shown
    assert "helm install smarts3 charts/smarts3" in shown


def test_app_example_uses_the_credential_secret_with_env_from() -> None:
    (app,) = yaml.safe_load_all(APP.read_text())
    credentials = [d for p in EXAMPLES.glob("*.yaml") for d in yaml.safe_load_all(p.read_text())
                   if d["kind"] == "S3Credential"]
    written = {(c["metadata"]["namespace"], c["spec"]["secretName"]) for c in credentials}
    (container,) = app["spec"]["template"]["spec"]["containers"]
    refs = {(app["metadata"]["namespace"], e["secretRef"]["name"]) for e in container["envFrom"]}
    assert refs and refs <= written, f"envFrom {refs} names no Secret an example S3Credential writes ({written})"
    assert "$BUCKET_NAME" in container["args"][0]  # BUCKET_NAME: the credential names exactly one bucket
    assert all(len(c["spec"]["buckets"]) == 1 for c in credentials)


def test_app_example_passes_kubernetes_schemas() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", str(APP)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed for resource deployment/photos-app" in proc.stdout
