"""End to end on a real cluster: kind, the image, the chart, the custom resources.

Needs docker (with a reachable daemon) and kind on PATH; helm and kubectl come from
``.tools/bin`` (``bash .ci/get-helm.sh``) or PATH. Everything else skips with the reason.
Run: ``pytest tests/e2e -v`` (about 5-10 minutes; SMARTS3_E2E_KEEP=1 keeps the cluster).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLUSTER = "smarts3-e2e"
IMAGE = "smarts3:e2e"
RELEASE = NAMESPACE = "smarts3"
APPS = "e2e-apps"


def _tool(name: str) -> str | None:
    local = ROOT / ".tools" / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def _skip_reason() -> str | None:
    for name in ("docker", "kind"):
        if shutil.which(name) is None:
            return f"{name} not found on PATH (the kind end-to-end suite needs docker and kind)"
    for name in ("helm", "kubectl"):
        if _tool(name) is None:
            return f"{name} not found: run `bash .ci/get-helm.sh`"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"docker cannot reach a daemon: {probe.stderr.strip()[:200]}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


class Cluster:
    def __init__(self, kubeconfig: pathlib.Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def run(self, *args: str, timeout: float = 600, check: bool = True, stdin: str | None = None) -> str:
        proc = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, input=stdin, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def kubectl(self, *args: str, **kw: object) -> str:
        return self.run(str(_tool("kubectl")), *args, **kw)  # type: ignore[arg-type]

    def helm(self, *args: str, **kw: object) -> str:
        return self.run(str(_tool("helm")), *args, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    c = Cluster(kubeconfig)
    c.run("docker", "build", "-t", IMAGE, "-f", str(ROOT / "Containerfile"), str(ROOT), timeout=1200)
    existing = c.run("kind", "get", "clusters").split()
    if CLUSTER not in existing:
        c.run(
            "kind",
            "create",
            "cluster",
            "--name",
            CLUSTER,
            "--config",
            str(ROOT / "kind-config.yaml"),
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "180s",
        )
    else:
        kubeconfig.write_text(c.run("kind", "get", "kubeconfig", "--name", CLUSTER))
    c.run("kind", "load", "docker-image", IMAGE, "--name", CLUSTER)
    try:
        yield c
    finally:
        if os.environ.get("SMARTS3_E2E_KEEP") != "1":
            c.run("kind", "delete", "cluster", "--name", CLUSTER, check=False)


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[Cluster]:
    cluster.helm(
        "install",
        RELEASE,
        str(ROOT / "charts" / "smarts3"),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--set",
        "image.repository=smarts3",
        "--set",
        "image.tag=e2e",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "persistence.size=1Gi",
        "--set",
        "operator.resyncSeconds=10",
        "--wait",
        "--timeout",
        "5m",
    )
    yield cluster
    cluster.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "3m", check=False)


def test_helm_test_reaches_the_s3_endpoint(installed: Cluster) -> None:
    # No rootCredentials.existingSecret: the test pod checks an unsigned request is refused.
    out = installed.helm("test", RELEASE, "--namespace", NAMESPACE, "--logs", "--timeout", "5m")
    assert "Succeeded" in out or "refuses unsigned requests" in out


def test_generated_root_key_is_read_with_show_root(installed: Cluster) -> None:
    """The chart renders no root Secret: the server generated the pair into its volume."""
    assert installed.kubectl("get", "secret", f"{RELEASE}-root", "-n", NAMESPACE, check=False) == ""
    out = installed.kubectl("exec", "-n", NAMESPACE, f"{RELEASE}-0", "--",
                            "smarts3", "admin", "credentials", "show-root", "--show-secret")
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert fields["access key id"].strip() and fields["secret key"].strip()
    assert "root-credentials.json" in fields["source"]


def test_bucket_and_credential_used_through_envfrom(installed: Cluster) -> None:
    installed.kubectl("create", "namespace", APPS, check=False)
    manifests = f"""
apiVersion: smarts3.io/v1alpha1
kind: S3Bucket
metadata: {{name: e2e-bucket, namespace: {APPS}}}
spec: {{deletionPolicy: Delete}}
---
apiVersion: smarts3.io/v1alpha1
kind: S3Credential
metadata: {{name: e2e-app, namespace: {APPS}}}
spec:
  secretName: e2e-app-s3
  buckets: [{{name: e2e-bucket, access: readwrite}}]
"""
    installed.kubectl("apply", "-f", "-", stdin=manifests)
    ready = 'jsonpath={.status.conditions[?(@.type=="Ready")].status}=True'
    installed.kubectl("wait", f"--for={ready}", "s3bucket/e2e-bucket", "-n", APPS, "--timeout=180s")
    installed.kubectl("wait", f"--for={ready}", "s3credential/e2e-app", "-n", APPS, "--timeout=180s")
    installed.kubectl("wait", "--for=create", "secret/e2e-app-s3", "-n", APPS, "--timeout=60s")

    pod = f"aws-{uuid.uuid4().hex[:6]}"
    # The server picks the new credential up when kubelet refreshes the mounted Secret
    # (up to about a minute): retry until the key is accepted.
    script = (
        "echo hello-from-e2e > /tmp/in && "
        "for i in $(seq 1 40); do aws s3 cp /tmp/in s3://$BUCKET_NAME/e2e.txt && break; sleep 5; done && "
        "aws s3 cp s3://$BUCKET_NAME/e2e.txt - "
    )
    pod_yaml = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {pod}, namespace: {APPS}}}
spec:
  restartPolicy: Never
  containers:
    - name: aws
      image: amazon/aws-cli:2.22.35
      command: [/bin/sh, -ec, "{script}"]
      env: [{{name: HOME, value: /tmp}}]
      envFrom: [{{secretRef: {{name: e2e-app-s3}}}}]
"""
    installed.kubectl("apply", "-f", "-", stdin=pod_yaml)
    installed.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{pod}", "-n", APPS, "--timeout=420s")
    assert "hello-from-e2e" in installed.kubectl("logs", pod, "-n", APPS)


def test_metrics_are_served_in_prometheus_format(installed: Cluster) -> None:
    deadline = time.monotonic() + 60
    while True:
        path = f"/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}-metrics:metrics/proxy/_metrics"
        out = installed.kubectl("get", "--raw", path, check=False)
        if "# TYPE" in out or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert "# TYPE" in out and "# HELP" in out


def test_uninstall(installed: Cluster) -> None:
    installed.kubectl("delete", "s3credential/e2e-app", "s3bucket/e2e-bucket", "-n", APPS, "--wait", "--timeout=120s")
    installed.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "3m")
    assert RELEASE not in installed.helm("list", "--namespace", NAMESPACE, "-q")
