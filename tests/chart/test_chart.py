"""The Helm chart: lint, schema, rendered objects, Kubernetes schemas, policy, CRDs, examples."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    NAMESPACE,
    ROOT,
    VALUE_FILES,
    Render,
    by_kind,
    helm_template,
    one,
)

CRDS = ROOT / "manifests" / "crds"
EXAMPLES = ROOT / "manifests" / "examples"
VARIANTS = [pytest.param((), id="default")] + [pytest.param(("-f", str(f)), id=f.stem) for f in VALUE_FILES]


def helm_lint(helm: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *args], capture_output=True, text=True, check=False
    )


def test_lint_strict(helm: pathlib.Path) -> None:
    proc = helm_lint(helm)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("values_file", VALUE_FILES, ids=[f.stem for f in VALUE_FILES])
def test_lint_strict_ci_values(helm: pathlib.Path, values_file: pathlib.Path) -> None:
    proc = helm_lint(helm, "-f", str(values_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("persistence.size=notasize", "/persistence/size"),
        ("bogus=1", "bogus"),
        ("server.bogus=1", "bogus"),
        ("service.type=Headless", "/service/type"),
        ("service.port=70000", "/service/port"),
        ("tls.enabled=true", "secretName"),
        ("operator.watchNamespaces={Team_A}", "/operator/watchNamespaces"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("metrics.serviceMonitor.interval=often", "/metrics/serviceMonitor/interval"),
        ("metrics.port=9000", "/metrics/port"),
        ("metrics.port=0", "/metrics/port"),
    ],
)
def test_schema_rejects_wrong_values(helm: pathlib.Path, setting: str, complaint: str) -> None:
    proc = helm_lint(helm, "--set", setting)
    assert proc.returncode != 0
    assert complaint in proc.stdout + proc.stderr


def test_every_value_is_in_the_schema() -> None:
    """values.yaml and values.schema.json describe the same keys (additionalProperties: false)."""
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, dict) and node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path or '/'} allows unknown keys"
            for key, sub in value.items():
                walk(sub, node["properties"][key], f"{path}/{key}")

    walk(values, schema, "")


# Kinds kubernetes-validate has no schema for (it only warns on them), left out on purpose.
NO_BUILTIN_SCHEMA = {
    # CloudNativePG's CRD is not built in and not vendored here (400 kB); tests/chart/test_replicas.py
    # checks the rendered Cluster's fields instead.
    ("postgresql.cnpg.io/v1", "Cluster"),
}


@pytest.mark.parametrize("args", VARIANTS)
def test_rendered_objects_pass_kubernetes_schemas(helm: pathlib.Path, args: tuple[str, ...]) -> None:
    documents = [d for d in yaml.safe_load_all(helm_template(helm, "--include-crds", *args)) if d]
    rendered = yaml.safe_dump_all([d for d in documents if (d["apiVersion"], d["kind"]) not in NO_BUILTIN_SCHEMA])
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", "-"],
        input=rendered,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stdout + proc.stderr
    assert "WARN" not in proc.stdout + proc.stderr  # e.g. a kind without a schema, unless listed above


@pytest.mark.parametrize("args", VARIANTS)
def test_every_object_has_recommended_labels(render: Render, args: tuple[str, ...]) -> None:
    for obj in render(*args):
        labels = obj["metadata"].get("labels") or {}
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "app.kubernetes.io/component",
        ):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"].get("namespace"), f"{obj['kind']}/{obj['metadata']['name']}"


def test_server_statefulset(render: Render) -> None:
    objects = render()
    sts = one(objects, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert sts["spec"]["replicas"] == 1
    # Probes go to the ops port: outside the S3 connection cap, so slow S3 clients cannot fail them.
    probes = {name: container[f"{name}Probe"]["httpGet"] for name in ("readiness", "liveness", "startup")}
    assert {name: (p["path"], p["port"], p["scheme"]) for name, p in probes.items()} == {
        "readiness": ("/_ready", "metrics", "HTTP"),
        "liveness": ("/_health", "metrics", "HTTP"),
        "startup": ("/_health", "metrics", "HTTP"),
    }
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"s3": 9000, "metrics": 9090}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e for e in container["env"]}
    assert env["SMARTS3_METRICS_PORT"]["value"] == "9090"
    assert env["SMARTS3_DECLARED"]["value"] == "/etc/smarts3/declared/declared.yaml"
    # No root key in the environment: the server generates its own (tests/chart/test_production.py).
    assert "SMARTS3_ACCESS_KEY" not in env
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["declared"]["secret"] == {"secretName": "s-smarts3-declared", "optional": True, "defaultMode": 0o440}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["declared"] == "/etc/smarts3/declared"
    assert mounts["data"] == "/data"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert [p["name"] for p in one(objects, "Service", "s-smarts3")["spec"]["ports"]] == ["s3"]
    metrics = one(objects, "Service", "s-smarts3-metrics")["spec"]
    assert metrics["type"] == "ClusterIP"
    assert metrics["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert metrics["selector"] == one(objects, "Service", "s-smarts3")["spec"]["selector"]


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
def test_metrics_are_never_published_with_the_s3_service(render: Render, service_type: str) -> None:
    objects = render("--set", f"service.type={service_type}")
    assert [p["name"] for p in one(objects, "Service", "s-smarts3")["spec"]["ports"]] == ["s3"]
    assert one(objects, "Service", "s-smarts3-metrics")["spec"]["type"] == "ClusterIP"


def test_existing_secret_and_claim(render: Render) -> None:
    objects = render("-f", str(CHART / "ci" / "existing-secret-values.yaml"))
    assert by_kind(objects, "Secret") == []
    sts = one(objects, "StatefulSet")
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "smarts3-data"
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SMARTS3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "smarts3-root",
        "key": "AWS_SECRET_ACCESS_KEY",
    }
    assert "@sha256:" in sts["spec"]["template"]["spec"]["containers"][0]["image"]


def test_no_persistence_uses_empty_dir(render: Render) -> None:
    objects = render("-f", str(CHART / "ci" / "no-persistence-values.yaml"))
    sts = one(objects, "StatefulSet")
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert by_kind(objects, "Pod") == []


def test_service_monitor_tls_and_ingress(render: Render) -> None:
    assert by_kind(render(), "ServiceMonitor") == []
    assert by_kind(render(), "Ingress") == []
    objects = render("-f", str(CHART / "ci" / "monitoring-tls-ingress-values.yaml"),
                     "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    monitor = one(objects, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    # The ops port is plain HTTP even when S3 is served over TLS.
    assert (endpoint["path"], endpoint["port"], endpoint["scheme"]) == ("/_metrics", "metrics", "http")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selected = [
        svc["metadata"]["name"]
        for svc in by_kind(objects, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    ]
    assert selected == ["s-smarts3-metrics"]
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "s3.example.com"
    # The Ingress routes the S3 port and nothing else.
    backends = [p["backend"]["service"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert backends and all(b == {"name": "s-smarts3", "port": {"name": "s3"}} for b in backends)
    sts = one(objects, "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]} >= {"tls"}
    operator_env = {
        e["name"]: e.get("value")
        for e in one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert operator_env["SMARTS3_OPERATOR_SERVER_SCHEME"] == "https"


def test_operator_deployment_matches_its_settings(render: Render) -> None:
    sys.path.insert(0, str(ROOT / "operator"))
    from smarts3_operator.settings import OperatorSettings

    deployment = one(render(), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["smarts3-operator"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    env = {e["name"]: e["value"] for e in container["env"]}
    fields = {f"SMARTS3_OPERATOR_{name.upper()}" for name in OperatorSettings.model_fields}
    assert set(env) <= fields, set(env) - fields
    settings = OperatorSettings(
        **{k.removeprefix("SMARTS3_OPERATOR_").lower(): v for k, v in env.items()}  # type: ignore[arg-type]
    )
    assert settings.namespaces == []
    assert settings.config_secret_name == "s-smarts3-declared"
    assert settings.config_secret_namespace == NAMESPACE
    assert settings.endpoint == "http://s-smarts3.s3.svc:9000"
    assert settings.liveness_endpoint == "http://0.0.0.0:8080/healthz"


def _rules(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (group, resource, verb)
        for rule in obj["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


def test_rbac_cluster_wide(render: Render) -> None:
    objects = render()
    roles = {o["metadata"]["name"]: o for o in by_kind(objects, "ClusterRole")}
    del roles["s-smarts3-crds-s3"]  # the CRD upgrade hook's (tests/chart/test_crd_upgrade.py)
    assert set(roles) == {"s-smarts3-operator", "s-smarts3-operator-discovery"}
    for role in roles.values():
        for group, resource, verb in _rules(role):
            assert "*" not in (group, resource, verb)
            assert verb not in ("update", "deletecollection", "escalate", "bind", "impersonate")
    assert ("", "secrets", "list") not in _rules(roles["s-smarts3-operator"])
    declared_role = one(objects, "Role", "s-smarts3-operator-declared-config")
    assert declared_role["rules"][1]["resourceNames"] == ["s-smarts3-declared"]


def test_rbac_namespaced(render: Render) -> None:
    objects = render("-f", str(CHART / "ci" / "namespaced-operator-values.yaml"))
    assert sorted(o["metadata"]["name"] for o in by_kind(objects, "ClusterRole")) == [
        "s-smarts3-crds-s3", "s-smarts3-operator-discovery"  # the CRD upgrade hook's, and the operator's
    ]
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in by_kind(objects, "Role")}
    roles.discard(("team-a", "s-smarts3-test"))  # helm test's (tests/chart/test_helm_test.py)
    assert roles == {
        ("team-a", "s-smarts3-operator"),
        ("team-b", "s-smarts3-operator"),
        (NAMESPACE, "s-smarts3-operator-declared-config"),
    }
    env = {
        e["name"]: e.get("value")
        for e in one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SMARTS3_OPERATOR_NAMESPACES"] == "team-a,team-b"
    assert env["SMARTS3_OPERATOR_ENDPOINT_URL"] == "https://s3.example.com"


def test_notes_explain_credentials_and_first_bucket(helm: pathlib.Path) -> None:
    proc = subprocess.run(
        [str(helm), "install", "--dry-run=client", "s", str(CHART), "--namespace", NAMESPACE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "smarts3 admin credentials show-root --show-secret" in notes
    assert "kind: S3Bucket" in notes and "kind: S3Credential" in notes
    assert "http://s-smarts3-metrics.s3.svc:9090/_metrics" in notes


def test_checkov_has_no_unexplained_failures(checkov_failures: dict[str, set[str]]) -> None:
    skips = yaml.safe_load((pathlib.Path(__file__).with_name("checkov-skips.yaml")).read_text())
    assert all(isinstance(reason, str) and len(reason) > 40 for reason in skips.values())
    unexplained = {check: sorted(res) for check, res in checkov_failures.items() if check not in skips}
    assert not unexplained, f"checkov failures without a reason in checkov-skips.yaml: {unexplained}"
    stale = set(skips) - set(checkov_failures)
    assert not stale, f"checkov-skips.yaml lists checks that pass now; remove them: {sorted(stale)}"


def test_crd_copies_are_identical() -> None:
    source = sorted(p.name for p in CRDS.glob("*.yaml"))
    copies = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert source == copies == [
        "s3bucketgrants.smarts3.io.yaml", "s3buckets.smarts3.io.yaml", "s3credentials.smarts3.io.yaml"
    ]
    for name in source:
        assert (CRDS / name).read_bytes() == (CHART / "crds" / name).read_bytes(), name


def test_install_manifests_are_current(helm: pathlib.Path, tmp_path: pathlib.Path) -> None:
    committed = (ROOT / "manifests" / "install" / "smarts3.yaml").read_text()
    fresh = tmp_path / "smarts3.yaml"
    proc = subprocess.run(
        ["bash", str(ROOT / "manifests" / "generate-install.sh"), str(helm), str(fresh)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert fresh.read_text() == committed, "manifests/install is stale: run manifests/generate-install.sh"
    kinds = [d["kind"] for d in yaml.safe_load_all(committed) if d]
    assert "Secret" not in kinds and "Pod" not in kinds
    assert {"StatefulSet", "Deployment", "Service"} <= set(kinds)


def _crd_schema(kind: str) -> dict[str, Any]:
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
            schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(kind)


# app-deployment.yaml is an application using the credential (tests/chart/test_quickstart.py checks it).
@pytest.mark.parametrize("path", sorted(set(EXAMPLES.glob("*.yaml")) - {EXAMPLES / "app-deployment.yaml"}),
                         ids=lambda p: p.stem)
def test_examples_match_crd_schema(path: pathlib.Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc["apiVersion"] == "smarts3.io/v1beta1"
        jsonschema.validate(doc, _crd_schema(doc["kind"]))


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("S3Bucket", {"bucketName": "Upper_Case"}),
        ("S3Bucket", {"bucketName": "ab"}),
        ("S3Bucket", {"deletionPolicy": "Purge"}),
        ("S3Bucket", {"cors": [{"allowedOrigins": ["*"], "allowedMethods": ["PATCH"]}]}),
        ("S3Credential", {"secretName": "s", "buckets": [{"name": "b", "access": "admin"}]}),
        ("S3Credential", {"secretName": "s", "buckets": []}),
        ("S3Credential", {"buckets": [{"name": "b", "access": "read"}]}),
        ("S3Credential", {"secretName": "Not_A_Name", "buckets": [{"name": "b", "access": "read"}]}),
    ],
)
def test_crd_schema_rejects_bad_specs(kind: str, spec: dict[str, Any]) -> None:
    doc = {"apiVersion": "smarts3.io/v1beta1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _crd_schema(kind))
