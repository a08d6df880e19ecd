"""Many server replicas on PostgreSQL: one shared ReadWriteMany claim, the metadata URL from a Secret.

The two ci/replicas-*.yaml files also go through helm lint, kubernetes-validate and checkov with the
other ci/ files (tests/chart/test_chart.py). The CloudNativePG Cluster has no schema there; its fields
are checked here against the names of the CRD's spec (postgresql.cnpg.io/v1, clusters.postgresql.cnpg.io).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.chart.conftest import CHART, Render, by_kind, one

SECRET_VALUES = str(CHART / "ci" / "replicas-postgres-secret-values.yaml")
CNPG_VALUES = str(CHART / "ci" / "replicas-cloudnativepg-values.yaml")
RWX = ("--set", "persistence.accessMode=ReadWriteMany", "--set", "persistence.storageClass=nfs")
# The Cluster spec fields the chart may render (CloudNativePG's CRD, spec.properties).
CNPG_SPEC_FIELDS = {"instances", "imageName", "bootstrap", "storage", "postgresql", "resources"}


def _pod(sts: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = sts["spec"]["template"]["spec"]
    return pod


def _env(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = _pod(sts)["containers"]
    return {e["name"]: e for e in container["env"]}


def _volumes(sts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _pod(sts)["volumes"]}


def test_one_replica_keeps_its_own_claim_and_sqlite(render: Render) -> None:
    sts = one(render(), "StatefulSet")
    assert sts["spec"]["replicas"] == 1
    assert "SMARTS3_METADATA" not in _env(sts)
    assert "topologySpreadConstraints" not in _pod(sts)
    assert [c["spec"]["accessModes"] for c in sts["spec"]["volumeClaimTemplates"]] == [["ReadWriteOnce"]]
    assert by_kind(render(), "PersistentVolumeClaim") == [] and by_kind(render(), "Cluster") == []


def test_one_replica_may_use_postgres(render: Render) -> None:
    sts = one(render("--set", "metadata.postgres.existingSecret=pg"), "StatefulSet")
    assert sts["spec"]["replicas"] == 1
    assert _env(sts)["SMARTS3_METADATA"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "uri"}
    assert len(sts["spec"]["volumeClaimTemplates"]) == 1


def test_pool_size_reaches_the_server_only_when_set(render: Render) -> None:
    """metadata.postgres.poolSize → SMARTS3_METADATA_POOL_SIZE; empty leaves the server's default (16)."""
    assert "SMARTS3_METADATA_POOL_SIZE" not in _env(one(render("-f", SECRET_VALUES), "StatefulSet"))
    for values in (SECRET_VALUES, CNPG_VALUES):
        env = _env(one(render("-f", values, "--set", "metadata.postgres.poolSize=40"), "StatefulSet"))
        assert env["SMARTS3_METADATA_POOL_SIZE"] == {"name": "SMARTS3_METADATA_POOL_SIZE", "value": "40"}


