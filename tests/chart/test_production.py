"""The chart in production: disruption budget, network policies, a gated ServiceMonitor, a root
credential that no render rotates, an operator that fails fast, and RBAC cut to what the code calls."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest
import yaml

from tests.chart.conftest import CHART, NAMESPACE, ROOT, VALUE_FILES, Render, by_kind, helm_template, one
from tests.conftest import free_port, wait_ready

SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"


def _pod_labels(objects: list[dict[str, Any]], kind: str) -> dict[str, str]:
    labels: dict[str, str] = one(objects, kind)["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # the chart uses matchLabels only
    return bool(selector["matchLabels"].items() <= labels.items())


def _validate(rendered: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", "-"],
        input=rendered, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0 and "ERROR" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def _lint(helm: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), "lint", "--strict", str(CHART), *args], capture_output=True, text=True,
                          check=False)


# -- PodDisruptionBudget ------------------------------------------------------------------------


def test_pdb_covers_the_server_and_never_blocks_a_drain(render: Render) -> None:
    objects = render()
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert _selects(pdb["selector"], _pod_labels(objects, "StatefulSet"))
    assert not _selects(pdb["selector"], _pod_labels(objects, "Deployment"))
    # One replica: with one pod allowed down, an eviction is always permitted (minAvailable 1 never is).
    assert one(objects, "StatefulSet")["spec"]["replicas"] == 1
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert by_kind(render("--set", "server.podDisruptionBudget.enabled=false"), "PodDisruptionBudget") == []


@pytest.mark.parametrize("value", ["0", "0%"])
def test_pdb_that_would_block_drains_is_refused(helm: pathlib.Path, value: str) -> None:
    proc = _lint(helm, "--set-string" if value.endswith("%") else "--set",
                 f"server.podDisruptionBudget.maxUnavailable={value}")
    assert proc.returncode != 0
    assert "/server/podDisruptionBudget/maxUnavailable" in proc.stdout + proc.stderr


# -- NetworkPolicy ------------------------------------------------------------------------------


def _ingress_rule(policy: dict[str, Any], port: str) -> dict[str, Any]:
    (rule,) = [r for r in policy["spec"]["ingress"] if [p["port"] for p in r["ports"]] == [port]]
    found: dict[str, Any] = rule
    return found


def test_network_policies_are_off_by_default(render: Render) -> None:
    assert by_kind(render(), "NetworkPolicy") == []


def test_network_policy_for_the_server(render: Render) -> None:
    objects = render("-f", str(CHART / "ci" / "monitoring-tls-ingress-values.yaml"))
    server = one(objects, "NetworkPolicy", "s-smarts3")
    sts = one(objects, "StatefulSet")
    assert _selects(server["spec"]["podSelector"], _pod_labels(objects, "StatefulSet"))
    assert server["spec"]["policyTypes"] == ["Ingress"]
    # Named ports resolve against the server container's ports.
    container_ports = {p["name"] for p in sts["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert container_ports == {"s3", "metrics"}
    s3_from = _ingress_rule(server, "s3")["from"]
    assert s3_from[0] == {"namespaceSelector": {"matchLabels": {"smarts3.io/client": "true"}}, "podSelector": {}}
    assert {"ipBlock": {"cidr": "10.0.0.0/8"}} in s3_from
    operator_pod = _pod_labels(objects, "Deployment")
    test_pod = one(objects, "Pod")["metadata"]["labels"]
    same_namespace = [peer["podSelector"] for peer in s3_from if set(peer) == {"podSelector"}]
    assert any(_selects(sel, operator_pod) for sel in same_namespace)
    assert any(_selects(sel, test_pod) for sel in same_namespace)
    metrics_from = _ingress_rule(server, "metrics")["from"]
    assert metrics_from[0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    # The ops port is not open to the S3 clients' selector.
    assert s3_from[0] not in metrics_from


def test_network_policy_for_the_operator(render: Render) -> None:
    objects = render("-f", str(CHART / "ci" / "monitoring-tls-ingress-values.yaml"))
    policy = one(objects, "NetworkPolicy", "s-smarts3-operator")["spec"]
    assert _selects(policy["podSelector"], _pod_labels(objects, "Deployment"))
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == []
    api, dns, server = policy["egress"]
    assert [p["port"] for p in api["ports"]] == [443, 6443]
    assert api["to"] == [{"ipBlock": {"cidr": "172.18.0.2/32"}}]
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert _selects(server["to"][0]["podSelector"], _pod_labels(objects, "StatefulSet"))


def test_network_policies_pass_kubernetes_schemas_with_defaults(helm: pathlib.Path, render: Render) -> None:
    rendered = helm_template(helm, "--set", "networkPolicy.enabled=true")
    _validate(rendered)
    policy = one(render("--set", "networkPolicy.enabled=true"), "NetworkPolicy", "s-smarts3-operator")
    # No CIDRs given: the API server ports to any address.
    assert "to" not in policy["spec"]["egress"][0]
    assert by_kind(render("--set", "networkPolicy.enabled=true", "--set", "operator.enabled=false"),
                   "NetworkPolicy")[0]["metadata"]["name"] == "s-smarts3"


# -- ServiceMonitor -----------------------------------------------------------------------------


def test_service_monitor_only_where_its_crd_is_served(render: Render) -> None:
    values = ("-f", str(CHART / "ci" / "monitoring-tls-ingress-values.yaml"))
    assert by_kind(render(*values), "ServiceMonitor") == []
    assert one(render(*values, "--api-versions", SERVICE_MONITOR_API), "ServiceMonitor")
    # The API alone does not switch it on.
    assert by_kind(render("--api-versions", SERVICE_MONITOR_API), "ServiceMonitor") == []


# -- Root credential ----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), *[("-f", str(f)) for f in VALUE_FILES]],
                         ids=["default", *[f.stem for f in VALUE_FILES]])
def test_two_renders_are_identical(helm: pathlib.Path, args: tuple[str, ...]) -> None:
    first = helm_template(helm, *args)
    assert helm_template(helm, *args) == first
    assert "checksum/" not in first


def test_no_root_secret_is_rendered(render: Render) -> None:
    objects = render()
    assert by_kind(objects, "Secret") == []
    container = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    names = {e["name"] for e in container["env"]}
    assert not names & {"SMARTS3_ACCESS_KEY", "SMARTS3_SECRET_KEY"}
    test_env = {e["name"] for e in one(objects, "Pod")["spec"]["containers"][0].get("env", [])}
    assert "AWS_ACCESS_KEY_ID" not in test_env


def test_notes_tell_how_to_read_the_generated_key(helm: pathlib.Path) -> None:
    proc = subprocess.run(
        [str(helm), "install", "--dry-run=client", "s", str(CHART), "--namespace", NAMESPACE],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n s3 exec s-smarts3-0 -- smarts3 admin credentials show-root --show-secret" in notes
    assert "get secret" not in notes


def _chart_server_env(render: Render) -> dict[str, str]:
    container = one(render(), "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _show_root(env: dict[str, str], data_dir: pathlib.Path) -> tuple[str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "smarts3", "admin", "credentials", "show-root", "--show-secret"],
        env={**env, "SMARTS3_DATA_DIR": str(data_dir)}, capture_output=True, text=True, check=False, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(":", 1) for line in proc.stdout.splitlines())
    return fields["access key id"].strip(), fields["secret key"].strip()


def test_server_as_the_chart_runs_it_keeps_one_generated_root_key(render: Render, tmp_path: pathlib.Path) -> None:
    """No root key in the pod's environment: the server generates one into /data, keeps it across
    restarts, and `smarts3 admin credentials show-root` (what NOTES.txt runs) reads the same pair."""
    chart_env = _chart_server_env(render)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    env |= {"SMARTS3_DECLARED_OPTIONAL": chart_env["SMARTS3_DECLARED_OPTIONAL"],
            "SMARTS3_DECLARED": str(tmp_path / "declared" / "declared.yaml")}
    data = tmp_path / "data"
    keys: list[tuple[str, str]] = []
    for _ in range(2):  # a pod restart on the same volume
        port = ops = free_port()
        while ops == port:
            ops = free_port()
        url = f"http://127.0.0.1:{port}"
        with (tmp_path / f"server-{len(keys)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(data), "--port", str(port),
                 "--metrics-port", str(ops)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            wait_ready(url, proc=proc)
            access, secret = _show_root(env, data)
            s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=access, aws_secret_access_key=secret,
                              region_name="us-east-1")
            s3.create_bucket(Bucket=f"root-{len(keys)}")
            keys.append((access, secret))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert keys[0] == keys[1]


# -- Operator pod -------------------------------------------------------------------------------


def test_operator_has_liveness_and_no_readiness(render: Render) -> None:
    (container,) = one(render(), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert "readinessProbe" not in container
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}


@pytest.mark.parametrize("kubeconfig", ["missing", "not yaml: [", "apiVersion: v1\n"])
def test_operator_exits_with_one_line_without_a_usable_kubeconfig(tmp_path: pathlib.Path, kubeconfig: str) -> None:
    path = tmp_path / "kubeconfig"
    if kubeconfig != "missing":
        path.write_text(kubeconfig)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "SMARTS3_"))}
    env["KUBECONFIG"] = str(path)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "smarts3_operator"], env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 2
    assert time.monotonic() - started < 15
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("smarts3-operator: cannot reach Kubernetes: not in a cluster")
    assert str(path) in line


# -- Operator RBAC ------------------------------------------------------------------------------

_SECRET_CALL = re.compile(r"\b(read|create|patch|replace|delete|list|watch)_namespaced_secret\b")
_VERB = {"read": "get", "create": "create", "patch": "patch", "replace": "update", "delete": "delete",
         "list": "list", "watch": "watch"}


def _secret_verbs_in_code() -> set[str]:
    """The Secret verbs the operator's code calls (kopf itself never touches Secrets)."""
    code = "\n".join(p.read_text() for p in (ROOT / "operator" / "smarts3_operator").rglob("*.py"))
    return {_VERB[m] for m in _SECRET_CALL.findall(code)}


def _rules(objects: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], set[str]]:
    """(namespace or "", resource) -> verbs, over every object of `kind`."""
    out: dict[tuple[str, str], set[str]] = {}
    for obj in by_kind(objects, kind):
        if obj["metadata"]["labels"]["app.kubernetes.io/component"] in ("crds", "test"):
            continue  # the CRD upgrade hook's and helm test's roles (test_crd_upgrade.py, test_helm_test.py)
        for rule in obj["rules"]:
            for resource in rule["resources"]:
                key = (obj["metadata"].get("namespace", ""), resource)
                out.setdefault(key, set()).update(rule["verbs"])
    return out


def test_secret_verbs_are_what_the_code_calls(render: Render) -> None:
    used = _secret_verbs_in_code()
    assert used == {"get", "create", "patch", "delete"}
    cluster = _rules(render(), "ClusterRole")
    assert cluster[("", "secrets")] == used
    # Never list or watch: the operator cannot enumerate Secrets it did not name.
    assert not {"list", "watch"} & cluster[("", "secrets")]
    assert cluster[("", "events")] == {"create"}
    # Cluster-wide, kopf watches all namespaces at once and never reads Namespace objects.
    assert ("", "namespaces") not in cluster
    assert cluster[("", "customresourcedefinitions")] == {"list", "watch"}