def test_many_replicas_share_one_rwx_claim_and_read_the_url_from_the_secret(render: Render) -> None:
    objects = render("-f", SECRET_VALUES)
    sts = one(objects, "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    # Pods start one at a time, so the first creates what the shared data directory lacks.
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert "volumeClaimTemplates" not in sts["spec"]
    assert _volumes(sts)["data"]["persistentVolumeClaim"] == {"claimName": "s-smarts3-data"}
    claim = one(objects, "PersistentVolumeClaim", "s-smarts3-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "nfs-csi"
    assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"
    # Bodies outlive the release, like the single pod's volumeClaimTemplate claim.
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    env = _env(sts)
    assert env["SMARTS3_METADATA"]["valueFrom"]["secretKeyRef"] == {"name": "smarts3-metadata", "key": "dsn"}
    assert env["SMARTS3_DATA_DIR"]["value"] == "/data"
    assert by_kind(objects, "Cluster") == []


def test_many_replicas_spread_over_nodes_under_a_budget(render: Render) -> None:
    objects = render("-f", SECRET_VALUES)
    sts = one(objects, "StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    (spread,) = _pod(sts)["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["maxSkew"], spread["whenUnsatisfiable"]) == (
        "kubernetes.io/hostname", 1, "ScheduleAnyway"
    )
    assert spread["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_topology_spread_from_values_replaces_the_default(render: Render) -> None:
    zone = "server.topologySpreadConstraints[0]"
    sts = one(render("-f", SECRET_VALUES, "--set", f"{zone}.topologyKey=topology.kubernetes.io/zone",
                     "--set", f"{zone}.maxSkew=1", "--set", f"{zone}.whenUnsatisfiable=DoNotSchedule"),
              "StatefulSet")
    assert [c["topologyKey"] for c in _pod(sts)["topologySpreadConstraints"]] == ["topology.kubernetes.io/zone"]


def test_many_replicas_on_an_existing_claim(render: Render) -> None:
    objects = render("--set", "replicas=2", "--set", "metadata.postgres.existingSecret=pg",
                     "--set", "persistence.existingClaim=shared-rwx")
    sts = one(objects, "StatefulSet")
    assert _volumes(sts)["data"]["persistentVolumeClaim"] == {"claimName": "shared-rwx"}
    assert "volumeClaimTemplates" not in sts["spec"]
    assert by_kind(objects, "PersistentVolumeClaim") == []


def test_cloudnativepg_cluster_and_its_app_secret(render: Render) -> None:
    objects = render("-f", CNPG_VALUES)
    cluster = one(objects, "Cluster", "s-smarts3-pg")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert set(spec) <= CNPG_SPEC_FIELDS
    assert spec["instances"] == 3
    assert spec["storage"] == {"size": "50Gi", "storageClass": "fast-ssd"}
    assert spec["bootstrap"] == {"initdb": {"database": "app", "owner": "app"}}
    assert spec["postgresql"]["parameters"] == {"max_connections": "300", "shared_buffers": "1GB"}
    assert spec["resources"]["limits"]["memory"] == "4Gi"
    # Deleting the Cluster deletes its volumes: the metadata of every object.
    assert cluster["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    sts = one(objects, "StatefulSet")
    # CloudNativePG writes <cluster>-app with key uri (postgresql://app:...@<cluster>-rw.<namespace>:5432/app).
    assert _env(sts)["SMARTS3_METADATA"]["valueFrom"]["secretKeyRef"] == {"name": "s-smarts3-pg-app", "key": "uri"}
    assert one(objects, "PersistentVolumeClaim")["spec"]["storageClassName"] == "efs-sc"


def test_cloudnativepg_defaults_render_a_minimal_cluster(render: Render) -> None:
    spec = one(render("--set", "metadata.postgres.cloudnativepg.enabled=true"), "Cluster")["spec"]
    assert spec == {"instances": 3, "bootstrap": {"initdb": {"database": "app", "owner": "app"}},
                    "storage": {"size": "20Gi"}}


def test_every_replica_gets_the_declared_configuration(render: Render) -> None:
    """The operator pushes to each ready endpoint of the server Service; each pod also mounts the Secret."""
    objects = render("-f", CNPG_VALUES)
    sts = one(objects, "StatefulSet")
    service = one(objects, "Service", "s-smarts3")
    assert service["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    operator_env = {e["name"]: e.get("value") for e in one(objects, "Deployment")["spec"]["template"]["spec"]
                    ["containers"][0]["env"]}
    assert operator_env["SMARTS3_OPERATOR_SERVER_SERVICE"] == "s-smarts3"
    assert _volumes(sts)["declared"]["secret"]["secretName"] == operator_env["SMARTS3_OPERATOR_CONFIG_SECRET_NAME"]
    assert "SMARTS3_DECLARED_TOKEN_FILE" in _env(sts)


def _lint(helm: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), "lint", "--strict", str(CHART), *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("values", [SECRET_VALUES, CNPG_VALUES], ids=["secret", "cloudnativepg"])
def test_schema_accepts_many_replicas_on_postgres(helm: pathlib.Path, values: str) -> None:
    proc = _lint(helm, "-f", values)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        pytest.param(("replicas=3", *RWX[1::2]), "/metadata/postgres", id="no-postgres"),
        pytest.param(("replicas=3", "metadata.postgres.existingSecret=pg"), "/persistence", id="rwo"),
        pytest.param(("replicas=3", "metadata.postgres.existingSecret=pg", "persistence.accessMode=ReadWriteMany"),
                     "/persistence/storageClass", id="no-storage-class"),
        pytest.param(("replicas=3", "metadata.postgres.existingSecret=pg", *RWX[1::2], "persistence.enabled=false"),
                     "/persistence/enabled", id="no-persistence"),
        pytest.param(("replicas=3", "metadata.postgres.cloudnativepg.enabled=false", *RWX[1::2]),
                     "/metadata/postgres", id="cloudnativepg-off"),
        pytest.param(("metadata.postgres.existingSecret=pg", "metadata.postgres.cloudnativepg.enabled=true"),
                     "/metadata/postgres", id="secret-and-cloudnativepg"),
        pytest.param(("replicas=0",), "/replicas", id="zero"),
        pytest.param(("metadata.postgres.existingSecret=pg", "metadata.postgres.poolSize=0"),
                     "/metadata/postgres/poolSize", id="pool-size-zero"),
        pytest.param(("metadata.postgres.existingSecret=pg", "metadata.postgres.poolSize=many"),
                     "/metadata/postgres/poolSize", id="pool-size-text"),
        pytest.param(("metadata.postgres.existingSecret=Not_A_Name",), "/metadata/postgres/existingSecret",
                     id="secret-name"),
    ],
)
def test_schema_refuses(helm: pathlib.Path, settings: tuple[str, ...], complaint: str) -> None:
    proc = _lint(helm, *(arg for s in settings for arg in ("--set", s)))
    assert proc.returncode != 0
    assert complaint in proc.stdout + proc.stderr, proc.stdout


def test_e2e_postgres_manifest_is_valid_and_matches_its_secret() -> None:
    """tests/e2e/postgres.yaml (the kind suite's PostgreSQL) passes the Kubernetes schemas offline."""
    path = CHART.parents[1] / "tests" / "e2e" / "postgres.yaml"
    proc = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "WARN" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(path.read_text())}
    url = urlsplit(docs["Secret"]["stringData"]["uri"])
    assert url.scheme == "postgresql" and url.password == docs["Secret"]["stringData"]["password"]
    service = docs["Service"]
    assert (url.hostname, url.port) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])
    env = {e["name"]: e.get("value") for e in docs["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (url.username, url.path) == (env["POSTGRES_USER"], f"/{env['POSTGRES_DB']}")