def test_namespaced_watch_gets_namespaced_roles_only(render: Render) -> None:
    objects = render("-f", str(CHART / "ci" / "namespaced-operator-values.yaml"))
    cluster = _rules(objects, "ClusterRole")
    assert {resource for _, resource in cluster} == {"customresourcedefinitions", "namespaces"}
    assert cluster[("", "namespaces")] == {"list", "watch"}
    roles = _rules(objects, "Role")
    for namespace in ("team-a", "team-b"):
        assert roles[(namespace, "secrets")] == _secret_verbs_in_code()
        assert roles[(namespace, "s3buckets")] == {"get", "list", "watch", "patch"}
    # In the release namespace: only the declared-configuration Secret (create cannot name one).
    assert roles[(NAMESPACE, "secrets")] == {"create", "get", "patch"}
    assert not [b for b in by_kind(objects, "ClusterRoleBinding") if b["roleRef"]["name"] == "s-smarts3-operator"]


def _server_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    return container


def test_encryption_keys_come_from_a_secret_apart_from_the_volume(render: Render) -> None:
    default = _server_container(render())
    assert not {"SMARTS3_SSE_MASTER_KEYS_FILE", "SMARTS3_SSE_FORCE"} & {e["name"] for e in default["env"]}
    objects = render("--set", "encryption.keysSecret=s3-keys", "--set", "encryption.force=true")
    container = _server_container(objects)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SMARTS3_SSE_MASTER_KEYS_FILE"] == "/etc/smarts3/sse/keys.json"
    assert env["SMARTS3_SSE_FORCE"] == "true"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "sse-keys")
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/smarts3/sse", True)
    volumes = one(objects, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    secret = next(v for v in volumes if v["name"] == "sse-keys")["secret"]
    assert secret["secretName"] == "s3-keys"
    assert secret["items"] == [{"key": "keys.json", "path": "keys.json"}]
    _validate("---\n".join(yaml.safe_dump(o) for o in objects))
